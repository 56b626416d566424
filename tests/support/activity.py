"""Activity helpers: the events a recording queue was sent, waiting for the pipeline to settle, Lambda-shaped
SQS records, and readers of a user's ACTIVITY# records and STATS in the app's store."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import keys
from chalicelib import wiring


def settle(timeout: float = 20.0) -> None:
    """Wait until the embedded feed has forwarded every committed change and the embedded queue (when it is
    the app's) has delivered every message."""
    services = wiring.services()
    feed = services.change_feed
    if feed is not None:
        assert feed.drain(timeout), "the change feed did not catch up"
    drain = getattr(services.queue, "drain", None)
    if drain is not None:
        assert drain(timeout), "the activity queue did not drain"


class Announced:
    """The events the forwarder sent to a RecordingQueue (tests/support/queues.py), read once every
    committed change has been forwarded."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    @property
    def events(self) -> list[dict[str, Any]]:
        settle()
        return [body for body, _ in self.queue.sent]


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
    """Every ACTIVITY# record of ``sub`` the store holds, newest first (all pages)."""
    store = wiring.services().store
    records: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = store.query(keys.user_pk(sub), keys.ACTIVITY_PREFIX, limit=100, after=after)
        records += page.records
        if not page.more or not page.records:
            return records
        last = page.records[-1]
        after = keys.activity_key(sub, last["at"], last["id"]).sk


def item_counts(sub: str) -> dict[str, int]:
    """What ``sub``'s items themselves say the counters should be (the rebuild's source of truth)."""
    from chalicelib.tasks.stats import StatsRebuild  # lazy: only the tests that compare with the items

    rebuilt = StatsRebuild(wiring.services().store, settle=0, sleep=lambda _: None).rebuild(sub, correct=False)
    return {name: rebuilt.found[name] + rebuilt.corrected.get(name, 0) for name in rebuilt.found}


def stats_of(sub: str) -> dict[str, Any] | None:
    return wiring.services().store.get(keys.stats_key(sub))


def counters(sub: str) -> dict[str, int]:
    stats = stats_of(sub) or {}
    return {name: stats.get(name, 0) for name in ("todo", "in_progress", "done", "total")}


def sign_ins(sub: str) -> int:
    return (stats_of(sub) or {}).get("sign_ins", 0)
