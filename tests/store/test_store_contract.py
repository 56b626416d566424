"""The store port's contract (chalicelib/store/base.py), run unchanged on SQLite and on DynamoDB Local,
plus what only one adapter can show: DynamoDB's one request per call, SQLite's query plans."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import ConditionFailed, StoreUnavailable, TransactionConflict
from chalicelib.store.base import (Absent, AbsentOrExpired, Delete, Exists, IndexKey, Key, Put, Update,
                                   VersionIs)
from tests.support.dynamodb_local import count_requests, unique_table_name

KEY_ATTRIBUTES = {"PK", "SK", "GSI1PK", "GSI1SK", "pk", "sk", "gsi1pk", "gsi1sk"}
NOW = 200


def item(pk: str, n: int) -> Key:
    return Key(pk, f"ITEM#{n:04d}")


def status(pk: str, name: str) -> str:
    return f"{pk}#STATUS#{name}"


def run_together(count: int, action: Callable[[int], object]) -> list[object]:
    """Run ``action(i)`` on ``count`` threads released at once; each result or raised exception."""
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def worker(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = action(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


# --- get and put ---------------------------------------------------------------------------------


def test_get_of_a_missing_record_returns_none(store, pk):
    assert store.get(Key(pk, "METADATA")) is None


def test_put_then_get_returns_every_attribute_type_unchanged(store, pk):
    record = {
        "title": "Buy milk ü €",
        "empty": "",
        "version": 1,
        "big": 2**62,
        "negative": -7,
        "zero": 0,
        "done": True,
        "archived": False,
        "notes": None,
        "tags": ["home", "errand"],
        "no_tags": [],
        "nested": {"status": 201, "item": {"id": "x", "tags": ["a"], "due": None, "ok": True}},
        "empty_map": {},
    }
    store.put(Put(item(pk, 1), record))

    got = store.get(item(pk, 1))

    assert got == record
    assert type(got["version"]) is int and type(got["big"]) is int and type(got["done"]) is bool
    assert type(got["nested"]["status"]) is int


def test_put_without_condition_replaces_the_whole_record(store, pk):
    store.put(Put(item(pk, 1), {"title": "old", "notes": "gone soon"}))
    store.put(Put(item(pk, 1), {"title": "new"}))
    assert store.get(item(pk, 1)) == {"title": "new"}


def test_records_never_include_key_or_index_attributes(store, pk):
    open_index = IndexKey(status(pk, "open"), "ITEM#0001")
    store.put(Put(item(pk, 1), {"title": "a", "version": 1}, index=open_index))

    seen = [
        store.get(item(pk, 1)),
        *store.query(pk, "ITEM#", limit=10).records,
        *store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records,
        store.update(Update(item(pk, 1), set={"title": "b"})),
        store.delete(Delete(item(pk, 1))),
    ]
    for record in seen:
        assert record is not None and not KEY_ATTRIBUTES & record.keys()


def test_partitions_are_isolated_even_when_one_name_prefixes_another(store, pk):
    store.put(Put(Key(pk, "ITEM#0001"), {"owner": "a"}))
    store.put(Put(Key(pk + "x", "ITEM#0002"), {"owner": "ax"}))

    assert store.get(Key(pk + "x", "ITEM#0001")) is None
    assert store.query(pk, "ITEM#", limit=10).records == [{"owner": "a"}]
    assert store.query(pk + "x", "ITEM#", limit=10).records == [{"owner": "ax"}]


# --- conditions, on every kind of write ------------------------------------------------------------

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
}
MATRIX = [pytest.param(condition, state, state in holds_on,
                       id=f"{name}-on-{state}-{'holds' if state in holds_on else 'fails'}")
          for name, (condition, holds_on) in CONDITIONS.items() for state in STATES]


def given_state(store, key: Key, state: str) -> dict | None:
    record = STATES[state]
    if record is not None:
        store.put(Put(key, record))
    return record


@pytest.mark.parametrize("condition, state, holds", MATRIX)
def test_conditional_put_writes_only_when_its_condition_holds(store, pk, condition, state, holds):
    key = item(pk, 1)
    before = given_state(store, key, state)
    replacement = {"title": "new", "version": 2}

    if holds:
        store.put(Put(key, replacement, condition=condition))
        assert store.get(key) == replacement
    else:
        with pytest.raises(ConditionFailed) as failed:
            store.put(Put(key, replacement, condition=condition))
        assert failed.value.existing == before
        assert store.get(key) == before


@pytest.mark.parametrize("condition, state, holds", MATRIX)
def test_conditional_update_changes_the_record_only_when_its_condition_holds(store, pk, condition, state,
                                                                              holds):
    key = item(pk, 1)
    before = given_state(store, key, state)
    change = Update(key, set={"title": "new"}, add={"version": 1}, condition=condition)

    if holds:
        after = store.update(change)
        expected = {**(before or {}), "title": "new", "version": (before or {}).get("version", 0) + 1}
        assert after == expected
        assert store.get(key) == expected
    else:
        with pytest.raises(ConditionFailed) as failed:
            store.update(change)
        assert failed.value.existing == before
        assert store.get(key) == before


@pytest.mark.parametrize("condition, state, holds", MATRIX)
def test_conditional_delete_removes_the_record_only_when_its_condition_holds(store, pk, condition, state,
                                                                              holds):
    key = item(pk, 1)
    before = given_state(store, key, state)

    if holds:
        assert store.delete(Delete(key, condition=condition)) == before
        assert store.get(key) is None
    else:
        with pytest.raises(ConditionFailed) as failed:
            store.delete(Delete(key, condition=condition))
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


# --- update ----------------------------------------------------------------------------------------


def test_update_set_overwrites_named_attributes_and_keeps_the_others(store, pk):
    store.put(Put(item(pk, 1), {"title": "a", "notes": "keep", "version": 1}))
    after = store.update(Update(item(pk, 1), set={"title": "b", "due": None}))
    assert after == {"title": "b", "notes": "keep", "version": 1, "due": None}
    assert store.get(item(pk, 1)) == after


def test_update_without_condition_upserts_a_missing_record(store, pk):
    key = Key(pk, "METADATA")
    after = store.update(Update(key, set={"username": "alice"}, set_if_absent={"created_at": "t0"},
                                add={"logins": 1}))
    assert after == {"username": "alice", "created_at": "t0", "logins": 1}
    assert store.get(key) == after


def test_update_set_if_absent_writes_only_attributes_the_record_lacks(store, pk):
    key = Key(pk, "METADATA")
    store.put(Put(key, {"created_at": "t0", "display_name": None}))
    after = store.update(Update(key, set={"last_seen_at": "t1"},
                                set_if_absent={"created_at": "t1", "display_name": "x", "email": "e"}))
    # An attribute stored as null exists: it is kept, as DynamoDB's if_not_exists keeps it.
    assert after == {"created_at": "t0", "display_name": None, "email": "e", "last_seen_at": "t1"}


def test_update_add_increments_numbers_and_counts_a_missing_one_as_zero(store, pk):
    key = Key(pk, "STATS")
    store.put(Put(key, {"created": 5}))
    after = store.update(Update(key, add={"created": 2, "deleted": 1, "open": -3}))
    assert after == {"created": 7, "deleted": 1, "open": -3}


def test_update_returns_the_whole_record_as_it_is_afterwards(store, pk):
    store.put(Put(item(pk, 1), {"title": "a", "tags": ["x"], "version": 3}))
    after = store.update(Update(item(pk, 1), set={"tags": ["y", "z"]}, add={"version": 1},
                                condition=VersionIs(3)))
    assert after == {"title": "a", "tags": ["y", "z"], "version": 4}


def test_update_with_index_moves_the_record_to_the_new_index_partition_only(store, pk):
    store.put(Put(item(pk, 1), {"title": "a", "status": "open"}, index=IndexKey(status(pk, "open"), "ITEM#0001")))
    store.put(Put(item(pk, 2), {"title": "b", "status": "open"}, index=IndexKey(status(pk, "open"), "ITEM#0002")))

    store.update(Update(item(pk, 1), set={"status": "done"}, index=IndexKey(status(pk, "done"), "ITEM#0001")))

    open_page = store.query(status(pk, "open"), "ITEM#", limit=10, index=True)
    done_page = store.query(status(pk, "done"), "ITEM#", limit=10, index=True)
    assert open_page.records == [{"title": "b", "status": "open"}]
    assert done_page.records == [{"title": "a", "status": "done"}]


def test_update_without_index_keeps_the_record_in_its_index_partition(store, pk):
    store.put(Put(item(pk, 1), {"title": "a"}, index=IndexKey(status(pk, "open"), "ITEM#0001")))
    store.update(Update(item(pk, 1), set={"title": "b"}))
    assert store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records == [{"title": "b"}]


def test_update_naming_one_attribute_in_two_clauses_is_rejected(store, pk):
    with pytest.raises(ValueError):
        store.update(Update(item(pk, 1), set={"version": 2}, add={"version": 1}))
    assert store.get(item(pk, 1)) is None


def test_update_returning_old_gives_the_record_before_the_change(store, pk):
    store.put(Put(item(pk, 1), {"title": "a", "status": "open", "version": 1}))

    old = store.update(Update(item(pk, 1), set={"status": "done"}, add={"version": 1}, returns="old"))

    assert old == {"title": "a", "status": "open", "version": 1}
    assert store.get(item(pk, 1)) == {"title": "a", "status": "done", "version": 2}


def test_update_returning_old_of_a_missing_record_is_none(store, pk):
    key = Key(pk, "STATS")
    assert store.update(Update(key, add={"total": 1}, returns="old")) is None
    assert store.get(key) == {"total": 1}


def test_update_returning_old_reports_a_failed_condition_like_any_update(store, pk):
    store.put(Put(item(pk, 1), {"version": 3}))
    with pytest.raises(ConditionFailed) as failed:
        store.update(Update(item(pk, 1), set={"t": "x"}, condition=VersionIs(1), returns="old"))
    assert failed.value.existing == {"version": 3}


@pytest.mark.parametrize("before", [None, {"title": "a", "created_at": "t0", "version": 4, "tags": ["x"]}],
                         ids=["missing", "stored"])
def test_update_after_matches_what_the_store_holds(store, pk, before):
    if before is not None:
        store.put(Put(item(pk, 1), before, index=IndexKey(status(pk, "open"), "ITEM#0001")))
    op = Update(item(pk, 1), set={"title": "b", "due": None}, set_if_absent={"created_at": "t1", "notes": ""},
                add={"version": 1, "edits": 2}, index=IndexKey(status(pk, "done"), "ITEM#0001"),
                returns="old")

    old = store.update(op)

    assert old == before
    assert op.after(old) == store.get(item(pk, 1))
    assert old == before  # after() computes, it never changes what it is given


def test_update_with_an_unknown_returns_is_rejected():
    with pytest.raises(ValueError):
        Update(Key("USER#a", "METADATA"), set={"t": "x"}, returns="bogus")


# --- delete ----------------------------------------------------------------------------------------


def test_delete_returns_the_old_record_and_removes_it_from_table_and_index(store, pk):
    store.put(Put(item(pk, 1), {"title": "a"}, index=IndexKey(status(pk, "open"), "ITEM#0001")))

    assert store.delete(Delete(item(pk, 1))) == {"title": "a"}

    assert store.get(item(pk, 1)) is None
    assert store.query(pk, "ITEM#", limit=10) .records == []
    assert store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records == []


def test_delete_of_a_missing_record_without_condition_returns_none(store, pk):
    assert store.delete(Delete(item(pk, 1))) is None


# --- transactions ----------------------------------------------------------------------------------


def test_transact_writes_every_put(store, pk):
    store.transact([
        Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "f", "expires_at": NOW}, condition=AbsentOrExpired(NOW)),
        Put(item(pk, 1), {"title": "a"}, index=IndexKey(status(pk, "open"), "ITEM#0001"), condition=Absent()),
    ])
    assert store.get(Key(pk, "IDEMPOTENCY#k")) == {"fingerprint": "f", "expires_at": NOW}
    assert store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records == [{"title": "a"}]


def test_transact_whose_second_condition_fails_writes_nothing_and_reports_index_1(store, pk):
    store.put(Put(item(pk, 1), {"title": "already here"}))

    with pytest.raises(ConditionFailed) as failed:
        store.transact([
            Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "f"}, condition=Absent()),
            Put(item(pk, 1), {"title": "new"}, condition=Absent()),
        ])

    assert failed.value.index == 1
    assert failed.value.existing == {"title": "already here"}
    assert store.get(Key(pk, "IDEMPOTENCY#k")) is None
    assert store.get(item(pk, 1)) == {"title": "already here"}


def test_transact_whose_first_condition_fails_reports_index_0_with_the_stored_record(store, pk):
    store.put(Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "f", "expires_at": NOW + 1}))

    with pytest.raises(ConditionFailed) as failed:
        store.transact([
            Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "g"}, condition=AbsentOrExpired(NOW)),
            Put(item(pk, 1), {"title": "new"}, condition=Absent()),
        ])

    assert failed.value.index == 0
    assert failed.value.existing == {"fingerprint": "f", "expires_at": NOW + 1}
    assert store.get(item(pk, 1)) is None


def test_transact_failing_on_a_missing_record_reports_no_existing_record(store, pk):
    with pytest.raises(ConditionFailed) as failed:
        store.transact([
            Put(item(pk, 1), {"title": "a"}, condition=Absent()),
            Put(item(pk, 2), {"title": "b"}, condition=VersionIs(1)),
        ])
    assert (failed.value.index, failed.value.existing) == (1, None)
    assert store.get(item(pk, 1)) is None


def test_transact_overwrites_an_expired_idempotency_record(store, pk):
    store.put(Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "old", "expires_at": NOW - 1}))
    store.transact([
        Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "new"}, condition=AbsentOrExpired(NOW)),
        Put(item(pk, 1), {"title": "a"}, condition=Absent()),
    ])
    assert store.get(Key(pk, "IDEMPOTENCY#k")) == {"fingerprint": "new"}


def test_transact_with_two_puts_on_one_key_is_rejected(store, pk):
    with pytest.raises(ValueError):
        store.transact([Put(item(pk, 1), {"n": 1}), Put(item(pk, 1), {"n": 2})])
    assert store.get(item(pk, 1)) is None


def test_transact_of_no_puts_does_nothing(store):
    store.transact([])


def record_activity(pk: str, event_id: str, at: str) -> list:
    """The activity consumer's transaction: the event once, and the counters it moves."""
    return [Put(Key(pk, f"ACTIVITY#{event_id}"), {"event": event_id}, condition=Absent()),
            Update(Key(pk, "STATS"), add={"todo": 1, "total": 1}, set={"updated_at": at})]


