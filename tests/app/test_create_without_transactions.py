"""An idempotent create on a store without transactions (TABLE_CONSISTENCY=strong), on both adapters: three
single-record writes (tasks/items.py ``_create_in_steps``), so a create retried with the same key after the
first attempt stopped between any two of them makes one item, with one id, and replays it."""

from __future__ import annotations

import pytest

from chalicelib import keys
from chalicelib.errors import IdempotencyConflict
from chalicelib.store.base import Delete
from chalicelib.tasks.items import IDEMPOTENCY_STATE
from chalicelib.tasks.items import STATE_CREATED
from chalicelib.tasks.items import ItemService
from chalicelib.tasks.items import NewItem
from tests.support.faults import Crash
from tests.support.faults import InterruptedStore
from tests.support.store import without_transactions

SUB = "sub-alice"
KEY = "order-42"
# The idempotency record (pending), the item, the record marked done.
CREATE_WRITES = 3


@pytest.fixture
def store(adapter, env):
    return without_transactions(env)


def _create(store, title: str = "Once", fingerprint: str = "f1"):
    return ItemService(store, clock=lambda: 1_800_000_000.0).create(
        SUB, NewItem(title), idempotency_key=KEY, fingerprint=fingerprint
    )


def _items(store) -> list[dict]:
    items, _ = ItemService(store).list(SUB, limit=10)
    return items


def _record(store) -> dict:
    record = store.get(keys.idempotency_record_key(SUB, KEY))
    assert record is not None
    return record


def test_a_create_with_a_key_takes_three_single_writes_and_a_repeat_replays_it(store):
    counting = InterruptedStore(store, before=0)
    first = _create(counting)
    assert counting.writes == CREATE_WRITES and not first.replayed
    repeat = _create(store)
    assert repeat.replayed and repeat.item == first.item
    assert _items(store) == [first.item]
    assert _record(store)[IDEMPOTENCY_STATE] == STATE_CREATED


@pytest.mark.parametrize("written", range(CREATE_WRITES))
def test_a_create_stopped_after_any_write_and_retried_makes_one_item_and_replays_it(store, written):
    with pytest.raises(Crash):
        _create(InterruptedStore(store, before=written + 1))
    retried = _create(store)
    if written:  # the stopped attempt had chosen the item (its record): the retry finishes that one
        assert retried.item == _record(store)["item"] and retried.replayed
    assert _items(store) == [retried.item]
    again = _create(store)
    assert again.replayed and again.item == retried.item
    assert _items(store) == [retried.item]
    assert _record(store)[IDEMPOTENCY_STATE] == STATE_CREATED


def test_a_retry_with_another_body_while_the_first_is_pending_is_a_conflict(store):
    with pytest.raises(Crash):
        _create(InterruptedStore(store, before=2))
    with pytest.raises(IdempotencyConflict):
        _create(store, "Other", fingerprint="f2")
    assert _items(store) == []


def test_a_repeat_arriving_while_the_first_attempt_is_between_its_writes_gets_the_same_item(store):
    repeats = []
    first = _create(InterruptedStore(store, before=2, interrupt=lambda: repeats.append(_create(store))))
    [repeat] = repeats
    assert repeat.replayed and repeat.item == first.item
    assert _items(store) == [first.item]


def test_the_documented_window_an_item_deleted_while_its_record_is_pending_is_made_again_by_a_retry(store):
    """docs/DESIGN.md: the one thing the steps cannot tell apart from "never written"."""
    with pytest.raises(Crash):
        _create(InterruptedStore(store, before=3))  # the item is written, the record still pending
    [item] = _items(store)
    store.delete(Delete(keys.item_key(SUB, item["id"])))
    assert _create(store).item == item
    assert _items(store) == [item]
