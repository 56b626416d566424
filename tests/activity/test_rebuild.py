"""Counters heal: ``stats rebuild`` recomputes STATS from the items and reports what it corrected, and is
safe while events are applied: a difference is corrected only when seen twice, and a correction written
over an event applied since its read is refused and read again."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from chalicelib import keys
from chalicelib import ops
from chalicelib import wiring
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.ids import new_id
from chalicelib.tasks.stats import StatsRebuild
from chalicelib.vocabulary import ITEM_CREATED
from tests.support.activity import counters
from tests.support.activity import stats_of

SUB = "sub-fay"
AT = "2026-11-28T10:00:00.000Z"


def add_item(sub: str, status: str, *, applied: bool) -> dict[str, Any]:
    """An item as committed; its created event applied to STATS, or not (lost, or still on its way)."""
    item_id = new_id()
    store = wiring.services().store
    store.put(Put(keys.item_key(sub, item_id), {"id": item_id, "title": "t", "status": status, "version": 1}))
    event = item_event(ITEM_CREATED, sub, item_id, AT, before=None, after=status)
    if applied:
        ActivityRecorder(store).record(event)
    return event


def ops_command(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = ops.main(list(argv), services=wiring.services(), out=out)
    return status, out.getvalue()


def test_wrong_counters_are_corrected_and_reported_and_sign_ins_left_alone(adapter, table_consistency):
    for status in ("todo", "todo", "done"):
        add_item(SUB, status, applied=True)
    add_item(SUB, "in_progress", applied=False)  # its event was lost
    store = wiring.services().store
    store.update(Update(keys.stats_key(SUB), add={"done": 2, "sign_ins": 7}))  # and drift

    status, said = ops_command("stats", "rebuild", SUB, "--settle", "0")

    assert status == 0
    assert said == f"{SUB}: corrected in_progress 0 -> 1 (+1), done 3 -> 1 (-2), total 3 -> 4 (+1)\n"
    assert counters(SUB) == {"todo": 2, "in_progress": 1, "done": 1, "total": 4}
    assert stats_of(SUB)["sign_ins"] == 7
    assert ops_command("stats", "rebuild", SUB, "--settle", "0") == (0, f"{SUB}: counters match the items\n")


def test_right_counters_are_left_as_they_are(env):
    add_item(SUB, "todo", applied=True)
    before = stats_of(SUB)
    assert ops_command("stats", "rebuild", SUB, "--settle", "0") == (0, f"{SUB}: counters match the items\n")
    assert stats_of(SUB) == before


def test_a_user_with_items_and_no_stats_gets_them(env):
    add_item(SUB, "done", applied=False)
    assert ops_command("stats", "rebuild", SUB, "--settle", "0")[0] == 0
    assert counters(SUB) == {"todo": 0, "in_progress": 0, "done": 1, "total": 1}


def test_a_dry_run_reports_and_writes_nothing(env):
    add_item(SUB, "todo", applied=False)
    status, said = ops_command("stats", "rebuild", SUB, "--settle", "0", "--dry-run")
    assert said == f"{SUB}: would correct todo 0 -> 1 (+1), total 0 -> 1 (+1)\n" and status == 0
    assert stats_of(SUB) is None


def test_every_user_is_rebuilt_with_all(env):
    add_item("sub-a", "todo", applied=False)
    add_item("sub-b", "done", applied=True)
    status, said = ops_command("stats", "rebuild", "--all", "--settle", "0")
    assert status == 0
    assert sorted(said.splitlines()) == [
        "sub-a: corrected todo 0 -> 1 (+1), total 0 -> 1 (+1)",
        "sub-b: counters match the items",
    ]


def test_a_user_whose_events_wait_as_dead_letters_is_skipped_until_they_are_replayed(env):
    event = add_item(SUB, "todo", applied=False)
    wiring.services().dead_letters.keep("m-1", json.dumps(event), {}, 5)
    status, said = ops_command("stats", "rebuild", SUB, "--settle", "0")
    assert status == 1 and said.startswith(f"{SUB}: skipped, 1 dead letter(s)")
    assert stats_of(SUB) is None  # the replay will count it


def test_a_difference_seen_once_is_an_event_on_its_way_and_is_not_corrected(env):
    add_item(SUB, "todo", applied=True)
    on_its_way = add_item(SUB, "done", applied=False)
    store = wiring.services().store
    # The event is applied during the settle interval, as the consumer would.
    rebuild = StatsRebuild(store, settle=0.5, sleep=lambda seconds: ActivityRecorder(store).record(on_its_way))

    outcome = rebuild.rebuild(SUB)

    assert outcome.corrected == {} and outcome.settled
    assert counters(SUB) == {"todo": 1, "in_progress": 0, "done": 1, "total": 2}


def test_a_difference_that_keeps_moving_is_left_for_later(env):
    add_item(SUB, "todo", applied=False)
    store = wiring.services().store
    rebuild = StatsRebuild(store, settle=0, sleep=lambda seconds: add_item(SUB, "todo", applied=False))

    outcome = rebuild.rebuild(SUB)

    assert not outcome.settled and outcome.corrected == {}
    assert stats_of(SUB) is None


class ApplyingAnEventBeforeTheCorrection:
    """The app's store, where an event is applied between the rebuild's read and its first write."""

    def __init__(self, store: Any, sub: str) -> None:
        self._store = store
        self._sub = sub
        self.updates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def update(self, op: Update) -> Any:
        if op.key == keys.stats_key(self._sub):
            self.updates += 1
            if self.updates == 1:
                add_item(self._sub, "done", applied=True)  # through the inner store
        return self._store.update(op)


def test_an_event_applied_between_the_read_and_the_correction_makes_it_read_again(env, table_consistency):
    add_item(SUB, "todo", applied=True)
    add_item(SUB, "todo", applied=False)  # lost: the one difference
    racing = ApplyingAnEventBeforeTheCorrection(wiring.services().store, SUB)
    slept: list[float] = []
    rebuild = StatsRebuild(racing, settle=2.0, sleep=slept.append)

    outcome = rebuild.rebuild(SUB)

    assert racing.updates == 2  # refused once (applied had moved), then written
    assert slept == [2.0, 2.0]
    assert outcome.corrected == {"todo": 1, "total": 1}
    assert counters(SUB) == {"todo": 2, "in_progress": 0, "done": 1, "total": 3}  # the event counted once


def test_rebuild_needs_subs_or_all_not_both(env):
    for argv in (("stats", "rebuild"), ("stats", "rebuild", SUB, "--all")):
        with pytest.raises(SystemExit):
            ops_command(*argv)