def test_transact_with_update_increments_counters_and_puts_atomically(store, pk):
    store.put(Put(Key(pk, "STATS"), {"todo": 2, "total": 5, "done": 3, "updated_at": "t0"}))

    store.transact(record_activity(pk, "e1", at="t1"))

    assert store.get(Key(pk, "ACTIVITY#e1")) == {"event": "e1"}
    assert store.get(Key(pk, "STATS")) == {"todo": 3, "total": 6, "done": 3, "updated_at": "t1"}


def test_transact_failed_put_condition_leaves_the_update_unapplied(store, pk):
    store.transact(record_activity(pk, "e1", at="t1"))

    with pytest.raises(ConditionFailed) as failed:  # the same event, redelivered
        store.transact(record_activity(pk, "e1", at="t2"))

    assert (failed.value.index, failed.value.existing) == (0, {"event": "e1"})
    assert store.get(Key(pk, "STATS")) == {"todo": 1, "total": 1, "updated_at": "t1"}


@pytest.mark.parametrize("stored, condition", [({"version": 1}, VersionIs(2)), (None, Exists())],
                         ids=["version-mismatch", "missing"])
def test_transact_update_condition_failure_reports_its_index_and_record(store, pk, stored, condition):
    if stored is not None:
        store.put(Put(item(pk, 2), stored))

    with pytest.raises(ConditionFailed) as failed:
        store.transact([
            Put(item(pk, 1), {"title": "a"}, condition=Absent()),
            Update(item(pk, 2), set={"title": "b"}, add={"version": 1}, condition=condition),
        ])

    assert (failed.value.index, failed.value.existing) == (1, stored)
    assert store.get(item(pk, 1)) is None
    assert store.get(item(pk, 2)) == stored


