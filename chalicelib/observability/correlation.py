"""Request-id correlation across asynchronous hops: the request's id travels with its change through the table's
stream, and the forwarder (chalicelib/consumers.py) stamps it on the event and sends it as the MESSAGE_ATTRIBUTE;
on the consumer side, read it back and log under it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from chalicelib.observability import logs
from chalicelib.vocabulary import CLIENT_TOKEN_PATTERN

BODY_FIELD = "request_id"  # in the event's JSON body
MESSAGE_ATTRIBUTE = "request_id"  # SQS message attribute (String)
# The same shape docs/API.md allows for X-Request-Id: anything else read from a message is dropped.
_SANE = re.compile(CLIENT_TOKEN_PATTERN)


def stamp(event: Mapping[str, Any], request_id: str | None) -> dict[str, Any]:
    """A copy of an outgoing event body carrying ``request_id`` (None: the event is sent as it is)."""
    stamped = dict(event)
    if request_id:
        stamped[BODY_FIELD] = request_id
    return stamped


def request_id_of(record: Mapping[str, Any]) -> str | None:
    """The request id an SQS record (Lambda event shape) carries: its message attribute, else its
    body's field; None when absent or not a sane id."""
    attribute = (record.get("messageAttributes") or {}).get(MESSAGE_ATTRIBUTE) or {}
    value = attribute.get("stringValue") if isinstance(attribute, Mapping) else None
    if not value:
        try:
            body = json.loads(record.get("body") or "")
        except (TypeError, ValueError):
            body = None
        value = body.get(BODY_FIELD) if isinstance(body, dict) else None
    return value if isinstance(value, str) and _SANE.fullmatch(value) else None


@contextmanager
def bound(request_id: str | None, **fields: Any) -> Iterator[None]:
    """Log under ``request_id`` (and ``fields``, e.g. a message id) inside the block: what a consumer
    does per record so its lines join the API request's lines."""
    token = logs.bind(**{**logs.current_fields(), **fields, "request_id": request_id})
    try:
        yield
    finally:
        logs.reset(token)
