"""Activity as a user reads it: their counters (the ``STATS`` record, or in two regions the sum of every
region's ``STATS#<region>`` shard) and their events of the last 30 days (the ``ACTIVITY#`` records), one
store request each. ActivityRecorder (tasks/activity.py) writes both."""

from __future__ import annotations

from typing import Any

from chalicelib import keys
from chalicelib.store.base import Record
from chalicelib.store.base import Store
from chalicelib.tasks.activity import ACTIVITY_TTL_SECONDS
from chalicelib.tasks.activity import COUNTERS
from chalicelib.tasks.activity import EVENT_FIELDS
from chalicelib.tasks.clock import Clock
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.clock import system_clock

# More records than a user can have STATS shards (one per region, and the single-region STATS): one query
# always reads them all.
STATS_SHARDS_READ = 100


def stats_records(store: Store, sub: str) -> list[Record]:
    """Every record of the user whose sort key begins ``STATS`` (one, or one per region), in one Query."""
    return store.query(keys.user_pk(sub), keys.STATS_SK, limit=STATS_SHARDS_READ).records


def summed_stats(store: Store, sub: str, shards: list[Record] | None = None) -> dict[str, Any]:
    """The user's counters: each the sum over every record whose sort key begins ``STATS`` (a missing one
    counts 0), read in one Query (or given); ``updated_at`` the latest of theirs (None: no record yet)."""
    shards = stats_records(store, sub) if shards is None else shards
    stats: dict[str, Any] = {name: sum(_counter(shard.get(name)) for shard in shards) for name in COUNTERS}
    stamps = [shard["updated_at"] for shard in shards if isinstance(shard.get("updated_at"), str)]
    stats["updated_at"] = max(stamps, default=None)  # RFC 3339 of one fixed shape: text order is time order
    return stats


def _counter(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ActivityFeed:
    def __init__(self, store: Store, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock

    def stats(self, sub: str) -> dict[str, Any]:
        """Every counter (0 when the user has none yet) and when they last changed (None: never)."""
        return summed_stats(self._store, sub)

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
