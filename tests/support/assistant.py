"""Assistant helpers: a fixed today, a store that counts its requests, items added through the service,
and a stand-in for Bedrock that answers the real botocore client with binary event streams."""

from __future__ import annotations

import binascii
import copy
import json
import struct
from collections.abc import Iterable
from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any

TODAY = "2026-11-28"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp()
STORE_METHODS = ("get", "query", "put", "update", "delete", "transact")


def fixed_clock() -> float:
    return NOW


class CountingStore:
    """The store as it is, with every request recorded by method name (one call is one request)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in STORE_METHODS:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return counted


def add(
    items: Any, sub: str, title: str, *, status: str = "todo", due: str | None = None, tags: Iterable[str] = ()
) -> dict[str, Any]:
    from chalicelib.tasks.items import NewItem

    data = NewItem(title=title, status=status, due=date.fromisoformat(due) if due else None, tags=list(tags))
    return items.create(sub, data).item


# --- Bedrock, up to the wire ----------------------------------------------------------------------


def _message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event stream encoding (application/vnd.amazon.eventstream)."""
    encoded = b"".join(
        struct.pack(">B", len(name)) + name.encode() + b"\x07" + struct.pack(">H", len(value.encode())) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    head = prelude + struct.pack(">I", binascii.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack(">I", binascii.crc32(body))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    # Bedrock pads its events with a "p" member of random length; the parser must ignore it.
    padded = {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[: 7 + len(event_type) % 20]}
    return _message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(padded).encode(),
    )


def exception(exception_type: str, message: str = "Something went wrong") -> bytes:
    return _message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": message}).encode(),
    )


def answer_events(pieces: list[str], *, usage: dict[str, int] | None = None) -> list[bytes]:
    """What ConverseStream sends for a plain text answer, in order."""
    messages = [event("messageStart", {"role": "assistant"})]
    messages += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}) for piece in pieces]
    messages += [event("contentBlockStop", {"contentBlockIndex": 0}), event("messageStop", {"stopReason": "end_turn"})]
    if usage is not None:
        messages.append(event("metadata", {"usage": usage, "metrics": {"latencyMs": 412}}))
    return messages


class RawStream:
    """The HTTP body as botocore reads it: ``stream()`` in chunks (cut mid-message on purpose)."""

    def __init__(self, data: bytes, chunk_size: int = 37) -> None:
        self.data = data
        self.chunk_size = chunk_size
        self.closed = False

    def stream(self, *args: Any, **kwargs: Any):
        for start in range(0, len(self.data), self.chunk_size):
            yield self.data[start : start + self.chunk_size]

    def close(self) -> None:
        self.closed = True


class FakeBedrock:
    """Answers the provider's real botocore client at ``before-send``: botocore has validated and
    serialized the request by then, and parses these replies with its own parsers."""

    def __init__(self, provider: Any) -> None:
        self.params: list[dict[str, Any]] = []
        self.requests: list[Any] = []
        self.bodies: list[RawStream] = []
        self._replies: list[tuple[int, dict[str, str], bytes]] = []
        hooks = provider.client.meta.events
        hooks.register("provide-client-params.bedrock-runtime.ConverseStream", self._capture)
        hooks.register("before-send.bedrock-runtime.ConverseStream", self._send)

    def streams(self, messages: list[bytes]) -> None:
        self._replies.append((200, {"content-type": "application/vnd.amazon.eventstream"}, b"".join(messages)))

    def fails(self, status: int, code: str, message: str = "Something went wrong") -> None:
        self._replies.append(
            (
                status,
                {"content-type": "application/json", "x-amzn-errortype": code},
                json.dumps({"message": message}).encode(),
            )
        )

    def _capture(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.params.append(copy.deepcopy(params))

    def _send(self, request: Any, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        self.requests.append(request)
        status, headers, data = self._replies.pop(0)
        body = RawStream(data)
        self.bodies.append(body)
        return AWSResponse(request.url, status, headers, body)
