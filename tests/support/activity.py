"""Activity helpers: a recording sink in place of the queue, Lambda-shaped SQS records, and readers of a
user's ACTIVITY# records and STATS in the app's store."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import keys
from chalicelib import wiring


class RecordingSink:
    """Stands in for the queue where a test looks at what ItemService announced, not at delivery."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def sqs_record(body: Any, *, message_id: str = "m-1", request_id: str | None = None, receives: int = 1) -> dict:
    from chalicelib.events.base import lambda_record

    attributes = {"request_id": request_id} if request_id else {}
    return lambda_record(
        message_id,
        body if isinstance(body, str) else json.dumps(body),
        attributes,
        receives,
        1_700_000_000_000,
        "arn:aws:sqs:us-east-1:000000000000:activity",
        f"rh-{message_id}",
    )


def activity_of(sub: str) -> list[dict[str, Any]]:
    page = wiring.services().store.query(keys.user_pk(sub), keys.ACTIVITY_PREFIX, limit=100)
    return page.records


def stats_of(sub: str) -> dict[str, Any] | None:
    return wiring.services().store.get(keys.stats_key(sub))


def counters(sub: str) -> dict[str, int]:
    stats = stats_of(sub) or {}
    return {name: stats.get(name, 0) for name in ("todo", "in_progress", "done", "total")}
