"""Activity: the events (one per accepted item change, one per sign-in session), and the consumer use-case
that turns each event into an ``ACTIVITY#`` record and the ``STATS`` counters exactly once, however often
it arrives. chalicelib/tasks/outbox.py makes the events from the table's committed changes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any

from chalicelib import keys
from chalicelib.errors import AppError
from chalicelib.errors import ConditionFailed
from chalicelib.errors import StoreUnavailable
from chalicelib.store.base import Absent
from chalicelib.store.base import AttributeIs
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Store
from chalicelib.store.base import Update
from chalicelib.tasks.clock import RFC3339_PATTERN
from chalicelib.tasks.clock import Clock
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.clock import system_clock
from chalicelib.tasks.ids import ID_PATTERN
from chalicelib.tasks.ids import new_id
from chalicelib.tasks.retry import FIRST_WAIT
from chalicelib.tasks.retry import retry_on_conflict
from chalicelib.vocabulary import EVENT_TYPES
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import ITEM_DELETED
from chalicelib.vocabulary import ITEM_UPDATED
from chalicelib.vocabulary import STATUSES
from chalicelib.vocabulary import USER_SIGNED_IN
from chalicelib.vocabulary import valid_sub

SCHEMA_VERSION = 1
# API.md: GET /activity shows the last 30 days; DynamoDB's TTL (and the SQLite adapter) drop the rest.
ACTIVITY_TTL_SECONDS = 30 * 24 * 3600
EVENT_FIELDS = ("id", "type", "item_id", "at")  # what an ACTIVITY# record keeps (API.md's event shape)
_MAX_TRANSACTION_ATTEMPTS = 5
# The STATS counters (a missing one reads 0), and the count of writes applied to the record: each event
# the recorder applies adds 1, and so does each correction of a rebuild (tasks/stats.py), which is
# conditioned on it, so a write that came between its read and its correction makes it read again.
COUNTERS: tuple[str, ...] = (*STATUSES, "total", "sign_ins")
APPLIED = "applied"
# Without transactions (ActivityRecorder._record_in_steps): an ACTIVITY# record's ``state`` (``applying``, then
# ``applied``; a record a transaction wrote has none: applied), and STATS' string set of the ids of the events
# whose counters are added but whose ACTIVITY# record is not marked applied yet.
STATE = "state"
STATE_APPLYING = "applying"
STATE_APPLIED = "applied"
APPLYING_IDS = "applying_ids"
_MAX_STEP_ATTEMPTS = 10


class InvalidEvent(AppError):
    """A message that is not an activity event this code understands: retrying cannot fix it, so it
    takes the queue's redrive path to the dead letters, where it is logged and counted."""

    code = "invalid_event"


def event_id(at: str, *identity: str) -> str:
    """The id of the event ``identity`` names (e.g. sub, item id, version): the same change always gets the
    same id, so an event forwarded twice is one event to the consumer. Shaped like every id (tasks/ids.py):
    the milliseconds of ``at``, then 80 bits of a hash of the identity."""
    import hashlib  # lazy: OpenSSL (~2.5 ms), only where events are made (the forwarder, tests)

    digest = hashlib.sha256("|".join(identity).encode()).digest()
    return new_id(int(seconds_of(at) * 1000), random=digest[:10])


def item_event(
    kind: str,
    sub: str,
    item_id: str,
    at: str,
    *,
    before: str | None,
    after: str | None,
    id: str | None = None,
) -> dict[str, Any]:
    """The event for one committed change: ``before``/``after`` are the item's status either side of it
    (None where the item did not exist), which is all the stats need."""
    return {
        "v": SCHEMA_VERSION,
        "id": new_id() if id is None else id,
        "type": kind,
        "sub": sub,
        "item_id": item_id,
        "at": at,
        "status_before": before,
        "status_after": after,
    }


def sign_in_event(sub: str, session: str, at: str) -> dict[str, Any]:
    """The event for a new sign-in session (Cognito's ``origin_jti``) signed in at ``at``: its id follows
    from the session, so the same session seen again is the same event and counts once."""
    return {
        "v": SCHEMA_VERSION,
        "id": event_id(at, sub, USER_SIGNED_IN, session),
        "type": USER_SIGNED_IN,
        "sub": sub,
        "item_id": None,
        "at": at,
        "status_before": None,
        "status_after": None,
    }


