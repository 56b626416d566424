"""The store port's update (set, set_if_absent, add, index, returns), on each adapter."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConditionFailed
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from chalicelib.store.base import VersionIs
from tests.support.store import item
from tests.support.store import status


def test_update_set_overwrites_named_attributes_and_keeps_the_others(store, pk):
    store.put(Put(item(pk, 1), {"title": "a", "notes": "keep", "version": 1}))
    after = store.update(Update(item(pk, 1), set={"title": "b", "due": None}))
    assert after == {"title": "b", "notes": "keep", "version": 1, "due": None}
    assert store.get(item(pk, 1)) == after


def test_update_without_condition_upserts_a_missing_record(store, pk):
    key = Key(pk, "METADATA")
    after = store.update(Update(key, set={"username": "alice"}, set_if_absent={"created_at": "t0"}, add={"logins": 1}))
    assert after == {"username": "alice", "created_at": "t0", "logins": 1}
    assert store.get(key) == after


def test_update_set_if_absent_writes_only_attributes_the_record_lacks(store, pk):
    key = Key(pk, "METADATA")
    store.put(Put(key, {"created_at": "t0", "display_name": None}))
    after = store.update(
        Update(key, set={"last_seen_at": "t1"}, set_if_absent={"created_at": "t1", "display_name": "x", "email": "e"})
    )
    # An attribute stored as null exists: it is kept, as DynamoDB's if_not_exists keeps it.
    assert after == {"created_at": "t0", "display_name": None, "email": "e", "last_seen_at": "t1"}


def test_update_add_increments_numbers_and_counts_a_missing_one_as_zero(store, pk):
    key = Key(pk, "STATS")
    store.put(Put(key, {"created": 5}))
    after = store.update(Update(key, add={"created": 2, "deleted": 1, "open": -3}))
    assert after == {"created": 7, "deleted": 1, "open": -3}


def test_update_returns_the_whole_record_as_it_is_afterwards(store, pk):
    store.put(Put(item(pk, 1), {"title": "a", "tags": ["x"], "version": 3}))
    after = store.update(Update(item(pk, 1), set={"tags": ["y", "z"]}, add={"version": 1}, condition=VersionIs(3)))
    assert after == {"title": "a", "tags": ["y", "z"], "version": 4}


def test_update_with_index_moves_the_record_to_the_new_index_partition_only(store, pk):
    store.put(Put(item(pk, 1), {"title": "a", "status": "open"}, index_key=IndexKey(status(pk, "open"), "ITEM#0001")))
    store.put(Put(item(pk, 2), {"title": "b", "status": "open"}, index_key=IndexKey(status(pk, "open"), "ITEM#0002")))

    store.update(Update(item(pk, 1), set={"status": "done"}, index_key=IndexKey(status(pk, "done"), "ITEM#0001")))

    open_page = store.query(status(pk, "open"), "ITEM#", limit=10, index=True)
    done_page = store.query(status(pk, "done"), "ITEM#", limit=10, index=True)
    assert open_page.records == [{"title": "b", "status": "open"}]
    assert done_page.records == [{"title": "a", "status": "done"}]


def test_update_without_index_keeps_the_record_in_its_index_partition(store, pk):
    store.put(Put(item(pk, 1), {"title": "a"}, index_key=IndexKey(status(pk, "open"), "ITEM#0001")))
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


@pytest.mark.parametrize(
    "before", [None, {"title": "a", "created_at": "t0", "version": 4, "tags": ["x"]}], ids=["missing", "stored"]
)
def test_update_after_matches_what_the_store_holds(store, pk, before):
    if before is not None:
        store.put(Put(item(pk, 1), before, index_key=IndexKey(status(pk, "open"), "ITEM#0001")))
    op = Update(
        item(pk, 1),
        set={"title": "b", "due": None},
        set_if_absent={"created_at": "t1", "notes": ""},
        add={"version": 1, "edits": 2},
        index_key=IndexKey(status(pk, "done"), "ITEM#0001"),
        returns="old",
    )

    old = store.update(op)

    assert old == before
    assert op.after(old) == store.get(item(pk, 1))
    assert old == before  # after() computes, it never changes what it is given


def test_update_with_an_unknown_returns_is_rejected():
    with pytest.raises(ValueError):
        Update(Key("USER#a", "METADATA"), set={"t": "x"}, returns="bogus")
