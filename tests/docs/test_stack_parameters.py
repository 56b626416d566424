"""docs/DEPLOY.md's "Stack parameters" table names every parameter of the built stack, in either API flavour,
and nothing the stack does not take."""

from __future__ import annotations

import re

from tests.cloudformation.support.expected import GOLDEN_HTTP_OUTPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import read
from tests.docs.markdown import ROOT


def documented() -> set[str]:
    text = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    table = text.split("## Stack parameters", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    # A row may name several read together: "| `UserPoolClientIds` / `ApiScope` | ...".
    return {name for row in rows for name in re.findall(r"`([A-Za-z0-9]+)`", row.split("|")[1])}


def test_every_parameter_of_either_flavour_has_a_row_and_every_row_a_parameter():
    taken = set()
    for golden in (GOLDEN_OUTPUT, GOLDEN_HTTP_OUTPUT):
        parameters = set(read(golden)["Parameters"])
        assert parameters, "the golden has no parameter: the test would prove nothing"
        missing = sorted(parameters - documented())
        assert not missing, f"docs/DEPLOY.md 'Stack parameters' has no row for {missing}"
        taken |= parameters
    assert not sorted(documented() - taken), "rows for parameters the stack does not take"