def test_transact_update_upserts_a_missing_record(store, pk):
    store.transact([
        Put(item(pk, 1), {"title": "a"}),
        Update(Key(pk, "STATS"), set={"updated_at": "t1"}, set_if_absent={"created_at": "t1"},
               add={"total": 1}),
    ])
    assert store.get(Key(pk, "STATS")) == {"updated_at": "t1", "created_at": "t1", "total": 1}


def test_transact_update_conditions_see_the_state_before_the_transaction(store, pk):
    store.put(Put(item(pk, 2), {"version": 1}))
    store.transact([
        Update(item(pk, 2), add={"version": 1}, condition=VersionIs(1)),
        Put(item(pk, 1), {"title": "a"}, condition=Absent()),
    ])
    assert store.get(item(pk, 2)) == {"version": 2}


def test_transact_update_moves_the_record_between_index_partitions(store, pk):
    store.put(Put(item(pk, 1), {"status": "open"}, index=IndexKey(status(pk, "open"), "ITEM#0001")))
    store.put(Put(item(pk, 2), {"status": "open"}, index=IndexKey(status(pk, "open"), "ITEM#0002")))

    store.transact([
        Update(item(pk, 1), set={"status": "done"}, index=IndexKey(status(pk, "done"), "ITEM#0001")),
        Update(item(pk, 2), set={"title": "kept in its partition"}),
    ])

    assert store.query(status(pk, "done"), "ITEM#", limit=10, index=True).records == [{"status": "done"}]
    assert store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records == [
        {"status": "open", "title": "kept in its partition"}]