_ITEM_EVENT_PATTERNS = (("id", ID_PATTERN), ("item_id", ID_PATTERN), ("at", RFC3339_PATTERN))
# Which of status_before/status_after each event type carries.
_STATUSES_PRESENT = {
    ITEM_CREATED: (False, True),
    ITEM_UPDATED: (True, True),
    ITEM_DELETED: (True, False),
    USER_SIGNED_IN: (False, False),
}


def parse_event(body: Any) -> dict[str, Any]:
    """The event if ``body`` is a well-formed one, else InvalidEvent naming the first problem."""
    if not isinstance(body, Mapping):
        raise InvalidEvent("the message body is not a JSON object")
    if body.get("v") != SCHEMA_VERSION:
        raise InvalidEvent(f"unknown event schema version {body.get('v')!r}")
    kind = body.get("type")
    if kind not in EVENT_TYPES:
        raise InvalidEvent("unknown event type")
    signed_in = kind == USER_SIGNED_IN
    checked = (("id", ID_PATTERN), ("at", RFC3339_PATTERN)) if signed_in else _ITEM_EVENT_PATTERNS
    for name, pattern in checked:
        value = body.get(name)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidEvent(f"missing or malformed {name!r}")
    if signed_in and body.get("item_id") is not None:
        raise InvalidEvent("a sign-in event names no item")
    if not valid_sub(body.get("sub")):  # the rule a token's sub passed (chalicelib/auth)
        raise InvalidEvent("missing or malformed 'sub'")
    before, after = body.get("status_before"), body.get("status_after")
    expected = _STATUSES_PRESENT[kind]
    for value, present in zip((before, after), expected):
        if (value in STATUSES) != present or (not present and value is not None):
            raise InvalidEvent(f"status_before/status_after do not fit {kind}")
    return dict(body)


def stats_delta(event: Mapping[str, Any]) -> dict[str, int]:
    """How an event moves the STATS counters. Counters only ever add, so events may arrive in any order."""
    if event["type"] == USER_SIGNED_IN:
        return {"sign_ins": 1}
    before, after = event["status_before"], event["status_after"]
    if before == after:
        return {}
    delta: dict[str, int] = {}
    if before is not None:
        delta[before] = -1
    if after is not None:
        delta[after] = 1
    if (before is None) != (after is None):
        delta["total"] = 1 if before is None else -1
    return delta


def epoch_of(at: str) -> int:
    """Whole epoch seconds of an event's ``at`` (a TTL)."""
    # fromisoformat, not strptime: ItemService imports this module, and strptime would load calendar
    # and locale (~1 ms) on every route's cold path.
    return int(datetime.fromisoformat(at[:19]).replace(tzinfo=UTC).timestamp())


def seconds_of(at: str) -> float:
    """Epoch seconds of an event's ``at``, milliseconds included."""
    return epoch_of(at) + int(at[20:23]) / 1000


