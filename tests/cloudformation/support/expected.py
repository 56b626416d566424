"""The checked-in expected templates: one input/expected pair per transform (pairs/<transform>/) and the
end-to-end goldens (golden/, one per API flavour), and the one way to rewrite them.

After an intended change, ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/cloudformation -p no:cacheprovider``
rewrites every expected file from what the code now builds (those tests then report skipped, never
passed); review ``git diff tests/cloudformation`` and commit. Inputs are written by hand and never rewritten,
except golden/chalice.yaml, which is what ``chalice package`` emits for fixture_app/. CI never sets it: a
run with both UPDATE_GOLDEN and CI set refuses to start (see conftest.py)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudformation.build import PIPELINE
from cloudformation.template import Template
from cloudformation.template import dump
from cloudformation.template import load

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
HERE = Path(__file__).resolve().parents[1]
PAIRS = HERE / "pairs"
GOLDEN = HERE / "golden"
GOLDEN_INPUT = GOLDEN / "chalice.yaml"  # chalice package of fixture_app/
GOLDEN_OUTPUT = GOLDEN / "template.yaml"  # the whole pipeline's output for it (REST, the default flavour)
GOLDEN_HTTP_OUTPUT = GOLDEN / "template-http.yaml"  # the same, built with --api http


def step_name(step: Callable[[Template], Template]) -> str:
    return step.__module__.rsplit(".", 1)[-1]  # cloudformation.transforms.queues -> queues


STEPS = {step_name(step): step for step, _ in PIPELINE}  # every flavour's


def read(path: Path) -> Template:
    return load(path.read_text(encoding="utf-8"))


def input_of(step: Callable[[Template], Template]) -> Template:
    """A fresh copy of the transform's hand-written input."""
    return read(PAIRS / step_name(step) / "input.yaml")


def expected_path(name: str) -> Path:
    return PAIRS / name / "expected.yaml"


def expect(path: Path, actual: Template) -> None:
    """``actual`` equals the checked-in file (or, with UPDATE_GOLDEN=1, becomes it)."""
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(dump(actual), encoding="utf-8")
        pytest.skip(f"rewrote {path.relative_to(HERE)}: review the diff")
    if not path.exists():
        pytest.fail(f"{path.relative_to(HERE)} is missing: run with UPDATE_GOLDEN=1 once and review it")
    expected = read(path)
    if expected != actual:
        diff = difflib.unified_diff(
            dump(expected).splitlines(),
            dump(actual).splitlines(),
            f"{path.name} (checked in)",
            "built now",
            lineterm="",
            n=2,
        )
        pytest.fail(
            "\n".join(diff) + "\n\nAn intended change? Rerun with UPDATE_GOLDEN=1 and review the diff.", pytrace=False
        )
