"""Activity: the event every accepted item change emits, and the consumer use-case that turns each
event into an ``ACTIVITY#`` record and the ``STATS`` counters exactly once, however often it arrives."""

from __future__ import annotations

import calendar
import re
import time
from typing import Any, Mapping, Protocol

from chalicelib import keys
from chalicelib.errors import AppError, ConditionFailed, StoreUnavailable, TransactionConflict
from chalicelib.store.base import Absent, Put, Store, Update
from chalicelib.tasks.clock import Clock, rfc3339, system_clock
from chalicelib.tasks.ids import new_id

SCHEMA_VERSION = 1
CREATED, UPDATED, DELETED = "item.created", "item.updated", "item.deleted"
EVENT_TYPES = (CREATED, UPDATED, DELETED)
STATUSES = ("todo", "in_progress", "done")
# API.md: GET /activity shows the last 30 days; DynamoDB's TTL (and the SQLite adapter) drop the rest.
ACTIVITY_TTL_SECONDS = 30 * 24 * 3600
EVENT_FIELDS = ("id", "type", "item_id", "at")  # what an ACTIVITY# record keeps (API.md's event shape)
_MAX_TRANSACTION_ATTEMPTS = 5
_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_SUB = re.compile(r"[^#\s]{1,128}")


class InvalidEvent(AppError):
    """A message that is not an activity event this code understands: retrying cannot fix it, so it
    takes the queue's redrive path to the dead letters, where it is logged and counted."""

    code = "invalid_event"


class ActivitySink(Protocol):
    """Where ItemService hands an event once its change has committed (chalicelib/events/publisher.py)."""

    def publish(self, event: dict[str, Any]) -> None:
        ...


def item_event(kind: str, sub: str, item_id: str, at: str, *, before: str | None,
               after: str | None) -> dict[str, Any]:
    """The event for one committed change: ``before``/``after`` are the item's status either side of it
    (None where the item did not exist), which is all the stats need."""
    return {"v": SCHEMA_VERSION, "id": new_id(), "type": kind, "sub": sub, "item_id": item_id, "at": at,
            "status_before": before, "status_after": after}


def parse_event(body: Any) -> dict[str, Any]:
    """The event if ``body`` is a well-formed one, else InvalidEvent naming the first problem."""
    if not isinstance(body, Mapping):
        raise InvalidEvent("the message body is not a JSON object")
    if body.get("v") != SCHEMA_VERSION:
        raise InvalidEvent(f"unknown event schema version {body.get('v')!r}")
    kind = body.get("type")
    if kind not in EVENT_TYPES:
        raise InvalidEvent("unknown event type")
    for name, pattern in (("id", _ULID), ("item_id", _ULID), ("at", _AT), ("sub", _SUB)):
        value = body.get(name)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidEvent(f"missing or malformed {name!r}")
    before, after = body.get("status_before"), body.get("status_after")
    expected = {CREATED: (False, True), UPDATED: (True, True), DELETED: (True, False)}[kind]
    for value, present in zip((before, after), expected):
        if (value in STATUSES) != present or (not present and value is not None):
            raise InvalidEvent(f"status_before/status_after do not fit {kind}")
    return dict(body)


def stats_delta(event: Mapping[str, Any]) -> dict[str, int]:
    """How an event moves the STATS counters. Counters only ever add, so events may arrive in any order."""
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
    return calendar.timegm(time.strptime(at[:19], "%Y-%m-%dT%H:%M:%S"))


def seconds_of(at: str) -> float:
    """Epoch seconds of an event's ``at``, milliseconds included."""
    return epoch_of(at) + int(at[20:23]) / 1000


class ActivityRecorder:
    """Applies one event: a conditional put of its ACTIVITY# record and the STATS counters, in one
    transaction, so a redelivered event (its record exists) changes nothing at all."""

    def __init__(self, store: Store, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock

    def record(self, event: Mapping[str, Any]) -> bool:
        """True when applied now; False when it had been applied before (a redelivery)."""
        sub = event["sub"]
        attrs = {name: event[name] for name in EVENT_FIELDS}
        attrs[keys.TTL_ATTRIBUTE] = epoch_of(event["at"]) + ACTIVITY_TTL_SECONDS
        ops: list[Put | Update] = [Put(keys.activity_key(sub, event["at"], event["id"]), attrs, condition=Absent())]
        delta = stats_delta(event)
        if delta:
            counters = dict.fromkeys(STATUSES + ("total",), 0)
            ops.append(Update(keys.stats_key(sub), set={"updated_at": rfc3339(self._clock())},
                              add={name: delta.get(name, 0) for name in counters}))
        for attempt in range(_MAX_TRANSACTION_ATTEMPTS):
            try:
                self._store.transact(ops)
                return True
            except ConditionFailed as failed:
                if failed.index == 0:
                    return False
                raise
            except TransactionConflict:
                # Another event of the same user is updating STATS right now: take turns.
                import random

                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        raise StoreUnavailable("STATS stayed contended; the event will be retried")