class ActivityRecorder:
    """Applies one event: a conditional put of its ACTIVITY# record and the STATS counters, in one
    transaction, so a redelivered event (its record exists) changes nothing at all. With ``region`` (two
    regions) the counters go to that region's shard ``STATS#<region>``, which no other region writes."""

    def __init__(self, store: Store, clock: Clock = system_clock, *, region: str | None = None) -> None:
        self._store = store
        self._clock = clock
        self._region = region

    def record(self, event: Mapping[str, Any]) -> bool:
        """True when applied now; False when it had been applied before (a redelivery)."""
        if not self._store.transactions:
            return self._record_in_steps(event)
        sub = event["sub"]
        attrs = {name: event[name] for name in EVENT_FIELDS}
        attrs[keys.TTL_ATTRIBUTE] = epoch_of(event["at"]) + ACTIVITY_TTL_SECONDS
        ops: list[Put | Update] = [Put(keys.activity_key(sub, event["at"], event["id"]), attrs, condition=Absent())]
        delta = stats_delta(event)
        # Every counter is added to (0 when unmoved), so a new STATS record starts with all of them.
        add = {name: delta.get(name, 0) for name in COUNTERS}
        add[APPLIED] = 1
        ops.append(Update(keys.stats_key(sub, self._region), set={"updated_at": rfc3339(self._clock())}, add=add))
        try:
            # A conflict: another event of the same user is updating STATS right now; take turns.
            retry_on_conflict(
                lambda: self._store.transact(ops),
                attempts=_MAX_TRANSACTION_ATTEMPTS,
                exhausted="STATS stayed contended; the event will be retried",
            )
        except ConditionFailed as failed:
            if failed.index == 0:
                return False
            raise
        return True

    def _record_in_steps(self, event: Mapping[str, Any]) -> bool:
        """``record`` on a store without transactions: single-record conditional writes, each safe to repeat,
        so a delivery that stops between any two of them leaves what the next delivery finishes.

        1. put ACTIVITY# with ``state: applying``, if absent (found in any other state: applied, done);
        2. add the counters to STATS and the event's id to its ``applying_ids``, conditioned on STATS'
           ``applied`` being what was read just before: skipped when the id is already there;
        3. mark ACTIVITY# ``state: applied``;
        4. take the id out of ``applying_ids`` (the set holds only events in flight).

        Step 2's condition is what makes it happen once: a delivery adds the counters only if no write to
        STATS came between a read of STATS that did not show the id and its own write, and if the ACTIVITY#
        record (read after that STATS read, or created after it) still said ``applying``, so no other
        delivery had taken step 3 (hence step 4) before that read either (docs/DESIGN.md).
        """
        sub = event["sub"]
        activity_key = keys.activity_key(sub, event["at"], event["id"])
        stats_key = keys.stats_key(sub, self._region)
        attrs: dict[str, Any] = {name: event[name] for name in EVENT_FIELDS}
        attrs[keys.TTL_ATTRIBUTE] = epoch_of(event["at"]) + ACTIVITY_TTL_SECONDS
        attrs[STATE] = STATE_APPLYING
        # Read before step 1: while ACTIVITY# did not exist yet, no delivery had touched STATS for this event.
        stats = self._store.get(stats_key)
        try:
            self._store.put(Put(activity_key, attrs, condition=Absent()))
            created = True
        except ConditionFailed as failed:
            if failed.existing is None:
                raise  # the store did not say what is there: the event is retried, never taken as applied
            if failed.existing.get(STATE) != STATE_APPLYING:
                self._forget_applying(stats_key, event["id"], stats)  # a stop between steps 3 and 4
                return False
            created = False
        applied_now = False
        for attempt in range(_MAX_STEP_ATTEMPTS):
            if attempt:
                _back_off(attempt)
            if attempt or not created:
                stats = self._store.get(stats_key)
                if event["id"] in _applying_ids(stats):
                    break  # step 2 is done (by an earlier delivery)
                current = self._store.get(activity_key)
                if current is None or current.get(STATE) != STATE_APPLYING:
                    self._forget_applying(stats_key, event["id"], self._store.get(stats_key))
                    return False  # another delivery finished it since
            if self._add_counters(stats_key, event, stats):
                applied_now = True
                break
        else:
            raise StoreUnavailable("STATS stayed contended; the event will be retried")
        self._store.update(Update(activity_key, set={STATE: STATE_APPLIED}))
        self._store.update(Update(stats_key, delete_from_set={APPLYING_IDS: {event["id"]}}))
        return applied_now

    def _add_counters(self, stats_key: Key, event: Mapping[str, Any], stats: Mapping[str, Any] | None) -> bool:
        """Step 2; False when STATS changed since ``stats`` was read (read again and retry)."""
        delta = stats_delta(event)
        add = {name: delta.get(name, 0) for name in COUNTERS}
        add[APPLIED] = 1
        applied = (stats or {}).get(APPLIED)
        update = Update(
            stats_key,
            set={"updated_at": rfc3339(self._clock())},
            add=add,
            add_to_set={APPLYING_IDS: {event["id"]}},
            condition=AttributeIs(APPLIED, applied if isinstance(applied, int) else None),
        )
        try:
            self._store.update(update)
        except ConditionFailed:
            return False
        return True

    def _forget_applying(self, stats_key: Key, event_id: str, stats: Mapping[str, Any] | None) -> None:
        """Step 4 again, when an earlier delivery stopped before it (the id is still in the set)."""
        if event_id in _applying_ids(stats):
            self._store.update(Update(stats_key, delete_from_set={APPLYING_IDS: {event_id}}))


def _back_off(attempt: int) -> None:
    """A random wait, longer after each lost race, so racing deliveries do not collide again in step."""
    # lazy: random (~1 ms), as in tasks/retry.py: only a lost race pays for it
    import random

    time.sleep(random.uniform(*FIRST_WAIT) * attempt)


def _applying_ids(stats: Mapping[str, Any] | None) -> list[str]:
    ids = (stats or {}).get(APPLYING_IDS)
    return ids if isinstance(ids, list) else []