def test_transact_with_a_put_and_an_update_on_one_key_is_rejected(store, pk):
    with pytest.raises(ValueError):
        store.transact([Put(item(pk, 1), {"n": 1}), Update(item(pk, 1), add={"n": 1})])
    assert store.get(item(pk, 1)) is None


def test_transact_with_an_update_that_changes_nothing_is_rejected(store, pk):
    # DynamoDB needs an update expression inside a transaction; an empty Update has none.
    with pytest.raises(ValueError):
        store.transact([Put(item(pk, 1), {"n": 1}), Update(item(pk, 2), condition=Exists())])
    assert store.get(item(pk, 1)) is None


# --- queries ---------------------------------------------------------------------------------------


def put_items(store, pk: str, count: int, *, index_status: str | None = None) -> None:
    for n in range(1, count + 1):
        index = IndexKey(status(pk, index_status), f"ITEM#{n:04d}") if index_status else None
        store.put(Put(item(pk, n), {"n": n}, index=index))


def test_query_returns_records_newest_first(store, pk):
    for n in (3, 1, 2):
        store.put(Put(item(pk, n), {"n": n}))
    assert store.query(pk, "ITEM#", limit=10) .records == [{"n": 3}, {"n": 2}, {"n": 1}]


def test_query_returns_only_records_whose_sort_key_has_the_prefix(store, pk):
    put_items(store, pk, 2)
    for sk in ("IDEMPOTENCY#abc", "METADATA", "STATS", "ACTIVITY#1#e", "ITEM", "ITEM$", "ITEMS#1", "item#1"):
        store.put(Put(Key(pk, sk), {"sk": sk}))

    page = store.query(pk, "ITEM#", limit=50)
    assert page.records == [{"n": 2}, {"n": 1}]
    assert page.more is False
    assert store.query(pk, "ITEM#", limit=1, after="ITEM#0001") .records == []
    assert store.query(pk, "IDEMPOTENCY#", limit=5).records == [{"sk": "IDEMPOTENCY#abc"}]


