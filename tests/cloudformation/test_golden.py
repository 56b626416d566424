"""The one end-to-end golden: what `chalice package` emits for fixture_app/ (golden/chalice.yaml), and
what the whole pipeline builds from it (golden/template.yaml, which the stack tools also check). How
to rewrite them: support/expected.py."""

from __future__ import annotations

from cloudformation.build import build
from cloudformation.template import functions
from cloudformation.template import resources
from tests.cloudformation.support.expected import GOLDEN_INPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import expect
from tests.cloudformation.support.expected import read


def test_the_golden_input_is_what_chalice_emits_for_the_fixture_app(chalice_fixture_template):
    expect(GOLDEN_INPUT, chalice_fixture_template)


def test_the_pipeline_builds_the_golden_template_from_the_golden_input():
    expect(GOLDEN_OUTPUT, build(read(GOLDEN_INPUT)))


def test_every_function_keeps_its_own_role_log_group_alarm_and_filter():
    # add_resource refuses duplicates; this pins that the final template kept every function's set.
    out = read(GOLDEN_OUTPUT)
    for name, _ in functions(out):
        for suffix in ("Role", "LogGroup", "ErrorsAlarm", "AppErrorsFilter"):
            assert f"{name}{suffix}" in resources(out)
