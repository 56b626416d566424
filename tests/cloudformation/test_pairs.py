"""Each template transform on a small input/expected pair of its own, as in the SAM translator's
tests/translator/input and output: pairs/<transform>/input.yaml (hand-written: only what the transform
reads) and pairs/<transform>/expected.yaml (what it must build). How to rewrite them: support/expected.py."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cloudformation.support.expected import PAIRS
from tests.cloudformation.support.expected import STEPS
from tests.cloudformation.support.expected import expect
from tests.cloudformation.support.expected import expected_path
from tests.cloudformation.support.expected import input_of


def test_every_transform_of_the_pipeline_has_a_pair_and_every_pair_a_transform():
    assert {p.name for p in PAIRS.iterdir() if p.is_dir()} == set(STEPS)


@pytest.mark.parametrize("name", STEPS)
def test_each_transform_turns_its_input_into_its_expected_output(name):
    expect(expected_path(name), STEPS[name](input_of(STEPS[name])))


@pytest.mark.parametrize("name", STEPS)
def test_each_transform_leaves_its_input_untouched(name):
    template = input_of(STEPS[name])
    before = copy.deepcopy(template)
    STEPS[name](template)
    assert template == before


def test_a_run_in_ci_refuses_to_rewrite_the_expected_files():
    env = {**os.environ, "CI": "true", "UPDATE_GOLDEN": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(Path(__file__))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "never set in CI" in result.stdout + result.stderr