def test_query_pages_with_after_return_every_record_once_in_order(store, pk):
    put_items(store, pk, 55)
    store.put(Put(Key(pk, "IDEMPOTENCY#x"), {"other": True}))
    store.put(Put(Key(pk, "METADATA"), {"other": True}))

    seen, pages, after = [], [], None
    while True:
        page = store.query(pk, "ITEM#", limit=10, after=after)
        pages.append(page)
        seen.extend(record["n"] for record in page.records)
        if not page.more:
            break
        after = f"ITEM#{page.records[-1]['n']:04d}"

    assert seen == list(range(55, 0, -1))
    assert [len(page.records) for page in pages] == [10, 10, 10, 10, 10, 5]
    assert [page.more for page in pages] == [True] * 5 + [False]


def test_query_with_limit_equal_to_the_remaining_records_reports_no_more(store, pk):
    put_items(store, pk, 20)
    first = store.query(pk, "ITEM#", limit=10)
    second = store.query(pk, "ITEM#", limit=10, after="ITEM#0011")
    assert first.more is True
    assert [r["n"] for r in second.records] == list(range(10, 0, -1))
    assert second.more is False
    assert store.query(pk, "ITEM#", limit=20).more is False


def test_query_after_a_sort_key_outside_the_prefix_range_bounds_it_from_above_only(store, pk):
    put_items(store, pk, 3)
    store.put(Put(Key(pk, "METADATA"), {"other": True}))
    store.put(Put(Key(pk, "IDEMPOTENCY#k"), {"other": True}))

    above = store.query(pk, "ITEM#", limit=10, after="METADATA")
    below = store.query(pk, "ITEM#", limit=10, after="IDEMPOTENCY#z")

    assert (above.records, above.more) == ([{"n": 3}, {"n": 2}, {"n": 1}], False)
    assert (below.records, below.more) == ([], False)


def test_query_after_a_sort_key_that_no_longer_exists_continues_below_it(store, pk):
    put_items(store, pk, 5)
    store.delete(Delete(item(pk, 3)))
    page = store.query(pk, "ITEM#", limit=10, after="ITEM#0003")
    assert page.records == [{"n": 2}, {"n": 1}]


def test_query_of_an_empty_partition_is_an_empty_last_page(store, pk):
    page = store.query(pk, "ITEM#", limit=10)
    assert (page.records, page.more) == ([], False)


def test_index_query_pages_newest_first_within_its_partition_only(store, pk):
    put_items(store, pk, 25, index_status="open")
    store.put(Put(item(pk, 100), {"n": 100}, index=IndexKey(status(pk, "done"), "ITEM#0100")))
    store.put(Put(item(pk, 101), {"n": 101}))  # no index key: not in the index at all

    seen, after = [], None
    while True:
        page = store.query(status(pk, "open"), "ITEM#", limit=10, index=True, after=after)
        seen.extend(record["n"] for record in page.records)
        if not page.more:
            break
        after = f"ITEM#{page.records[-1]['n']:04d}"

    assert seen == list(range(25, 0, -1))
    assert store.query(status(pk, "done"), "ITEM#", limit=10, index=True).records == [{"n": 100}]
    # The index partition names are not sort keys of the table, nor the reverse.
    assert store.query(status(pk, "open"), "ITEM#", limit=10).records == []


def test_index_query_with_limit_equal_to_the_records_reports_no_more(store, pk):
    put_items(store, pk, 10, index_status="open")
    page = store.query(status(pk, "open"), "ITEM#", limit=10, index=True)
    assert len(page.records) == 10 and page.more is False
    page = store.query(status(pk, "open"), "ITEM#", limit=5, index=True, after="ITEM#0006")
    assert [r["n"] for r in page.records] == [5, 4, 3, 2, 1] and page.more is False


