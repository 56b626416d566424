"""The store port's delete, on each adapter."""

from __future__ import annotations

from chalicelib.store.base import Delete
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Put
from tests.support.store import item
from tests.support.store import status


def test_delete_returns_the_old_record_and_removes_it_from_table_and_index(store, pk):
    store.put(Put(item(pk, 1), {"title": "a"}, index_key=IndexKey(status(pk, "open"), "ITEM#0001")))

    assert store.delete(Delete(item(pk, 1))) == {"title": "a"}

    assert store.get(item(pk, 1)) is None
    assert store.query(pk, "ITEM#", limit=10).records == []
    assert store.query(status(pk, "open"), "ITEM#", limit=10, index=True).records == []


def test_delete_of_a_missing_record_without_condition_returns_none(store, pk):
    assert store.delete(Delete(item(pk, 1))) is None
