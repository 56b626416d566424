"""Server-sent events framing for the assistant's stream: one ``event:`` line, one ``data:`` line of
compact JSON, a blank line (docs/API.md "Assistant")."""

from __future__ import annotations

import json
from typing import Any

CONTENT_TYPE = "text/event-stream"

HEADERS = {
    "Content-Type": CONTENT_TYPE,
    "Cache-Control": "no-cache",
    # Proxies that buffer responses (nginx and kin) pass each event on at once with this.
    "X-Accel-Buffering": "no",
}


def encode(event: str, data: dict[str, Any]) -> bytes:
    """One event as UTF-8 bytes. Compact JSON escapes every control character, so a text with newlines
    stays on the single ``data:`` line and cannot end the event early."""
    if "\n" in event or "\r" in event or ":" in event:
        raise ValueError(f"not an event name: {event!r}")
    try:
        return _frame(event, json.dumps(data, ensure_ascii=False, separators=(",", ":"))).encode()
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form; JSON's \u escape still carries it
        return _frame(event, json.dumps(data, separators=(",", ":"))).encode()


def _frame(event: str, payload: str) -> str:
    return f"event: {event}\ndata: {payload}\n\n"
