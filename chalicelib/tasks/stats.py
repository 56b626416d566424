"""Counters heal: rebuild a user's ``STATS`` status counters from their items, the source of truth, and
say what was corrected (``python -m chalicelib.ops stats rebuild``; docs/OPERATIONS.md).

Safe while traffic flows, because of three things:

- the correction is an ADD of the difference, so it commutes with the events the activity consumer
  applies at the same time (they only ADD too);
- it is conditioned on the STATS record's ``applied`` counter (every event applied adds 1) being what
  was read before the items were counted: if an event was applied in between, nothing is written and
  the user is read again;
- a difference is corrected only when it is seen twice, a settle interval apart: a change that has
  committed but whose event is not applied yet shows as a difference for a moment, and is not drift.

In two regions (docs/DESIGN.md "Two regions") a user's counters are the sum of every region's shard
``STATS#<region>``; a rebuild corrects only its own region's shard, by the difference between the items and
that sum, so the sum comes out right (its own shard may go below zero: only the sum means anything). Its
condition guards only its own shard: an event another region applies between the second look and the
correction is not seen, nor is one not yet replicated here (the two looks catch the rest, as they catch an
event on its way); run it in one region at a time, with the pipelines caught up.

``sign_ins`` cannot be rebuilt from items and is left as it is. Events still kept as dead letters are
not in STATS yet, and a rebuild would count their items: replay them first (the command refuses a user
who has any; docs/OPERATIONS.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import NamedTuple

from chalicelib import keys
from chalicelib.errors import ConditionFailed
from chalicelib.store.base import AttributeIs
from chalicelib.store.base import Store
from chalicelib.store.base import Update
from chalicelib.tasks.activity import APPLIED
from chalicelib.tasks.clock import Clock
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.clock import system_clock
from chalicelib.tasks.feed import stats_records
from chalicelib.tasks.feed import summed_stats
from chalicelib.vocabulary import STATUSES

# What items tell: each status's count and the total (sign_ins is not in them).
REBUILT = STATUSES + ("total",)
# Seconds between the two looks at a difference (the command's --settle).
DEFAULT_SETTLE_SECONDS = 5.0
# Looks at one user before giving up on a difference that keeps moving (busy user: try again later).
MAX_LOOKS = 6
# Items read per query.
PAGE_SIZE = 500


class ShardedStats(RuntimeError):
    """A rebuild told of no region found a user's STATS kept per region (docs/OPERATIONS.md)."""


class Rebuilt(NamedTuple):
    """One user's outcome. ``found``: the counters STATS had; ``corrected``: what was added to each
    (empty: they were right); ``settled`` False: the difference kept moving and nothing was written."""

    sub: str
    found: dict[str, int]
    corrected: dict[str, int]
    settled: bool = True


class _Look(NamedTuple):
    applied: int | None  # the STATS record's ``applied`` as read (None: absent)
    found: dict[str, int]
    difference: dict[str, int]
    sharded: bool = False  # records besides the one a correction goes to: shards of other regions


class StatsRebuild:
    """Rebuilds STATS from items, one user at a time."""

    def __init__(
        self,
        store: Store,
        clock: Clock = system_clock,
        *,
        settle: float = DEFAULT_SETTLE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        region: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        # The shard a correction goes to: STATS#<region> in two regions, else STATS (None).
        self._region = region
        self.settle = settle
        self._sleep = sleep

    def rebuild(self, sub: str, *, correct: bool = True) -> Rebuilt:
        """Correct one user's counters; what was found and what was added (with ``correct`` False: what
        would have been, and nothing is written)."""
        previous: _Look | None = None
        first: _Look | None = None
        for look_number in range(MAX_LOOKS):
            if look_number:
                self._sleep(self.settle)
            look = self._look(sub)
            first = first or look
            if not look.difference:
                return Rebuilt(sub, look.found, {})
            if previous is not None and previous.difference == look.difference:
                if not correct:
                    return Rebuilt(sub, look.found, look.difference)
                try:
                    self._correct(sub, look)
                except ConditionFailed:
                    pass  # an event was applied since the look: look again (this look counts as the first)
                else:
                    return Rebuilt(sub, look.found, look.difference)
            previous = look
        assert first is not None
        return Rebuilt(sub, first.found, {}, settled=False)

    def users(self) -> Iterator[str]:
        """Every user with a partition: a full-table scan (Store.scan_partitions), for off-peak runs."""
        for partition in self._store.scan_partitions(keys.USER_PREFIX):
            sub = keys.sub_of(partition)
            if sub is not None:
                yield sub

    def _look(self, sub: str) -> _Look:
        # STATS first, then the items: an event applied after this read changes ``applied``, so the
        # correction (conditioned on it) is never written on top of one the count did not see. The shard the
        # correction goes to before the sum of them all, so the sum holds at least what ``applied`` says.
        stats = self._store.get(keys.stats_key(sub, self._region)) or {}
        shards = stats_records(self._store, sub)
        summed = summed_stats(self._store, sub, shards)
        found = {name: summed[name] for name in REBUILT}
        counted = self._count_items(sub)
        difference = {name: counted[name] - found[name] for name in REBUILT if counted[name] != found[name]}
        applied = stats.get(APPLIED)
        applied = applied if isinstance(applied, int) and not isinstance(applied, bool) else None
        return _Look(applied, found, difference, sharded=len(shards) > (1 if stats else 0))

    def _count_items(self, sub: str) -> dict[str, int]:
        counted = dict.fromkeys(REBUILT, 0)
        after: str | None = None
        while True:
            page = self._store.query(keys.user_pk(sub), keys.ITEM_PREFIX, limit=PAGE_SIZE, after=after)
            for item in page.records:
                status = item.get("status")
                if status in counted:
                    counted[status] += 1
                counted["total"] += 1
            if not page.more or not page.records:
                return counted
            after = keys.item_key(sub, page.records[-1]["id"]).sk

    def _correct(self, sub: str, look: _Look) -> None:
        if self._region is None and look.sharded:
            # Shards per region, and this run would correct the one-region record, which no consumer writes any
            # more: its guard on ``applied`` would protect nothing (run it with REGIONS and AWS_REGION as deployed).
            raise ShardedStats(f"{sub}'s STATS has a shard per region: set REGIONS and AWS_REGION as deployed")
        # ``applied`` +1 too: a second rebuild that read the same record fails its condition instead of
        # adding the same difference again.
        self._store.update(
            Update(
                keys.stats_key(sub, self._region),
                set={"updated_at": rfc3339(self._clock())},
                add={**look.difference, APPLIED: 1},
                condition=AttributeIs(APPLIED, look.applied),
            )
        )
