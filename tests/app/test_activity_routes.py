"""GET /stats and GET /activity: the caller's counters and their events of the last 30 days, newest first,
in pages bound to the caller, isolated per user, and 503 without the activity pipeline.

Events are applied by the consumer's own use-case (ActivityRecorder) under a fixed clock, so every
``at`` is known; one test goes the whole way, from the routes that change items through the embedded queue.
"""

from __future__ import annotations

import base64
import random
import time

import pytest

from chalicelib import keys
from chalicelib import wiring
from chalicelib.auth.local_issuer import sub_for
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from chalicelib.tasks.activity import ACTIVITY_TTL_SECONDS
from chalicelib.tasks.activity import COUNTERS
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import ITEM_DELETED
from chalicelib.vocabulary import ITEM_UPDATED
from chalicelib.vocabulary import STATUS_DONE
from chalicelib.vocabulary import STATUS_IN_PROGRESS
from chalicelib.vocabulary import STATUS_TODO
from tests.support.api import assert_problem

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z: the services' clock in these tests
ALICE = sub_for("alice")
SIGNED_IN = "user.signed_in"
EVENT_SHAPE = ["id", "type", "item_id", "at"]

on_both_adapters = pytest.mark.usefixtures("adapter")


@pytest.fixture(autouse=True)
def fixed_clock(env) -> None:
    env.install(clock=lambda: NOW)


def _at(seconds_ago: float) -> str:
    return rfc3339(NOW - seconds_ago)


def _apply(event: dict) -> dict:
    """Apply an event as the activity consumer does; returns it."""
    ActivityRecorder(wiring.services().store, clock=lambda: NOW).record(event)
    return event


def _record(sub: str, at: str, kind: str = ITEM_CREATED, *, before=None, after=STATUS_TODO) -> dict:
    return _apply(item_event(kind, sub, new_id(), at, before=before, after=after))


def _record_many(sub: str, count: int) -> list[str]:
    """``count`` events a minute apart, applied in random order; their ids, newest first."""
    ats = [_at(60 * (n + 1)) for n in range(count)]
    events = [item_event(ITEM_CREATED, sub, new_id(), at, before=None, after=STATUS_TODO) for at in ats]
    for event in random.Random(count).sample(events, count):
        _apply(event)
    return [event["id"] for event in events]


def _walk(api, query: str = "", user: str = "alice") -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        reply = api.get("/activity?" + query + (f"&cursor={cursor}" if cursor else ""), user=user)
        assert reply.status == 200, reply.json
        pages.append(reply.json["events"])
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return pages


def _ids(pages: list[list[dict]]) -> list[str]:
    return [event["id"] for page in pages for event in page]


# --- GET /stats ------------------------------------------------------------------------------------


@on_both_adapters
def test_a_new_user_reads_every_counter_zero_and_no_update_time(api):
    reply = api.get("/stats")
    assert reply.status == 200
    assert reply.json == {**dict.fromkeys(COUNTERS, 0), "updated_at": None}
    assert list(reply.json) == [*COUNTERS, "updated_at"]


@on_both_adapters
def test_stats_show_the_counters_the_consumer_moved_and_when(api):
    first, second = new_id(), new_id()
    recorder = ActivityRecorder(wiring.services().store, clock=lambda: NOW - 5)
    recorder.record(item_event(ITEM_CREATED, ALICE, first, _at(30), before=None, after=STATUS_TODO))
    recorder.record(item_event(ITEM_CREATED, ALICE, second, _at(20), before=None, after=STATUS_TODO))
    recorder.record(item_event(ITEM_UPDATED, ALICE, first, _at(10), before=STATUS_TODO, after=STATUS_DONE))
    recorder.record(item_event(ITEM_UPDATED, ALICE, second, _at(9), before=STATUS_TODO, after=STATUS_IN_PROGRESS))
    recorder.record(item_event(ITEM_DELETED, ALICE, second, _at(8), before=STATUS_IN_PROGRESS, after=None))
    wiring.services().store.update(Update(keys.stats_key(ALICE), add={"sign_ins": 2}))
    assert api.get("/stats").json == {
        STATUS_TODO: 0,
        STATUS_IN_PROGRESS: 0,
        STATUS_DONE: 1,
        "total": 1,
        "sign_ins": 2,
        "updated_at": rfc3339(NOW - 5),
    }


