"""Activity as a user reads it: their counters (the ``STATS`` record) and their events of the last 30 days
(the ``ACTIVITY#`` records), one store request each. ActivityRecorder (tasks/activity.py) writes both."""

from __future__ import annotations

from typing import Any

from chalicelib import keys
from chalicelib.store.base import Store
from chalicelib.tasks.activity import ACTIVITY_TTL_SECONDS
from chalicelib.tasks.activity import COUNTERS
from chalicelib.tasks.activity import EVENT_FIELDS
from chalicelib.tasks.clock import Clock
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.clock import system_clock


class ActivityFeed:
    def __init__(self, store: Store, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock

    def stats(self, sub: str) -> dict[str, Any]:
        """Every counter (0 when the user has none yet) and when they last changed (None: never)."""
        record = self._store.get(keys.stats_key(sub)) or {}
        stats: dict[str, Any] = {name: record.get(name, 0) for name in COUNTERS}
        stats["updated_at"] = record.get("updated_at")
        return stats

    def events(self, sub: str, *, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the user's events of the last 30 days, newest first by ``at``, and the position to
        continue after (None on the last page). ``after`` is a position an earlier page returned."""
        # DynamoDB's TTL deletes expired records late (within days), so the window is applied here: older
        # records sort after every newer one, and the first of them ends the listing.
        oldest = rfc3339(self._clock() - ACTIVITY_TTL_SECONDS)
        page = self._store.query(keys.user_pk(sub), keys.ACTIVITY_PREFIX, limit=limit, after=after)
        events: list[dict[str, Any]] = []
        for record in page.records:
            if record["at"] < oldest:  # RFC 3339 of one fixed shape: text order is time order
                return events, None
            events.append({name: record.get(name) for name in EVENT_FIELDS})
        if not (page.more and page.records):
            return events, None
        last = page.records[-1]
        return events, keys.activity_key(sub, last["at"], last["id"]).sk