# Sort keys from a small alphabet with multi-byte characters (and the highest code point, to test
# the edge of the prefix range) so that ordering and prefix bounds are exercised on UTF-8 bytes.
ALPHABET = "#AZaz~\u00e9\u20ac\uffff\U0001f600\U0010ffff"
sort_keys = st.text(ALPHABET, min_size=1, max_size=5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.sets(sort_keys, max_size=12), prefix=st.text(ALPHABET, max_size=2),
       after=st.none() | sort_keys, limit=st.integers(1, 5))
def test_query_agrees_with_a_sorted_list_model(store, keys, prefix, after, limit):
    partition = f"MODEL#{uuid.uuid4().hex}"
    for sk in keys:
        store.put(Put(Key(partition, sk), {"sk": sk}))

    matching = sorted((sk for sk in keys if sk.startswith(prefix) and (after is None or sk < after)),
                      reverse=True)
    page = store.query(partition, prefix, limit=limit, after=after)

    assert [record["sk"] for record in page.records] == matching[:limit]
    assert page.more == (len(matching) > limit)


# --- concurrency -----------------------------------------------------------------------------------


def test_concurrent_absent_puts_on_one_key_let_exactly_one_win(store, pk):
    outcomes = run_together(20, lambda i: store.put(Put(item(pk, 1), {"writer": i}, condition=Absent())))

    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1, outcomes
    losers = [outcome for outcome in outcomes if outcome is not None]
    assert all(isinstance(outcome, ConditionFailed) for outcome in losers), losers
    assert all(outcome.existing == {"writer": winners[0]} for outcome in losers)


def test_concurrent_version_conditioned_updates_let_exactly_one_win(store, pk):
    store.put(Put(item(pk, 1), {"version": 1, "writer": None}))

    outcomes = run_together(20, lambda i: store.update(
        Update(item(pk, 1), set={"version": 2, "writer": i}, condition=VersionIs(1))))

    winners = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(outcome, ConditionFailed) and outcome.existing == winners[0]
               for outcome in outcomes if outcome is not winners[0]), outcomes
    assert store.get(item(pk, 1)) == winners[0]


def test_concurrent_adds_are_never_lost(store, pk):
    outcomes = run_together(20, lambda i: store.update(Update(Key(pk, "STATS"), add={"count": 1})))
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert store.get(Key(pk, "STATS")) == {"count": 20}


def test_concurrent_transactions_on_one_key_let_exactly_one_win(store, pk):
    def create(i: int) -> None:
        store.transact([
            Put(Key(pk, "IDEMPOTENCY#k"), {"writer": i}, condition=AbsentOrExpired(NOW)),
            Put(item(pk, i), {"writer": i}, condition=Absent()),
        ])

    outcomes = run_together(10, create)

    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1, outcomes
    for outcome in outcomes:
        if isinstance(outcome, ConditionFailed):
            assert (outcome.index, outcome.existing) == (0, {"writer": winners[0]})
        else:  # DynamoDB may refuse a transaction that raced another one
            assert outcome is None or isinstance(outcome, TransactionConflict), outcome
    assert store.query(pk, "ITEM#", limit=20).records == [{"writer": winners[0]}]


def test_concurrent_transactions_adding_to_one_counter_never_lose_an_increment(store, pk):
    def record(i: int) -> None:
        ops = [Put(Key(pk, f"ACTIVITY#{i}"), {"event": i}, condition=Absent()),
               Update(Key(pk, "STATS"), add={"n": 1})]
        for _ in range(100):
            try:
                return store.transact(ops)
            except TransactionConflict:  # retrying is the caller's duty; DynamoDB refuses racing ones
                time.sleep(0.01)
        raise AssertionError("still conflicting after 100 attempts")

    outcomes = run_together(10, record)

    assert outcomes == [None] * 10
    assert store.get(Key(pk, "STATS")) == {"n": 10}
    assert len(store.query(pk, "ACTIVITY#", limit=20).records) == 10


# --- DynamoDB only: one request per call, schema, errors ---------------------------------------------


def one_request(dynamodb_store, operation: str, call: Callable[[], object]) -> object:
    with count_requests(dynamodb_store.client) as requests:
        try:
            result = call()
        except ConditionFailed as failed:
            result = failed
    assert (requests.total, dict(requests.by_operation)) == (1, {operation: 1})
    return result


