"""The store port's put, on each adapter (its conditions: test_conditions.py)."""

from __future__ import annotations

from chalicelib.store.base import Put
from tests.support.store import item


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
