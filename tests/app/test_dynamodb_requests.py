"""DynamoDB requests per HTTP request, counted on DynamoDB Local: one per read route (stats and activity
too), at most one per write, none for what is rejected before storage (health, 400s, 401s)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.auth.local_issuer import sign_in
from chalicelib.auth.local_issuer import sub_for
from chalicelib.store.dynamodb import DynamoDBStore
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import STATUS_TODO
from tests.support.api import Reply
from tests.support.dynamodb_local import count_requests
from tests.support.environment import use_dynamodb

MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # well formed, so only storage can say it is absent


@pytest.fixture(autouse=True, params=["boto3", "lean"])
def on_dynamodb(request, env, dynamodb_endpoint) -> None:
    """On DynamoDB Local through each transport (DYNAMODB_TRANSPORT)."""
    use_dynamodb(env, dynamodb_endpoint)
    env(DYNAMODB_TRANSPORT=request.param)


@pytest.fixture(autouse=True)
def queue(on_dynamodb, recording_queue):
    # Events are recorded, not consumed: the consumer's writes would land inside the counting window.
    return recording_queue


@pytest.fixture
def counted(api):
    """``counted(method, path, body, **kw) -> (reply, DynamoDB requests it cost)``."""
    api.get("/items?limit=1")  # builds the store (and its table) and loads the keys: not per-request work

    def run(method: str, path: str, body: Any = None, **kw: Any) -> tuple[Reply, int]:
        store = wiring.services().store
        assert isinstance(store, DynamoDBStore)  # the on_dynamodb fixture's store, not a traced or fake one
        assert store.transport == os.environ["DYNAMODB_TRANSPORT"]
        with count_requests(store.requests) as count:
            reply = api.call(method, path, body, **kw)
        return reply, count.total

    return run


def _costs(counted, method: str, path: str, body: Any = None, *, status: int, **kw: Any) -> int:
    reply, requests = counted(method, path, body, **kw)
    assert reply.status == status, (reply.status, reply.body)
    return requests


# --- reads: exactly one --------------------------------------------------------------------------


def test_health_costs_no_dynamodb_request(counted):
    assert _costs(counted, "GET", "/health", user=None, status=200) == 0


def test_reading_the_profile_costs_one_request_first_time_and_after(counted):
    assert _costs(counted, "GET", "/me", status=200) == 1
    assert _costs(counted, "GET", "/me", status=200) == 1


def test_listing_costs_one_request_with_or_without_filter_and_cursor(counted, api):
    for n in range(3):
        api.create(f"item {n}", status="done")
    api.create("todo")
    assert _costs(counted, "GET", "/items", status=200) == 1
    assert _costs(counted, "GET", "/items?status=done", status=200) == 1
    reply, requests = counted("GET", "/items?limit=1")
    assert requests == 1 and reply.json["next_cursor"]
    assert _costs(counted, "GET", f"/items?limit=1&cursor={reply.json['next_cursor']}", status=200) == 1
    filtered = api.get("/items?status=done&limit=1").json["next_cursor"]
    assert _costs(counted, "GET", f"/items?status=done&limit=1&cursor={filtered}", status=200) == 1


def test_reading_an_item_costs_one_request_found_or_not(counted, api):
    item = api.create()
    assert _costs(counted, "GET", f"/items/{item['id']}", status=200) == 1
    assert _costs(counted, "GET", f"/items/{MISSING_ID}", status=404) == 1
    assert _costs(counted, "GET", "/items/not-an-id", status=404) <= 1


def test_reading_the_stats_costs_one_request_with_or_without_a_record_or_with_a_shard_per_region(counted):
    assert _costs(counted, "GET", "/stats", status=200) == 1
    _apply_events(3)
    assert _costs(counted, "GET", "/stats", status=200) == 1
    for region in ("us-east-1", "eu-west-1"):  # two regions: each counts in its STATS#<region>, read together
        _apply_events(2, region=region)
    reply, requests = counted("GET", "/stats")
    assert requests == 1 and (reply.json["todo"], reply.json["total"]) == (7, 7)


def test_reading_the_activity_costs_one_request_with_or_without_a_cursor(counted):
    assert _costs(counted, "GET", "/activity", status=200) == 1
    _apply_events(3)
    reply, requests = counted("GET", "/activity?limit=1")
    assert requests == 1 and reply.json["next_cursor"]
    assert _costs(counted, "GET", f"/activity?limit=1&cursor={reply.json['next_cursor']}", status=200) == 1


def _apply_events(count: int, *, region: str | None = None) -> None:
    """Alice's activity and stats, as the consumer (of ``region``) writes them (outside the counting window)."""
    recorder = ActivityRecorder(wiring.services().store, region=region)
    for n in range(count):
        at = rfc3339(time.time() - n)
        recorder.record(item_event(ITEM_CREATED, sub_for("alice"), new_id(), at, before=None, after=STATUS_TODO))


def test_the_profile_routes_cost_one_request_with_a_new_sign_in_session_or_a_known_one(counted, token_for):
    # A new session is a sign-in (the profile keeps it, and the table's stream makes the event): no
    # request more than the route's own write.
    first, second = sign_in(), sign_in()
    for session in (first, first, second):
        headers = {"Authorization": f"Bearer {token_for('alice', session=session)}"}
        assert _costs(counted, "GET", "/me", user=None, headers=headers, status=200) == 1
        patch = {"display_name": "Al"}
        assert _costs(counted, "PATCH", "/me", patch, user=None, headers=headers, status=200) == 1


