"""The consumer use-case on both store adapters: an event becomes one ACTIVITY# record and moves STATS,
exactly once however often it is delivered and in whatever order events arrive."""

from __future__ import annotations

import random
import threading

from chalicelib import wiring
from chalicelib.tasks.activity import ACTIVITY_TTL_SECONDS
from chalicelib.tasks.activity import COUNTERS
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import epoch_of
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import ITEM_DELETED
from chalicelib.vocabulary import ITEM_UPDATED
from tests.support.activity import activity_of
from tests.support.activity import counters
from tests.support.activity import stats_of

SUB = "sub-alice"
AT = "2026-11-28T10:00:00.000Z"


def _recorder() -> ActivityRecorder:
    return ActivityRecorder(wiring.services().store, clock=lambda: 1_800_000_000.0)


def test_an_event_appends_one_activity_record_and_moves_the_counters(adapter, table_consistency):
    event = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo")
    assert _recorder().record(event) is True
    [record] = activity_of(SUB)
    assert {k: record[k] for k in ("id", "type", "item_id", "at")} == {
        "id": event["id"],
        "type": ITEM_CREATED,
        "item_id": event["item_id"],
        "at": AT,
    }
    assert record["expires_at"] == epoch_of(AT) + ACTIVITY_TTL_SECONDS
    assert counters(SUB) == {"todo": 1, "in_progress": 0, "done": 0, "total": 1}
    assert stats_of(SUB)["updated_at"] == "2027-01-15T08:00:00.000Z"


def test_a_redelivered_event_changes_nothing(adapter, table_consistency):
    event = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="done")
    recorder = _recorder()
    assert recorder.record(event) is True
    assert recorder.record(event) is False
    assert recorder.record(dict(event)) is False
    assert len(activity_of(SUB)) == 1
    assert counters(SUB) == {"todo": 0, "in_progress": 0, "done": 1, "total": 1}


def test_each_event_applied_counts_once_in_applied_which_guards_a_rebuild(env, table_consistency):
    recorder = _recorder()
    first = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="done")
    recorder.record(first)
    recorder.record(first)  # a redelivery applies nothing
    recorder.record(item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo"))
    assert stats_of(SUB)["applied"] == 2


def test_events_in_any_order_reach_the_same_stats(adapter, table_consistency):
    first, second = new_id(), new_id()
    events = [
        item_event(ITEM_CREATED, SUB, first, "2026-11-28T10:00:00.000Z", before=None, after="todo"),
        item_event(ITEM_UPDATED, SUB, first, "2026-11-28T10:00:01.000Z", before="todo", after="in_progress"),
        item_event(ITEM_UPDATED, SUB, first, "2026-11-28T10:00:02.000Z", before="in_progress", after="done"),
        item_event(ITEM_CREATED, SUB, second, "2026-11-28T10:00:03.000Z", before=None, after="todo"),
        item_event(ITEM_DELETED, SUB, second, "2026-11-28T10:00:04.000Z", before="todo", after=None),
    ]
    random.Random(7).shuffle(events)
    recorder = _recorder()
    for event in events:
        recorder.record(event)
    assert counters(SUB) == {"todo": 0, "in_progress": 0, "done": 1, "total": 1}
    # Newest first by the time of the change, not of processing.
    assert [r["at"] for r in activity_of(SUB)] == sorted((e["at"] for e in events), reverse=True)


def test_an_update_without_a_status_change_is_recorded_but_moves_no_counter(adapter, table_consistency):
    event = item_event(ITEM_UPDATED, SUB, new_id(), AT, before="todo", after="todo")
    assert _recorder().record(event) is True
    assert len(activity_of(SUB)) == 1
    stats = stats_of(SUB)
    assert stats is not None and {name: stats[name] for name in COUNTERS} == dict.fromkeys(COUNTERS, 0)
    assert stats["applied"] == 1


def test_users_have_their_own_activity_and_stats(adapter, table_consistency):
    recorder = _recorder()
    recorder.record(item_event(ITEM_CREATED, "sub-bob", new_id(), AT, before=None, after="todo"))
    assert activity_of(SUB) == [] and stats_of(SUB) is None
    assert counters("sub-bob")["total"] == 1


def test_concurrent_events_of_one_user_are_all_counted(adapter, table_consistency):
    recorder = _recorder()
    events = [item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo") for _ in range(12)]
    errors: list[BaseException] = []

    def apply(event):
        try:
            recorder.record(event)
            recorder.record(event)  # and each one delivered twice
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counters(SUB) == {"todo": 12, "in_progress": 0, "done": 0, "total": 12}
    assert len(activity_of(SUB)) == 12
