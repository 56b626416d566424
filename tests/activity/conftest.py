"""Fixtures for the activity tests: a recording sink in place of the queue (tests/support/activity.py)."""

from __future__ import annotations

import pytest

from tests.support.activity import RecordingSink


@pytest.fixture
def sink(env) -> RecordingSink:
    recording = RecordingSink()
    env.install(activity=recording)
    return recording