# --- writes: at most one, whatever the outcome ---------------------------------------------------


def test_changing_the_profile_costs_one_request(counted):
    assert _costs(counted, "PATCH", "/me", {"display_name": "Al"}, status=200) == 1


def test_creating_an_item_costs_one_request(counted):
    assert _costs(counted, "POST", "/items", {"title": "plain"}, status=201) == 1


def test_idempotent_create_first_time_replay_and_conflict_each_cost_one_request(counted):
    key = {"Idempotency-Key": "count-me"}
    assert _costs(counted, "POST", "/items", {"title": "once"}, headers=key, status=201) == 1
    assert _costs(counted, "POST", "/items", {"title": "once"}, headers=key, status=201) == 1
    assert _costs(counted, "POST", "/items", {"title": "other"}, headers=key, status=422) == 1


def test_patching_an_item_costs_one_request_on_success_stale_and_missing(counted, api):
    item = api.create()
    path = f"/items/{item['id']}"
    assert _costs(counted, "PATCH", path, {"title": "v2"}, headers={"If-Match": '"1"'}, status=200) == 1
    assert _costs(counted, "PATCH", path, {"title": "v3"}, status=200) == 1
    assert _costs(counted, "PATCH", path, {"title": "stale"}, headers={"If-Match": '"1"'}, status=412) == 1
    assert _costs(counted, "PATCH", f"/items/{MISSING_ID}", {"title": "x"}, status=404) == 1
    assert _costs(counted, "PATCH", "/items/not-an-id", {"title": "x"}, status=404) <= 1


def test_deleting_an_item_costs_one_request_on_success_stale_and_missing(counted, api):
    item = api.create()
    path = f"/items/{item['id']}"
    assert _costs(counted, "DELETE", path, headers={"If-Match": '"7"'}, status=412) == 1
    assert _costs(counted, "DELETE", path, headers={"If-Match": '"1"'}, status=204) == 1
    assert _costs(counted, "DELETE", path, status=404) == 1
    assert _costs(counted, "DELETE", f"/items/{MISSING_ID}", headers={"If-Match": "*"}, status=404) == 1
    assert _costs(counted, "DELETE", "/items/not-an-id", status=404) <= 1


# --- rejected before storage: none ---------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body, headers",
    [
        ("PATCH", "/me", {"display_name": ""}, {}),
        ("PATCH", "/me", {"display_name": "ok", "sub": "someone-else"}, {}),
        ("POST", "/items", {"title": "   "}, {}),
        ("POST", "/items", {"title": "ok"}, {"Idempotency-Key": "has space"}),
        ("POST", "/items", [1, 2], {}),
        ("GET", "/items?limit=0", None, {}),
        ("GET", "/items?status=later", None, {}),
        ("GET", "/items?cursor=forged.cursor", None, {}),
        ("PATCH", f"/items/{MISSING_ID}", {}, {}),
        ("PATCH", f"/items/{MISSING_ID}", {"title": "x"}, {"If-Match": "1"}),
        ("DELETE", f"/items/{MISSING_ID}", None, {"If-Match": 'W/"1"'}),
        ("GET", "/activity?limit=101", None, {}),
        ("GET", "/activity?cursor=forged.cursor", None, {}),
    ],
)
def test_a_400_costs_no_request(counted, method, path, body, headers):
    assert _costs(counted, method, path, body, headers=headers, status=400) == 0


def test_a_body_that_is_not_json_costs_no_request(counted):
    reply, requests = counted("POST", "/items", raw=b"{not json")
    assert reply.status == 400 and requests == 0


def test_a_401_costs_no_request(counted):
    routes = [
        ("GET", "/me", None),
        ("PATCH", "/me", {"display_name": "x"}),
        ("GET", "/items", None),
        ("POST", "/items", {"title": "x"}),
        ("GET", f"/items/{MISSING_ID}", None),
        ("PATCH", f"/items/{MISSING_ID}", {"title": "x"}),
        ("DELETE", f"/items/{MISSING_ID}", None),
        ("GET", "/stats", None),
        ("GET", "/activity", None),
    ]
    for authorization in (None, "Bearer garbage", "Basic YWxpY2U6cHc="):
        headers = {"Authorization": authorization} if authorization else {}
        for method, path, body in routes:
            assert _costs(counted, method, path, body, user=None, headers=headers, status=401) == 0, (method, path)


def test_an_accepted_write_sends_one_event_and_a_rejected_one_none(counted, api, queue):
    from tests.support.activity import settle

    reply, requests = counted("POST", "/items", {"title": "counted"})
    settle()  # the table's stream, forwarded by the local feed, on its own clients: none of them counted
    assert requests == 1 and len(queue.sent) == 1
    item_id = queue.sent[0][0]["item_id"]
    assert item_id == reply.json["id"]
    assert _costs(counted, "PATCH", f"/items/{item_id}", {"status": "done"}, status=200) == 1
    assert (
        _costs(counted, "PATCH", f"/items/{item_id}", {"status": "done"}, headers={"If-Match": '"1"'}, status=412) == 1
    )
    assert _costs(counted, "DELETE", f"/items/{item_id}", status=204) == 1
    settle()
    assert [body["type"] for body, _ in queue.sent] == ["item.created", "item.updated", "item.deleted"]
