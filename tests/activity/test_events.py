"""The activity event's shape: what ItemService announces, what the consumer accepts, how it moves STATS."""

from __future__ import annotations

import json

import pytest

from chalicelib.tasks.activity import InvalidEvent
from chalicelib.tasks.activity import epoch_of
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.activity import parse_event
from chalicelib.tasks.activity import seconds_of
from chalicelib.tasks.activity import stats_delta
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import ITEM_DELETED
from chalicelib.vocabulary import ITEM_UPDATED

ITEM = "01JD0000000000000000000000"
AT = "2026-11-28T10:00:00.123Z"


def test_an_announced_event_parses_back_unchanged():
    event = item_event(ITEM_UPDATED, "alice-sub", ITEM, AT, before="todo", after="done")
    assert parse_event(event) == event
    assert set(event) == {"v", "id", "type", "sub", "item_id", "at", "status_before", "status_after"}


@pytest.mark.parametrize("sub", ["a b", "x" * 128, "ünïcode-sub", "user@example.com"])
def test_an_event_of_any_sub_a_token_may_carry_parses(sub):
    # The consumer's rule is the token's (vocabulary.valid_sub): a user who could write must not have every
    # event of theirs dead-lettered.
    from chalicelib.auth import valid_sub

    assert valid_sub(sub)
    event = item_event(ITEM_UPDATED, sub, ITEM, AT, before="todo", after="done")
    assert parse_event(json.loads(json.dumps(event))) == event


def test_each_event_gets_its_own_id():
    first, second = (item_event(ITEM_CREATED, "s", ITEM, AT, before=None, after="todo") for _ in range(2))
    assert first["id"] != second["id"]


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": None},
        {"type": "item.archived"},
        {"id": "not-a-ulid"},
        {"item_id": 42},
        {"at": "yesterday"},
        {"at": "2026-11-28T10:00:00Z"},
        {"sub": "has#hash"},
        {"sub": ""},
        {"status_before": None},
        {"status_after": "doing"},
        {"status_before": "todo", "type": ITEM_CREATED},
    ],
)
def test_a_malformed_event_is_refused_by_name(change):
    event = {**item_event(ITEM_UPDATED, "alice-sub", ITEM, AT, before="todo", after="done"), **change}
    with pytest.raises(InvalidEvent):
        parse_event(event)


@pytest.mark.parametrize("body", [None, [], "text", 7])
def test_a_body_that_is_not_an_object_is_refused(body):
    with pytest.raises(InvalidEvent):
        parse_event(body)


@pytest.mark.parametrize(
    "kind,before,after,delta",
    [
        (ITEM_CREATED, None, "todo", {"todo": 1, "total": 1}),
        (ITEM_UPDATED, "todo", "done", {"todo": -1, "done": 1}),
        (ITEM_UPDATED, "done", "done", {}),
        (ITEM_DELETED, "in_progress", None, {"in_progress": -1, "total": -1}),
    ],
)
def test_an_event_moves_the_counters_of_the_statuses_it_left_and_entered(kind, before, after, delta):
    assert stats_delta({"type": kind, "status_before": before, "status_after": after}) == delta


def test_a_sign_in_counts_one_sign_in_and_moves_no_status():
    assert stats_delta({"type": "user.signed_in", "status_before": None, "status_after": None}) == {"sign_ins": 1}


def test_the_time_of_a_change_reads_as_epoch_seconds():
    assert epoch_of("1970-01-02T00:00:01.999Z") == 86401
    assert seconds_of("1970-01-02T00:00:01.250Z") == 86401.25
