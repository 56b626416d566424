"""Fixtures for the activity tests: a recording queue in place of the activity queue, read through what the
forwarder sent it (tests/support/activity.py)."""

from __future__ import annotations

import pytest

from tests.support.activity import Announced


@pytest.fixture
def sink(recording_queue) -> Announced:
    return Announced(recording_queue)
