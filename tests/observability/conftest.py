"""Fixtures for the observability tests: captured stdout split into log lines and EMF documents, and
JSON logs with EMF metrics as deployed (the helpers live in tests/support/output.py and invoke.py)."""

from __future__ import annotations

import pytest

from tests.support.output import Output


@pytest.fixture
def captured(capsys):
    """Call it to get (and clear) what the app wrote so far."""
    capsys.readouterr()

    def take() -> Output:
        got = capsys.readouterr()
        return Output.parse(got.out, got.err)

    return take


@pytest.fixture
def observed(env):
    """JSON logs and EMF metrics, as deployed; no activity pipeline (its worker threads would write their own
    lines and documents between a request's), unless a test turns it on with ``observed(QUEUE="local")``."""
    env(LOG_FORMAT="json", METRICS="emf", QUEUE="off")
    return env
