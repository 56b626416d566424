"""docs/CONFIGURATION.md is the one configuration table, and it names exactly what Settings reads."""

from __future__ import annotations

import re

from tests.docs.markdown import DOCUMENTS
from tests.docs.markdown import ROOT
from tests.docs.markdown import table_rows
from tests.support.settings_variables import settings_variables
from tests.support.settings_variables import variables_read

CONFIGURATION = ROOT / "docs" / "CONFIGURATION.md"
_VARIABLE_CELL = re.compile(r"`([A-Z_][A-Z0-9_]*)`")


def _tabulated(path) -> list[str]:
    """Variables named by the first cell of a table row (one backticked NAME, and nothing else)."""
    return [match.group(1) for _, cells in table_rows(path) if (match := _VARIABLE_CELL.fullmatch(cells[0]))]


def test_the_configuration_table_names_exactly_the_variables_settings_reads():
    documented = _tabulated(CONFIGURATION)
    read = settings_variables()
    assert len(documented) == len(set(documented)), f"a variable has two rows: {sorted(documented)}"
    assert set(documented) - set(read) == set(), "documented in docs/CONFIGURATION.md but not read by Settings"
    assert set(read) - set(documented) == set(), "read by Settings but missing from docs/CONFIGURATION.md"


def test_no_other_document_tabulates_the_variables_again():
    read = set(settings_variables())
    repeated = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in DOCUMENTS
        if path != CONFIGURATION
        for name in _tabulated(path)
        if name in read
    }
    assert repeated == set(), "link to docs/CONFIGURATION.md instead of repeating its rows"


def test_the_reader_finds_every_way_from_env_reads_a_variable():
    source = """
def _choice(env, name, default):
    return env.get(name) or default

def _region(mapping):
    return mapping.get("AWS_REGION") or mapping["AWS_DEFAULT_REGION"]

class Settings:
    @classmethod
    def from_env(cls, env=None):
        other = {}
        stage = env.get("APP_STAGE") or other.get("NOT_FROM_ENV")
        table = env["TABLE_NAME"]
        store = _choice(env, "STORE", "sqlite")
        region = _region(env)
        return cls(stage, table, store, region, env.get(stage))
"""
    assert variables_read(source) == ("APP_STAGE", "TABLE_NAME", "STORE", "AWS_REGION", "AWS_DEFAULT_REGION")