def test_dynamodb_reads_are_one_request_each(dynamodb_store, pk):
    put_items(dynamodb_store, pk, 12, index_status="open")
    open_partition = status(pk, "open")

    assert one_request(dynamodb_store, "GetItem", lambda: dynamodb_store.get(item(pk, 1))) == {"n": 1}
    assert one_request(dynamodb_store, "GetItem", lambda: dynamodb_store.get(item(pk, 99))) is None
    page = one_request(dynamodb_store, "Query", lambda: dynamodb_store.query(pk, "ITEM#", limit=5))
    assert page.more and len(page.records) == 5
    page = one_request(dynamodb_store, "Query",
                       lambda: dynamodb_store.query(pk, "ITEM#", limit=5, after="ITEM#0003"))
    assert page.records == [{"n": 2}, {"n": 1}] and not page.more
    page = one_request(dynamodb_store, "Query",
                       lambda: dynamodb_store.query(open_partition, "ITEM#", limit=5, index=True))
    assert page.more and len(page.records) == 5
    page = one_request(dynamodb_store, "Query", lambda: dynamodb_store.query(
        open_partition, "ITEM#", limit=5, index=True, after="ITEM#0006"))
    assert [r["n"] for r in page.records] == [5, 4, 3, 2, 1] and page.more is False


def test_dynamodb_writes_are_one_request_each_even_when_a_condition_fails(dynamodb_store, pk):
    s = dynamodb_store
    one_request(s, "PutItem", lambda: s.put(Put(item(pk, 1), {"version": 1}, condition=Absent())))
    failed = one_request(s, "PutItem", lambda: s.put(Put(item(pk, 1), {"version": 9}, condition=Absent())))
    assert failed.existing == {"version": 1}

    after = one_request(s, "UpdateItem", lambda: s.update(
        Update(item(pk, 1), set={"t": "x"}, set_if_absent={"c": 0}, add={"version": 1},
               index=IndexKey(status(pk, "open"), "ITEM#0001"), condition=VersionIs(1))))
    assert after == {"version": 2, "t": "x", "c": 0}
    failed = one_request(s, "UpdateItem", lambda: s.update(
        Update(item(pk, 1), set={"t": "y"}, condition=VersionIs(1))))
    assert failed.existing == after

    failed = one_request(s, "DeleteItem", lambda: s.delete(Delete(item(pk, 1), condition=VersionIs(7))))
    assert failed.existing == after
    assert one_request(s, "DeleteItem", lambda: s.delete(Delete(item(pk, 1), condition=Exists()))) == after
    failed = one_request(s, "DeleteItem", lambda: s.delete(Delete(item(pk, 1), condition=Exists())))
    assert failed.existing is None

    ops = [Put(Key(pk, "IDEMPOTENCY#k"), {"f": 1}, condition=AbsentOrExpired(NOW)),
           Put(item(pk, 2), {"n": 2}, condition=Absent())]
    one_request(s, "TransactWriteItems", lambda: s.transact(ops))
    failed = one_request(s, "TransactWriteItems", lambda: s.transact(ops))
    assert (failed.index, failed.existing) == (0, {"f": 1})


def test_dynamodb_transact_with_an_update_and_update_returning_old_are_one_request_each(dynamodb_store, pk):
    s = dynamodb_store
    one_request(s, "TransactWriteItems", lambda: s.transact(record_activity(pk, "e1", at="t1")))
    failed = one_request(s, "TransactWriteItems", lambda: s.transact([
        Put(item(pk, 1), {"title": "a"}, condition=Absent()),
        Update(Key(pk, "STATS"), add={"total": 1}, condition=VersionIs(1)),
    ]))
    assert (failed.index, failed.existing) == (1, {"todo": 1, "total": 1, "updated_at": "t1"})

    old = one_request(s, "UpdateItem", lambda: s.update(
        Update(Key(pk, "STATS"), add={"total": 1}, returns="old")))
    assert old == {"todo": 1, "total": 1, "updated_at": "t1"}


def test_dynamodb_reads_of_the_table_are_strongly_consistent_and_index_reads_use_gsi1(dynamodb_store, pk):
    sent: list[tuple[str, dict]] = []

    def record(event_name: str, params: dict, **_: object) -> None:
        sent.append((event_name.rsplit(".", 1)[-1], dict(params)))

    events = dynamodb_store.client.meta.events
    events.register("before-parameter-build.dynamodb", record, unique_id="consistency-probe")
    try:
        dynamodb_store.get(item(pk, 1))
        dynamodb_store.query(pk, "ITEM#", limit=1)
        dynamodb_store.query(status(pk, "open"), "ITEM#", limit=1, index=True)
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="consistency-probe")

    (_, get), (_, table_query), (_, index_query) = sent
    assert get["ConsistentRead"] is True and table_query["ConsistentRead"] is True
    assert "IndexName" not in table_query
    # A GSI cannot be read consistently; asking would be a ValidationException.
    assert index_query["IndexName"] == "GSI1" and "ConsistentRead" not in index_query


def test_dynamodb_ensure_schema_creates_table_index_and_ttl_and_can_run_again(dynamodb_endpoint, fake_aws):
    from chalicelib.store.dynamodb import DynamoDBStore

    store = DynamoDBStore(unique_table_name(), endpoint_url=dynamodb_endpoint)
    store.ensure_schema()
    store.ensure_schema()

    table = store.client.describe_table(TableName=store.table_name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"PK": "HASH", "SK": "RANGE"}
    [gsi] = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1" and gsi["Projection"]["ProjectionType"] == "ALL"
    ttl = store.client.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    store.client.delete_table(TableName=store.table_name)
    store.client.close()