@on_both_adapters
def test_stats_are_the_callers_own(api):
    _record(ALICE, _at(60))
    assert api.get("/stats").json["total"] == 1
    assert api.get("/stats", user="bob").json == {**dict.fromkeys(COUNTERS, 0), "updated_at": None}


# --- GET /activity: shape, order, window ---------------------------------------------------------------


@on_both_adapters
def test_a_new_user_has_no_events(api):
    assert api.get("/activity").json == {"events": [], "next_cursor": None}


@on_both_adapters
def test_events_have_the_public_shape_newest_first_by_the_time_of_the_change(api):
    created = _record(ALICE, _at(300), ITEM_CREATED, before=None, after=STATUS_TODO)
    # Applied out of order: the listing follows `at`, not the order of processing.
    deleted = _record(ALICE, _at(100), ITEM_DELETED, before=STATUS_DONE, after=None)
    updated = _record(ALICE, _at(200), ITEM_UPDATED, before=STATUS_TODO, after=STATUS_DONE)
    events = api.get("/activity").json["events"]
    assert [list(event) for event in events] == [EVENT_SHAPE] * 3
    assert events == [{name: event[name] for name in EVENT_SHAPE} for event in (deleted, updated, created)]


@on_both_adapters
def test_a_sign_in_is_listed_with_a_null_item_id(api):
    event_id = new_id()
    at = _at(5)
    attrs = {"id": event_id, "type": SIGNED_IN, "item_id": None, "at": at}
    wiring.services().store.put(Put(keys.activity_key(ALICE, at, event_id), attrs))
    assert api.get("/activity").json["events"] == [attrs]


@on_both_adapters
def test_an_event_delivered_twice_is_listed_once(api):
    event = _record(ALICE, _at(60))
    _apply(event)
    assert [e["id"] for e in api.get("/activity").json["events"]] == [event["id"]]


@on_both_adapters
def test_events_older_than_30_days_are_not_listed_even_while_the_store_still_has_them(api, table_consistency):
    """With TTL lazy (DynamoDB deletes expired records within days) or absent (TABLE_CONSISTENCY=strong: no TTL
    on a table in multi-Region strong consistency), the window is the feed's own, in the one query."""
    window = ACTIVITY_TTL_SECONDS
    kept = [_record(ALICE, at)["id"] for at in (_at(10), _at(window - 1), _at(window))]
    for seconds_ago in (window + 0.001, window + 1, window * 2):
        _record(ALICE, _at(seconds_ago))  # expired, but TTL has not removed it yet
    assert _ids([api.get("/activity").json["events"]]) == kept
    assert api.get("/activity").json["next_cursor"] is None
    assert _ids(_walk(api, "limit=1")) == kept
    assert _ids(_walk(api, "limit=2")) == kept


# --- paging ---------------------------------------------------------------------------------------------


@on_both_adapters
def test_25_events_in_pages_of_10_each_exactly_once_newest_first(api):
    newest_first = _record_many(ALICE, 25)
    pages = _walk(api, "limit=10")
    assert [len(page) for page in pages] == [10, 10, 5]
    assert _ids(pages) == newest_first


@on_both_adapters
def test_an_exact_multiple_of_the_limit_ends_without_an_empty_page(api):
    _record_many(ALICE, 6)
    assert [len(page) for page in _walk(api, "limit=3")] == [3, 3]


def test_the_default_limit_is_20(api):
    _record_many(ALICE, 21)
    reply = api.get("/activity").json
    assert len(reply["events"]) == 20 and reply["next_cursor"]


