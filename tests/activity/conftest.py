"""Fixtures for the activity tests: a recording queue in place of the activity queue, read through what the
forwarder sent it (tests/support/activity.py), the consumers invoked as Lambda invokes them, and what they
printed."""

from __future__ import annotations

import pytest

from tests.support.activity import Announced
from tests.support.output import Output


@pytest.fixture
def sink(recording_queue) -> Announced:
    return Announced(recording_queue)


@pytest.fixture
def lambda_client(env):
    """Chalice's test client's Lambda invoker on app.py, JSON logs and EMF metrics on stdout."""
    env(LOG_FORMAT="json", METRICS="emf")
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield client.lambda_


@pytest.fixture
def stdout(capsys):
    """Call it for what was printed since the last call, parsed."""
    capsys.readouterr()

    def take() -> Output:
        return Output.parse(capsys.readouterr().out)

    return take
