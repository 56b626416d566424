"""Fixtures for the activity queue tests: local queues on a temporary SQLite file (closed after the
test); the recording consumer is tests/support/queues.py's, the fake AWS credentials (for moto) the
root conftest's ``fake_aws``."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.events.local import LocalQueue
from tests.support.queues import FAST


@pytest.fixture
def queue_path(tmp_path) -> str:
    return str(tmp_path / "queue" / "events.db")


@pytest.fixture
def make_queue(queue_path) -> Iterator[Callable[..., LocalQueue]]:
    """Build a LocalQueue on the test's file (fast retry and polling unless told otherwise); every
    queue built is closed at the end of the test."""
    made: list[LocalQueue] = []

    def make(handlers: dict[str, Any] | None = None, *, path: str | None = None, **options: Any) -> LocalQueue:
        queue = LocalQueue(path or queue_path, handlers or {}, **{**FAST, **options})
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()
