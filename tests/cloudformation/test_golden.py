"""Golden files, as in the SAM translator's tests: the fixture app's `chalice package` output goes
through the pipeline one transform at a time, and each step's output must equal its checked-in file.

golden/00_chalice.yaml is the input; golden/NN_<transform>.yaml is the output of step NN, and the
input of step NN+1. After an intended change: UPDATE_GOLDEN=1 pytest tests/cloudformation/test_golden.py
and review the diff.
"""

from __future__ import annotations

import copy
import os

import pytest

from cloudformation.build import PIPELINE
from cloudformation.template import dump, load
from tests.cloudformation.support.stack import GOLDEN

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
STEPS = [(n + 1, step.__module__.rsplit(".", 1)[-1], step) for n, step in enumerate(PIPELINE)]


def golden_path(number: int, name: str):
    return GOLDEN / f"{number:02d}_{name}.yaml"


def golden(number: int) -> dict:
    if number == 0:
        return load(golden_path(0, "chalice").read_text(encoding="utf-8"))
    _, name, _ = STEPS[number - 1]
    return load(golden_path(number, name).read_text(encoding="utf-8"))


def test_the_golden_input_is_what_chalice_emits_for_the_fixture_app(chalice_fixture_template):
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden_path(0, "chalice").write_text(dump(chalice_fixture_template), encoding="utf-8")
        template = chalice_fixture_template
        for number, name, step in STEPS:
            template = step(template)
            golden_path(number, name).write_text(dump(template), encoding="utf-8")
    assert golden(0) == chalice_fixture_template


@pytest.mark.parametrize("number,name,step", STEPS, ids=[name for _, name, _ in STEPS])
def test_each_transform_turns_its_golden_input_into_its_golden_output(number, name, step):
    assert step(golden(number - 1)) == golden(number)


@pytest.mark.parametrize("number,name,step", STEPS, ids=[name for _, name, _ in STEPS])
def test_each_transform_leaves_its_input_untouched(number, name, step):
    template = golden(number - 1)
    before = copy.deepcopy(template)
    step(template)
    assert template == before


def test_the_golden_chain_ends_in_what_the_whole_pipeline_builds():
    from cloudformation.build import build

    assert build(golden(0)) == golden(len(STEPS))