def test_events_in_the_same_millisecond_are_each_listed_once(api):
    at = _at(60)
    ids = {_record(ALICE, at)["id"] for _ in range(5)}
    pages = _walk(api, "limit=2")
    assert sorted(_ids(pages)) == sorted(ids)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "limit="])
def test_a_bad_limit_is_400_validation_error(api, query):
    assert_problem(api.get(f"/activity?{query}"), 400, "validation_error")


# --- cursors --------------------------------------------------------------------------------------------


def _first_cursor(api, user: str = "alice") -> str:
    _record_many(sub_for(user), 3)
    cursor = api.get("/activity?limit=1", user=user).json["next_cursor"]
    assert cursor
    return cursor


@on_both_adapters
def test_another_callers_cursor_is_400_invalid_cursor(api):
    cursor = _first_cursor(api)
    _record_many(sub_for("bob"), 3)
    assert_problem(api.get(f"/activity?limit=1&cursor={cursor}", user="bob"), 400, "invalid_cursor")


def test_an_altered_cursor_is_400_invalid_cursor(api):
    cursor = _first_cursor(api)
    payload, mac = cursor.split(".")
    position = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    later = base64.urlsafe_b64encode(position.replace("2027", "2099").encode()).rstrip(b"=").decode()
    for altered in (
        later + "." + mac,
        payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"),
        cursor + "x",
        "garbage",
        "a.b.c",
        cursor.replace(".", ""),
    ):
        assert_problem(api.get(f"/activity?limit=1&cursor={altered}"), 400, "invalid_cursor")


def test_an_items_cursor_is_not_an_activity_cursor_nor_the_other_way_round(api):
    api.create("one")
    api.create("two")
    items_cursor = api.get("/items?limit=1").json["next_cursor"]
    activity_cursor = _first_cursor(api)
    assert_problem(api.get(f"/activity?cursor={items_cursor}"), 400, "invalid_cursor")
    assert_problem(api.get(f"/items?cursor={activity_cursor}"), 400, "invalid_cursor")


# --- isolation, the token, the feature switch -----------------------------------------------------------


@on_both_adapters
def test_a_user_sees_none_of_another_users_events(api):
    _record_many(ALICE, 5)
    bobs = _record_many(sub_for("bob"), 2)
    assert api.get("/activity", user="carol").json == {"events": [], "next_cursor": None}
    assert _ids(_walk(api, "limit=1", user="bob")) == bobs


@pytest.mark.parametrize("path", ["/stats", "/activity"])
def test_without_a_token_both_routes_are_401(api, path):
    reply = api.get(path, user=None)
    assert_problem(reply, 401, "unauthorized")
    assert reply.header("WWW-Authenticate")


@pytest.mark.parametrize("path", ["/stats", "/activity", "/activity?limit=5"])
def test_without_the_activity_pipeline_both_routes_are_503_feature_disabled(api, env, path):
    env(QUEUE="off")
    assert_problem(api.get(path), 503, "feature_disabled")


# --- the whole way --------------------------------------------------------------------------------------


def test_stats_and_activity_follow_creates_updates_and_deletes_within_5_seconds(env, api):
    env.install(clock=time.time)  # real time: the embedded queue's events must fall inside the window
    first = api.create("first")
    second = api.create("second")
    api.patch(f"/items/{first['id']}", {"status": STATUS_DONE})
    api.delete(f"/items/{second['id']}")
    expected = {STATUS_TODO: 0, STATUS_IN_PROGRESS: 0, STATUS_DONE: 1, "total": 1}
    deadline = time.monotonic() + 5
    while True:
        stats = api.get("/stats").json
        events = api.get("/activity").json["events"]
        if ({k: stats[k] for k in expected} == expected and len(events) == 4) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {k: stats[k] for k in expected} == expected and stats["updated_at"]
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert sorted((e["type"], e["item_id"]) for e in events) == sorted(
        [
            (ITEM_CREATED, first["id"]),
            (ITEM_CREATED, second["id"]),
            (ITEM_UPDATED, first["id"]),
            (ITEM_DELETED, second["id"]),
        ]
    )
