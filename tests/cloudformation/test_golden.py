"""The end-to-end goldens: what `chalice package` emits for fixture_app/ (golden/chalice.yaml), and what
the whole pipeline builds from it for each API flavour (golden/template.yaml for REST, golden/template-http.yaml
for HTTP; the stack tools also check both). How to rewrite them: support/expected.py."""

from __future__ import annotations

import pytest

from cloudformation.build import build
from cloudformation.template import functions
from cloudformation.template import resources
from tests.cloudformation.support.expected import GOLDEN_HTTP_OUTPUT
from tests.cloudformation.support.expected import GOLDEN_INPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import expect
from tests.cloudformation.support.expected import read


def test_the_golden_input_is_what_chalice_emits_for_the_fixture_app(chalice_fixture_template):
    expect(GOLDEN_INPUT, chalice_fixture_template)


def test_the_pipeline_builds_the_golden_template_from_the_golden_input():
    expect(GOLDEN_OUTPUT, build(read(GOLDEN_INPUT)))


def test_the_http_flavour_builds_its_golden_template_from_the_same_input():
    expect(GOLDEN_HTTP_OUTPUT, build(read(GOLDEN_INPUT), "http"))


@pytest.mark.parametrize("golden", [GOLDEN_OUTPUT, GOLDEN_HTTP_OUTPUT], ids=["rest", "http"])
def test_every_function_keeps_its_own_role_log_group_alarm_and_filter(golden):
    # add_resource refuses duplicates; this pins that the final template kept every function's set.
    out = read(golden)
    for name, _ in functions(out):
        for suffix in ("Role", "LogGroup", "ErrorsAlarm", "AppErrorsFilter"):
            assert f"{name}{suffix}" in resources(out)
