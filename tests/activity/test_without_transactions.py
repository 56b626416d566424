"""The activity consumer on a store without transactions (TABLE_CONSISTENCY=strong: a table in multi-Region
strong consistency), on both adapters: an event applied in four single-record writes is applied exactly once
however the deliveries stop, race or interleave (tasks/activity.py ``_record_in_steps``; docs/DESIGN.md)."""

from __future__ import annotations

import contextlib

import pytest

from chalicelib import keys
from chalicelib.errors import ConditionFailed
from chalicelib.tasks.activity import APPLYING_IDS
from chalicelib.tasks.activity import STATE
from chalicelib.tasks.activity import STATE_APPLIED
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from tests.support.activity import activity_of
from tests.support.activity import counters
from tests.support.activity import stats_of
from tests.support.faults import Crash
from tests.support.faults import InterruptedStore
from tests.support.store import without_transactions
from tests.support.threads import run_together

SUB = "sub-alice"
AT = "2026-11-28T10:00:00.000Z"
# A first delivery's writes: ACTIVITY# applying, STATS counters + id, ACTIVITY# applied, STATS without the id.
FIRST_DELIVERY_WRITES = 4


@pytest.fixture
def store(adapter, env):
    return without_transactions(env)


def _recorder(store) -> ActivityRecorder:
    return ActivityRecorder(store, clock=lambda: 1_800_000_000.0)


def _event() -> dict:
    return item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo")


def _assert_applied_once(*events: dict) -> None:
    assert counters(SUB) == {"todo": len(events), "in_progress": 0, "done": 0, "total": len(events)}
    stats = stats_of(SUB)
    assert stats is not None
    assert stats["applied"] == len(events)
    assert APPLYING_IDS not in stats  # no event left in flight
    records = activity_of(SUB)
    assert sorted(record["id"] for record in records) == sorted(event["id"] for event in events)
    assert all(record[STATE] == STATE_APPLIED for record in records)


def test_the_store_refuses_transactions_and_the_event_is_applied_in_single_writes(store):
    event = _event()
    counting = InterruptedStore(store, before=0)
    assert _recorder(counting).record(event) is True
    assert counting.writes == FIRST_DELIVERY_WRITES
    _assert_applied_once(event)
    with pytest.raises(RuntimeError):
        store.transact([])


@pytest.mark.parametrize("written", range(FIRST_DELIVERY_WRITES))
def test_a_delivery_stopped_after_any_write_is_finished_once_by_the_next(store, written):
    event = _event()
    with pytest.raises(Crash):
        _recorder(InterruptedStore(store, before=written + 1)).record(event)
    recorder = _recorder(store)
    # Counted now unless the stopped delivery had added the counters already (its second write).
    assert recorder.record(event) is (written < 2)
    assert recorder.record(event) is False
    _assert_applied_once(event)


@pytest.mark.parametrize("first", range(1, FIRST_DELIVERY_WRITES))
@pytest.mark.parametrize("second", range(1, 4))
def test_a_redelivery_stopped_midway_too_is_finished_once_by_the_third(store, first, second):
    event = _event()
    with pytest.raises(Crash):
        _recorder(InterruptedStore(store, before=first + 1)).record(event)
    with contextlib.suppress(Crash):  # or it needed fewer than ``second`` writes and finished
        _recorder(InterruptedStore(store, before=second)).record(event)
    _recorder(store).record(event)
    _recorder(store).record(event)
    _assert_applied_once(event)


@pytest.mark.parametrize("stopped_first", [False, True], ids=["first-delivery", "redelivery"])
def test_a_delivery_that_pauses_before_adding_the_counters_while_another_applies_the_event_adds_nothing(
    store, stopped_first
):
    """A delivery that has seen the ACTIVITY# record ``applying`` and then pauses, while another delivery of the
    same event takes every step (its id in and out of STATS' set again), must not add the counters when it
    resumes: the set alone cannot tell it, STATS' ``applied`` (changed since it read STATS) does."""
    event = _event()
    if stopped_first:  # an earlier delivery stopped after writing the ACTIVITY# record
        with pytest.raises(Crash):
            _recorder(InterruptedStore(store, before=2)).record(event)
    others: list[bool] = []
    paused = InterruptedStore(store, before=2, interrupt=lambda: others.append(_recorder(store).record(event)))
    assert _recorder(paused).record(event) is False
    assert others == [True]
    _assert_applied_once(event)


def test_concurrent_deliveries_of_the_same_events_apply_each_once(store):
    events = [_event() for _ in range(6)]
    deliveries = [event for event in events for _ in range(3)]
    recorder = _recorder(store)

    applied = run_together(len(deliveries), lambda n: recorder.record(deliveries[n]))

    assert [outcome for outcome in applied if not isinstance(outcome, bool)] == []  # no delivery raised
    assert sorted(d["id"] for d, now in zip(deliveries, applied, strict=True) if now) == sorted(e["id"] for e in events)
    _assert_applied_once(*events)


def test_an_activity_record_written_by_a_transaction_counts_as_applied(store):
    """A record without ``state`` (as the transactional path writes them) is an event already applied."""
    from chalicelib.store.base import Put

    event = _event()
    store.put(Put(keys.activity_key(SUB, AT, event["id"]), {"id": event["id"], "at": AT}))
    assert _recorder(store).record(event) is False
    assert stats_of(SUB) is None


class _Silent:
    """A store whose refused conditional put does not say what is stored (no adapter does this today)."""

    def __init__(self, store) -> None:
        self._store = store
        self.transactions = store.transactions

    def put(self, put):
        raise ConditionFailed(None)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_a_refusal_that_does_not_say_what_is_stored_is_retried_never_taken_as_applied(store):
    event = _event()

    with pytest.raises(ConditionFailed):
        _recorder(_Silent(store)).record(event)

    assert _recorder(store).record(event) is True  # the redelivery applies it
    _assert_applied_once(event)
