"""Write conditions, on every kind of write and on each adapter: a condition that fails changes
nothing and reports the record as stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.errors import ConditionFailed
from chalicelib.store.base import Absent
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import AttributeIs
from chalicelib.store.base import Delete
from chalicelib.store.base import Exists
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Record
from chalicelib.store.base import Update
from chalicelib.store.base import VersionIs
from tests.support.store import NOW
from tests.support.store import item

STATES = {
    "missing": None,
    "stored": {"title": "t", "version": 1},
    "expired": {"title": "t", "version": 1, "expires_at": NOW - 100},
    "expiring-now": {"title": "t", "version": 1, "expires_at": NOW},
    "live": {"title": "t", "version": 1, "expires_at": NOW + 100},
}


CONDITIONS = {
    "absent": (Absent(), {"missing"}),
    "absent-or-expired": (AbsentOrExpired(NOW), {"missing", "expired"}),
    "exists": (Exists(), {"stored", "expired", "expiring-now", "live"}),
    "version-is-1": (VersionIs(1), {"stored", "expired", "expiring-now", "live"}),
    "version-is-2": (VersionIs(2), set()),
    "attribute-is-1": (AttributeIs("version", 1), {"stored", "expired", "expiring-now", "live"}),
    "attribute-is-a-string": (AttributeIs("title", "t"), {"stored", "expired", "expiring-now", "live"}),
    "attribute-is-another-type": (AttributeIs("version", "1"), set()),
    "attribute-is-another-value": (AttributeIs("version", 2), set()),
    "attribute-is-absent": (AttributeIs("applied", None), set(STATES)),
    "attribute-is-absent-but-is-there": (AttributeIs("version", None), {"missing"}),
}


MATRIX = [
    pytest.param(
        condition, state, state in holds_on, id=f"{name}-on-{state}-{'holds' if state in holds_on else 'fails'}"
    )
    for name, (condition, holds_on) in CONDITIONS.items()
    for state in STATES
]


def given_state(store, key: Key, state: str) -> dict | None:
    record = STATES[state]
    if record is not None:
        store.put(Put(key, record))
    return record


REPLACEMENT = {"title": "new", "version": 2}


def _updated(before: Record | None) -> tuple[Record, Record]:
    after = {**(before or {}), "title": "new", "version": (before or {}).get("version", 0) + 1}
    return after, after


# Each kind of write under a condition: how to make it, and what it returns and leaves stored when it
# succeeds on the record ``before``.
WRITES: dict[str, tuple[Callable[..., Record | None], Callable[[Record | None], tuple[Any, Any]]]] = {
    "put": (
        lambda store, key, condition: store.put(Put(key, REPLACEMENT, condition=condition)),
        lambda before: (None, REPLACEMENT),
    ),
    "update": (
        lambda store, key, condition: store.update(
            Update(key, set={"title": "new"}, add={"version": 1}, condition=condition)
        ),
        _updated,
    ),
    "delete": (
        lambda store, key, condition: store.delete(Delete(key, condition=condition)),
        lambda before: (before, None),
    ),
}


@pytest.mark.parametrize("condition, state, holds", MATRIX)
@pytest.mark.parametrize("write", WRITES)
def test_a_conditional_write_changes_the_record_only_when_its_condition_holds(
    store, pk, write, condition, state, holds
):
    key = item(pk, 1)
    before = given_state(store, key, state)
    apply, outcome = WRITES[write]

    if holds:
        returned, stored = outcome(before)
        assert apply(store, key, condition) == returned
        assert store.get(key) == stored
    else:
        with pytest.raises(ConditionFailed) as failed:
            apply(store, key, condition)
        assert failed.value.existing == before
        assert store.get(key) == before


def test_put_with_absent_condition_on_existing_record_raises_condition_failed_with_existing(store, pk):
    store.put(Put(item(pk, 1), {"title": "first", "version": 1}))
    with pytest.raises(ConditionFailed) as failed:
        store.put(Put(item(pk, 1), {"title": "second", "version": 1}, condition=Absent()))
    assert failed.value.existing == {"title": "first", "version": 1}
    assert failed.value.index == 0


def test_absent_or_expired_lets_an_expired_record_be_overwritten_but_not_a_live_one(store, pk):
    key = Key(pk, "IDEMPOTENCY#k1")
    store.put(Put(key, {"fingerprint": "a", "expires_at": 1_000}))

    with pytest.raises(ConditionFailed):
        store.put(Put(key, {"fingerprint": "b", "expires_at": 2_000}, condition=AbsentOrExpired(999)))
    store.put(Put(key, {"fingerprint": "b", "expires_at": 2_000}, condition=AbsentOrExpired(1_001)))

    assert store.get(key) == {"fingerprint": "b", "expires_at": 2_000}


def test_absent_or_expired_follows_an_expiry_time_set_by_update(store, pk):
    key = Key(pk, "IDEMPOTENCY#k1")
    store.put(Put(key, {"fingerprint": "a"}))
    store.update(Update(key, set={"expires_at": NOW - 1}))

    store.put(Put(key, {"fingerprint": "b"}, condition=AbsentOrExpired(NOW)))

    assert store.get(key) == {"fingerprint": "b"}


def test_absent_or_expired_ignores_an_expiry_that_is_not_a_number(store, pk):
    key = Key(pk, "IDEMPOTENCY#k1")
    store.put(Put(key, {"expires_at": "100"}))
    with pytest.raises(ConditionFailed):
        store.put(Put(key, {"fingerprint": "b"}, condition=AbsentOrExpired(NOW)))


def test_attribute_is_guards_a_counter_against_a_write_that_came_between(store, pk):
    key = Key(pk, "STATS")
    store.update(Update(key, add={"todo": 1, "applied": 1}))
    read = store.get(key)["applied"]
    store.update(Update(key, add={"todo": 1, "applied": 1}))  # another writer, after the read

    with pytest.raises(ConditionFailed) as failed:
        store.update(Update(key, add={"todo": 5}, condition=AttributeIs("applied", read)))
    assert failed.value.existing == {"todo": 2, "applied": 2}
    store.update(Update(key, add={"todo": 5}, condition=AttributeIs("applied", read + 1)))
    assert store.get(key) == {"todo": 7, "applied": 2}
