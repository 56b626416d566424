"""Fixtures for the activity queue tests: local queues on a temporary SQLite file (closed after the
test), a recording handler, and dummy AWS credentials for moto."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest

from chalicelib.events.local import LocalQueue

# Small enough that retries and polling cost milliseconds, not seconds.
FAST = {"retry_delay": 0.01, "poll_interval": 0.02}


class Recorder:
    """A handler that records every event it receives (thread-safe); ``fail(record, call)`` says whether
    a record fails (reported in batchItemFailures), ``raises(event, call)`` whether the call raises."""

    def __init__(self, fail: Callable[[dict, int], bool] | None = None,
                 raises: Callable[[dict, int], bool] | None = None, delay: float = 0.0) -> None:
        self.fail = fail
        self.raises = raises
        self.delay = delay
        self.events: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict) -> dict | None:
        with self._lock:
            self.events.append(event)
            call = len(self.events)
        if self.delay:
            threading.Event().wait(self.delay)
        if self.raises is not None and self.raises(event, call):
            raise RuntimeError("handler failed")
        failures = [{"itemIdentifier": record["messageId"]} for record in event["Records"]
                    if self.fail is not None and self.fail(record, call)]
        return {"batchItemFailures": failures}

    @property
    def records(self) -> list[dict]:
        with self._lock:
            return [record for event in self.events for record in event["Records"]]

    def bodies(self) -> list[str]:
        return [record["body"] for record in self.records]


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


@pytest.fixture
def aws_env(monkeypatch) -> None:
    """Dummy credentials and a region: moto accepts anything, and nothing may reach a real account."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
