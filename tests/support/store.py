"""Helpers of the store contract suite (tests/store): keys, records and transactions the tests share."""

from __future__ import annotations

from chalicelib.store.base import Absent
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update

NOW = 200


def item(pk: str, n: int) -> Key:
    return Key(pk, f"ITEM#{n:04d}")


def status(pk: str, name: str) -> str:
    return f"{pk}#STATUS#{name}"


def put_items(store, pk: str, count: int, *, index_status: str | None = None) -> None:
    for n in range(1, count + 1):
        index = IndexKey(status(pk, index_status), f"ITEM#{n:04d}") if index_status else None
        store.put(Put(item(pk, n), {"n": n}, index_key=index))


def record_activity(pk: str, event_id: str, at: str) -> list:
    """The activity consumer's transaction: the event once, and the counters it moves."""
    return [
        Put(Key(pk, f"ACTIVITY#{event_id}"), {"event": event_id}, condition=Absent()),
        Update(Key(pk, "STATS"), add={"todo": 1, "total": 1}, set={"updated_at": at}),
    ]


def without_transactions(env):
    """The app's store as on a strongly consistent global table (TABLE_CONSISTENCY=strong): no transactions."""
    from chalicelib import wiring

    env(TABLE_CONSISTENCY="strong")
    store = wiring.services().store
    assert store.transactions is False
    return store
