"""Queue doubles: a queue that keeps what it is sent and delivers nothing (for tests that count or
compare storage and must not see the activity consumer's writes land in the middle), and a consumer
that records every batch it is handed."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

# Local queue options small enough that retries and polling cost milliseconds, not seconds.
FAST = {"retry_delay": 0.01, "poll_interval": 0.02}


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], dict[str, str]]] = []
        self._ids = itertools.count(1)

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        self.sent.append((json.loads(body), dict(attributes)))
        return f"recorded-{next(self._ids)}"


class Recorder:
    """A handler that records every event it receives (thread-safe); ``fail(record, call)`` says whether
    a record fails (reported in batchItemFailures), ``raises(event, call)`` whether the call raises."""

    def __init__(
        self,
        fail: Callable[[dict, int], bool] | None = None,
        raises: Callable[[dict, int], bool] | None = None,
        delay: float = 0.0,
    ) -> None:
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
        failures = [
            {"itemIdentifier": record["messageId"]}
            for record in event["Records"]
            if self.fail is not None and self.fail(record, call)
        ]
        return {"batchItemFailures": failures}

    @property
    def records(self) -> list[dict]:
        with self._lock:
            return [record for event in self.events for record in event["Records"]]

    def bodies(self) -> list[str]:
        return [record["body"] for record in self.records]