def test_dynamodb_ensure_schema_without_a_local_endpoint_sends_nothing():
    from chalicelib.store.dynamodb import DynamoDBStore

    store = DynamoDBStore("tasks-prod")
    store.ensure_schema()
    assert store._client is None  # never even built a client: tables on AWS belong to the stack


def test_dynamodb_unreachable_endpoint_raises_store_unavailable(fake_aws, monkeypatch):
    import socket

    from chalicelib.store.dynamodb import DynamoDBStore

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = DynamoDBStore("tasks", endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(StoreUnavailable) as raised:
        store.get(Key("USER#a", "METADATA"))
    assert raised.value.__cause__ is not None


def test_dynamodb_throttling_raises_store_unavailable(dynamodb_endpoint, fake_aws, monkeypatch, pk):
    from botocore.awsrequest import AWSResponse

    from chalicelib.store.dynamodb import DynamoDBStore

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = DynamoDBStore("tasks", endpoint_url=dynamodb_endpoint)
    body = (b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
            b'"message":"throttled"}')

    def throttle(**_: object) -> AWSResponse:
        # Fault injection in front of the real endpoint: DynamoDB Local never throttles.
        return AWSResponse("http://local", 400, {"Content-Type": "application/x-amz-json-1.0"},
                           _Raw(body))

    store.client.meta.events.register("before-send.dynamodb.GetItem", throttle)
    with pytest.raises(StoreUnavailable):
        store.get(Key(pk, "METADATA"))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object):
        yield self._body


# --- SQLite only: query plans, files, processes ----------------------------------------------------


@pytest.mark.parametrize("index", [False, True], ids=["table", "index"])
@pytest.mark.parametrize("after", [None, "ITEM#0005"], ids=["first-page", "after"])
def test_sqlite_queries_search_a_key_range_instead_of_scanning(sqlite_store, pk, index, after):
    put_items(sqlite_store, pk, 30, index_status="open")
    partition = status(pk, "open") if index else pk

    plan = " | ".join(sqlite_store.query_plan(partition, "ITEM#", limit=10, index=index, after=after))

    used = "USING INDEX records_gsi1 (gsi1pk=? AND gsi1sk>? AND gsi1sk<?)" if index \
        else "USING PRIMARY KEY (pk=? AND sk>? AND sk<?)"
    assert plan == f"SEARCH records {used}"  # no SCAN, no temporary B-tree for the ORDER BY


def test_sqlite_store_creates_parent_directories_and_uses_wal(tmp_path):
    import sqlite3

    from chalicelib.store.sqlite import SQLiteStore

    path = tmp_path / "a" / "b" / "store.db"
    store = SQLiteStore(str(path))
    store.ensure_schema()
    store.ensure_schema()
    store.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sqlite_stores_on_one_file_share_their_records(tmp_path, pk):
    from chalicelib.store.sqlite import SQLiteStore

    first, second = SQLiteStore(str(tmp_path / "s.db")), SQLiteStore(str(tmp_path / "s.db"))
    first.put(Put(item(pk, 1), {"n": 1}))
    assert second.get(item(pk, 1)) == {"n": 1}
    first.close()
    second.close()


WRITER = """
import sys
from chalicelib.store.base import Key, Update
from chalicelib.store.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
for _ in range(25):
    store.update(Update(Key("P", "STATS"), add={"count": 1}))
store.close()
"""


def test_sqlite_writers_in_separate_processes_wait_for_each_other(tmp_path):
    from chalicelib.store.sqlite import SQLiteStore

    path = str(tmp_path / "shared.db")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, path], cwd=root) for _ in range(4)]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0, 0, 0]

    store = SQLiteStore(path)
    assert store.get(Key("P", "STATS")) == {"count": 100}
    store.close()


class _LockedAtFirst:
    """A connection whose journal-mode switch meets another process opening the same new file."""

    def __init__(self, failures: int, message: str = "database is locked") -> None:
        self.failures, self.message, self.switched = failures, message, False

    def execute(self, sql: str):
        if sql == "PRAGMA journal_mode = WAL":
            if self.failures:
                self.failures -= 1
                raise sqlite3.OperationalError(self.message)
            self.switched = True
        return self

    def fetchone(self):
        return ("delete",)


def test_switching_a_new_file_to_wal_waits_while_another_process_holds_it():
    from chalicelib.sqlite_pool import _use_wal

    conn = _LockedAtFirst(failures=3)
    _use_wal(conn)
    assert conn.switched


def test_switching_to_wal_does_not_retry_other_errors():
    from chalicelib.sqlite_pool import _use_wal

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _use_wal(_LockedAtFirst(failures=1, message="disk I/O error"))
