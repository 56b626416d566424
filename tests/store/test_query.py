"""The store port's query: newest first, prefix, pages, the index, on each adapter."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from chalicelib.store.base import Delete
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from tests.support.store import item
from tests.support.store import put_items
from tests.support.store import status


def test_query_returns_records_newest_first(store, pk):
    for n in (3, 1, 2):
        store.put(Put(item(pk, n), {"n": n}))
    assert store.query(pk, "ITEM#", limit=10).records == [{"n": 3}, {"n": 2}, {"n": 1}]


def test_query_returns_only_records_whose_sort_key_has_the_prefix(store, pk):
    put_items(store, pk, 2)
    for sk in ("IDEMPOTENCY#abc", "METADATA", "STATS", "ACTIVITY#1#e", "ITEM", "ITEM$", "ITEMS#1", "item#1"):
        store.put(Put(Key(pk, sk), {"sk": sk}))

    page = store.query(pk, "ITEM#", limit=50)
    assert page.records == [{"n": 2}, {"n": 1}]
    assert page.more is False
    assert store.query(pk, "ITEM#", limit=1, after="ITEM#0001").records == []
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
    store.put(Put(item(pk, 100), {"n": 100}, index_key=IndexKey(status(pk, "done"), "ITEM#0100")))
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
@given(
    keys=st.sets(sort_keys, max_size=12),
    prefix=st.text(ALPHABET, max_size=2),
    after=st.none() | sort_keys,
    limit=st.integers(1, 5),
)
def test_query_agrees_with_a_sorted_list_model(store, keys, prefix, after, limit):
    partition = f"MODEL#{uuid.uuid4().hex}"
    for sk in keys:
        store.put(Put(Key(partition, sk), {"sk": sk}))

    matching = sorted((sk for sk in keys if sk.startswith(prefix) and (after is None or sk < after)), reverse=True)
    page = store.query(partition, prefix, limit=limit, after=after)

    assert [record["sk"] for record in page.records] == matching[:limit]
    assert page.more == (len(matching) > limit)
