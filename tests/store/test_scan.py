"""The operator's full-table scan, on each adapter: every partition under a prefix once, whatever its
records, and none outside it."""

from __future__ import annotations

from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Put


def test_scan_partitions_names_each_partition_under_the_prefix_once(store, pk):
    for partition in (f"{pk}#a", f"{pk}#b"):
        for sk in ("ITEM#1", "ITEM#2", "STATS"):
            store.put(Put(Key(partition, sk), {"n": 1}))
    # Under the prefix only as an index key, and beside the prefix: neither is named.
    store.put(Put(Key(f"X{pk}", "ITEM#1"), {"n": 1}, index_key=IndexKey(f"{pk}#c", "ITEM#1")))

    assert sorted(store.scan_partitions(pk)) == [f"{pk}#a", f"{pk}#b"]


def test_scan_partitions_of_a_prefix_nothing_has_is_empty(store, pk):
    assert list(store.scan_partitions(pk)) == []
