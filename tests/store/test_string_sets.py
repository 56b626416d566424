"""The store port's string sets (an Update's add_to_set and delete_from_set) on each adapter, and a store made
without transactions (a table in multi-Region strong consistency) refusing them before any request."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConditionFailed
from chalicelib.store.base import AttributeIs
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from tests.support.store import record_activity


def test_add_to_set_creates_the_set_and_reads_back_as_a_sorted_list(store, pk):
    key = Key(pk, "STATS")
    after = store.update(Update(key, add={"total": 1}, add_to_set={"applying_ids": {"b", "a"}}))
    assert after == {"total": 1, "applying_ids": ["a", "b"]}
    assert store.get(key) == after


def test_add_to_set_keeps_each_string_once(store, pk):
    key = Key(pk, "STATS")
    store.update(Update(key, add_to_set={"ids": {"a", "b"}}))
    after = store.update(Update(key, add_to_set={"ids": {"b", "c"}}))
    assert after == {"ids": ["a", "b", "c"]}


def test_delete_from_set_takes_strings_out_and_ignores_absent_ones(store, pk):
    key = Key(pk, "STATS")
    store.update(Update(key, set={"n": 1}, add_to_set={"ids": {"a", "b"}}))
    assert store.update(Update(key, delete_from_set={"ids": {"a", "z"}})) == {"n": 1, "ids": ["b"]}


def test_taking_the_last_string_out_removes_the_attribute(store, pk):
    key = Key(pk, "STATS")
    store.update(Update(key, set={"n": 1}, add_to_set={"ids": {"a"}}))
    assert store.update(Update(key, delete_from_set={"ids": {"a"}})) == {"n": 1}
    assert store.update(Update(key, delete_from_set={"ids": {"a"}})) == {"n": 1}  # again: no error
    assert store.get(key) == {"n": 1}


def test_a_set_update_respects_its_condition(store, pk):
    key = Key(pk, "STATS")
    store.update(Update(key, add={"applied": 1}))
    with pytest.raises(ConditionFailed) as failed:
        store.update(Update(key, add={"applied": 1}, add_to_set={"ids": {"a"}}, condition=AttributeIs("applied", 0)))
    assert failed.value.existing == {"applied": 1}
    assert store.get(key) == {"applied": 1}


def test_set_clauses_count_as_a_change_inside_a_transaction(store, pk):
    key = Key(pk, "STATS")
    store.update(Update(key, add_to_set={"ids": {"a"}}))
    store.transact([Update(key, delete_from_set={"ids": {"a"}}), Put(Key(pk, "OTHER"), {"x": 1})])
    assert store.get(key) == {}


@pytest.mark.parametrize(
    ("clauses", "error"),
    [
        ({"add_to_set": {"ids": set()}}, ValueError),  # DynamoDB has no empty set
        ({"add_to_set": {"ids": {"a", 1}}}, ValueError),
        ({"delete_from_set": {"ids": "ab"}}, TypeError),  # one string is not a set of them
        ({"add_to_set": {"ids": {"a"}}, "delete_from_set": {"ids": {"b"}}}, ValueError),
        ({"add": {"ids": 1}, "add_to_set": {"ids": {"a"}}}, ValueError),
    ],
)
def test_malformed_set_clauses_are_refused_before_any_request(clauses, error):
    with pytest.raises(error):
        Update(Key("USER#x", "STATS"), **clauses)


def test_a_key_attribute_cannot_be_a_set(store, pk):
    with pytest.raises(ValueError):
        store.update(Update(Key(pk, "STATS"), add_to_set={"GSI1PK": {"a"}}))


def test_adding_to_an_attribute_that_is_not_a_string_set_is_refused(sqlite_store, pk):
    key = Key(pk, "STATS")
    sqlite_store.put(Put(key, {"ids": 3}))
    with pytest.raises(ValueError):
        sqlite_store.update(Update(key, add_to_set={"ids": {"a"}}))


def _without_transactions(adapter: str, tmp_path):
    if adapter == "sqlite":
        from chalicelib.store.sqlite import SQLiteStore

        return SQLiteStore(str(tmp_path / "store.db"), transactions=False)
    from chalicelib.store.dynamodb import DynamoDBStore

    # No request is made: the port refuses the call first.
    return DynamoDBStore("tasks", endpoint_url="http://127.0.0.1:9", transactions=False)


@pytest.mark.parametrize("adapter", ["sqlite", "dynamodb"])
def test_a_store_without_transactions_refuses_transact_and_writes_nothing(adapter, tmp_path):
    store = _without_transactions(adapter, tmp_path)
    assert store.transactions is False
    with pytest.raises(RuntimeError, match="no transactions"):
        store.transact(record_activity("USER#x", "e1", "t"))
    if adapter == "sqlite":
        assert store.get(Key("USER#x", "STATS")) is None


def test_stores_offer_transactions_unless_told_otherwise(sqlite_store, pk):
    assert sqlite_store.transactions is True
    sqlite_store.transact(record_activity(pk, "e1", "t"))
    assert sqlite_store.get(Key(pk, "STATS")) == {"todo": 1, "total": 1, "updated_at": "t"}
