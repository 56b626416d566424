"""A queue that keeps what it is sent and delivers nothing: for tests that count or compare storage
and must not see the activity consumer's writes land in the middle."""

from __future__ import annotations

import itertools
import json
from typing import Any, Mapping


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], dict[str, str]]] = []
        self._ids = itertools.count(1)

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        self.sent.append((json.loads(body), dict(attributes)))
        return f"recorded-{next(self._ids)}"
