"""docs/OPERATIONS.md has a runbook entry ("When an alarm fires") for every alarm the stack can create, in
either API flavour: an alarm nobody knows what to do about is noise."""

from __future__ import annotations

import re

import pytest

from tests.cloudformation.support.expected import GOLDEN_HTTP_OUTPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import read
from tests.docs.markdown import ROOT

OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
# An alarm of each function is named <logical id of the function><what>Alarm; the runbook names it once.
PER_FUNCTION = ("Errors", "Throttles", "Duration")


def runbook_entries() -> set[str]:
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("### When an alarm fires", 1)[1].split("\n## ", 1)[0]
    # One entry may serve alarms read together: "**UnhandledExceptions / AppErrorRate.**".
    heads = re.findall(r"^- \*\*([^*]+)\.\*\*", section, flags=re.MULTILINE)
    return {name.strip() for head in heads for name in head.split(" / ")}


def runbook_name(alarm: str, functions: set[str]) -> str:
    name = alarm.removesuffix("Alarm")
    for function in functions:
        for what in PER_FUNCTION:
            if name == function + what:
                return f"<Function>{what}"
    return name


@pytest.mark.parametrize("golden", [GOLDEN_OUTPUT, GOLDEN_HTTP_OUTPUT], ids=["rest", "http"])
def test_every_alarm_of_the_stack_has_a_runbook_entry(golden):
    resources = read(golden)["Resources"]
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms, "the golden has no alarm: the test would prove nothing"
    entries = runbook_entries()
    missing = sorted({runbook_name(alarm, functions) for alarm in alarms} - entries)
    assert not missing, f"docs/OPERATIONS.md 'When an alarm fires' has no entry for {missing}"
