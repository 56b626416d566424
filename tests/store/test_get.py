"""The store port's get (and what every read returns), on each adapter."""

from __future__ import annotations

from chalicelib.store.base import Delete
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from tests.support.store import item
from tests.support.store import status

KEY_ATTRIBUTES = {"PK", "SK", "GSI1PK", "GSI1SK", "pk", "sk", "gsi1pk", "gsi1sk"}


def test_get_of_a_missing_record_returns_none(store, pk):
    assert store.get(Key(pk, "METADATA")) is None


def test_records_never_include_key_or_index_attributes(store, pk):
    open_index = IndexKey(status(pk, "open"), "ITEM#0001")
    store.put(Put(item(pk, 1), {"title": "a", "version": 1}, index_key=open_index))

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
