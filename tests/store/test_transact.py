"""The store port's transact: all or nothing, conditions judged before it, on each adapter."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConditionFailed
from chalicelib.store.base import Absent
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import Exists
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from chalicelib.store.base import VersionIs
from tests.support.store import NOW
from tests.support.store import item
from tests.support.store import record_activity
from tests.support.store import status


def test_transact_writes_every_put(store, pk):
    store.transact(
        [
            Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "f", "expires_at": NOW}, condition=AbsentOrExpired(NOW)),
            Put(item(pk, 1), {"title": "a"}, index_key=IndexKey(status(pk, "open"), "ITEM#0001"), condition=Absent()),
        ]
    )
    assert store.get(Key(pk, "IDEMPOTENCY#k")) == {"fingerprint": "f", "expires_at": NOW}
    assert store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records == [{"title": "a"}]


def test_transact_whose_second_condition_fails_writes_nothing_and_reports_index_1(store, pk):
    store.put(Put(item(pk, 1), {"title": "already here"}))

    with pytest.raises(ConditionFailed) as failed:
        store.transact(
            [
                Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "f"}, condition=Absent()),
                Put(item(pk, 1), {"title": "new"}, condition=Absent()),
            ]
        )

    assert failed.value.index == 1
    assert failed.value.existing == {"title": "already here"}
    assert store.get(Key(pk, "IDEMPOTENCY#k")) is None
    assert store.get(item(pk, 1)) == {"title": "already here"}


def test_transact_whose_first_condition_fails_reports_index_0_with_the_stored_record(store, pk):
    store.put(Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "f", "expires_at": NOW + 1}))

    with pytest.raises(ConditionFailed) as failed:
        store.transact(
            [
                Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "g"}, condition=AbsentOrExpired(NOW)),
                Put(item(pk, 1), {"title": "new"}, condition=Absent()),
            ]
        )

    assert failed.value.index == 0
    assert failed.value.existing == {"fingerprint": "f", "expires_at": NOW + 1}
    assert store.get(item(pk, 1)) is None


def test_transact_failing_on_a_missing_record_reports_no_existing_record(store, pk):
    with pytest.raises(ConditionFailed) as failed:
        store.transact(
            [
                Put(item(pk, 1), {"title": "a"}, condition=Absent()),
                Put(item(pk, 2), {"title": "b"}, condition=VersionIs(1)),
            ]
        )
    assert (failed.value.index, failed.value.existing) == (1, None)
    assert store.get(item(pk, 1)) is None


def test_transact_overwrites_an_expired_idempotency_record(store, pk):
    store.put(Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "old", "expires_at": NOW - 1}))
    store.transact(
        [
            Put(Key(pk, "IDEMPOTENCY#k"), {"fingerprint": "new"}, condition=AbsentOrExpired(NOW)),
            Put(item(pk, 1), {"title": "a"}, condition=Absent()),
        ]
    )
    assert store.get(Key(pk, "IDEMPOTENCY#k")) == {"fingerprint": "new"}


def test_transact_with_two_puts_on_one_key_is_rejected(store, pk):
    with pytest.raises(ValueError):
        store.transact([Put(item(pk, 1), {"n": 1}), Put(item(pk, 1), {"n": 2})])
    assert store.get(item(pk, 1)) is None


def test_transact_of_no_puts_does_nothing(store):
    store.transact([])


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


@pytest.mark.parametrize(
    "stored, condition", [({"version": 1}, VersionIs(2)), (None, Exists())], ids=["version-mismatch", "missing"]
)
def test_transact_update_condition_failure_reports_its_index_and_record(store, pk, stored, condition):
    if stored is not None:
        store.put(Put(item(pk, 2), stored))

    with pytest.raises(ConditionFailed) as failed:
        store.transact(
            [
                Put(item(pk, 1), {"title": "a"}, condition=Absent()),
                Update(item(pk, 2), set={"title": "b"}, add={"version": 1}, condition=condition),
            ]
        )

    assert (failed.value.index, failed.value.existing) == (1, stored)
    assert store.get(item(pk, 1)) is None
    assert store.get(item(pk, 2)) == stored


def test_transact_update_upserts_a_missing_record(store, pk):
    store.transact(
        [
            Put(item(pk, 1), {"title": "a"}),
            Update(Key(pk, "STATS"), set={"updated_at": "t1"}, set_if_absent={"created_at": "t1"}, add={"total": 1}),
        ]
    )
    assert store.get(Key(pk, "STATS")) == {"updated_at": "t1", "created_at": "t1", "total": 1}


def test_transact_update_conditions_see_the_state_before_the_transaction(store, pk):
    store.put(Put(item(pk, 2), {"version": 1}))
    store.transact(
        [
            Update(item(pk, 2), add={"version": 1}, condition=VersionIs(1)),
            Put(item(pk, 1), {"title": "a"}, condition=Absent()),
        ]
    )
    assert store.get(item(pk, 2)) == {"version": 2}


def test_transact_update_moves_the_record_between_index_partitions(store, pk):
    store.put(Put(item(pk, 1), {"status": "open"}, index_key=IndexKey(status(pk, "open"), "ITEM#0001")))
    store.put(Put(item(pk, 2), {"status": "open"}, index_key=IndexKey(status(pk, "open"), "ITEM#0002")))

    store.transact(
        [
            Update(item(pk, 1), set={"status": "done"}, index_key=IndexKey(status(pk, "done"), "ITEM#0001")),
            Update(item(pk, 2), set={"title": "kept in its partition"}),
        ]
    )

    assert store.query(status(pk, "done"), "ITEM#", limit=10, index=True).records == [{"status": "done"}]
    assert store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records == [
        {"status": "open", "title": "kept in its partition"}
    ]


def test_transact_with_a_put_and_an_update_on_one_key_is_rejected(store, pk):
    with pytest.raises(ValueError):
        store.transact([Put(item(pk, 1), {"n": 1}), Update(item(pk, 1), add={"n": 1})])
    assert store.get(item(pk, 1)) is None


def test_transact_with_an_update_that_changes_nothing_is_rejected(store, pk):
    # DynamoDB needs an update expression inside a transaction; an empty Update has none.
    with pytest.raises(ValueError):
        store.transact([Put(item(pk, 1), {"n": 1}), Update(item(pk, 2), condition=Exists())])
    assert store.get(item(pk, 1)) is None
