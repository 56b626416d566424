"""Listing: newest first, cursor pagination, the status filter and tamper-evident cursors."""

from __future__ import annotations

import base64

import pytest

from tests.support.api import assert_problem

# Each behaviour holds on both store adapters (SQLite file and DynamoDB Local).
pytestmark = pytest.mark.usefixtures("adapter")


def _walk(api, query: str = "", user: str = "alice") -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        path = "/items?" + query + (f"&cursor={cursor}" if cursor else "")
        reply = api.get(path, user=user)
        assert reply.status == 200, reply.json
        pages.append(reply.json["items"])
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return pages


def test_55_items_in_pages_of_10_each_exactly_once_newest_first(api):
    created = [api.create(f"item {i}")["id"] for i in range(55)]
    pages = _walk(api, "limit=10")
    assert [len(p) for p in pages] == [10, 10, 10, 10, 10, 5]
    seen = [item["id"] for page in pages for item in page]
    assert seen == list(reversed(created))


def test_exact_multiple_of_the_limit_ends_without_an_empty_page(api):
    for i in range(20):
        api.create(f"i{i}")
    assert [len(p) for p in _walk(api, "limit=10")] == [10, 10]


def test_default_limit_is_20(api):
    for i in range(21):
        api.create(f"i{i}")
    reply = api.get("/items").json
    assert len(reply["items"]) == 20 and reply["next_cursor"]


def test_status_filter_pages_only_matching_items(api):
    done = []
    for i in range(25):
        item = api.create(f"i{i}", status="done" if i % 3 == 0 else "todo")
        if item["status"] == "done":
            done.append(item["id"])
    pages = _walk(api, "status=done&limit=4")
    assert [i["id"] for p in pages for i in p] == list(reversed(done))
    assert all(i["status"] == "done" for p in pages for i in p)


def test_status_filter_follows_patches_and_deletes(api):
    a = api.create("a")
    b = api.create("b")
    api.patch(f"/items/{a['id']}", {"status": "in_progress"})
    api.delete(f"/items/{b['id']}")
    assert [i["id"] for i in api.get("/items?status=in_progress").json["items"]] == [a["id"]]
    assert api.get("/items?status=todo").json["items"] == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "status=open", "status="]
)
def test_bad_query_parameters_are_400_validation_error(api, query):
    assert_problem(api.get(f"/items?{query}"), 400, "validation_error")


def _first_cursor(api, query: str = "limit=1") -> str:
    api.create("one")
    api.create("two")
    cursor = api.get(f"/items?{query}").json["next_cursor"]
    assert cursor
    return cursor


def test_altered_cursor_is_400_invalid_cursor(api):
    cursor = _first_cursor(api)
    payload, mac = cursor.split(".")
    forged_id = base64.urlsafe_b64encode(b"01ARZ3NDEKTSV4RRFFQ69G5FAV").rstrip(b"=").decode()
    for altered in (
        forged_id + "." + mac,
        payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"),
        cursor + "x",
        "garbage",
        "a.b.c",
        cursor.replace(".", ""),
    ):
        assert_problem(api.get(f"/items?limit=1&cursor={altered}"), 400, "invalid_cursor")


def test_another_callers_cursor_is_400(api):
    cursor = _first_cursor(api)
    api.create("bob's", user="bob")
    assert_problem(api.get(f"/items?limit=1&cursor={cursor}", user="bob"), 400, "invalid_cursor")


def test_cursor_from_another_filter_is_400(api):
    cursor = _first_cursor(api)
    assert_problem(api.get(f"/items?limit=1&status=todo&cursor={cursor}"), 400, "invalid_cursor")


def test_cursor_survives_deletion_of_the_item_it_points_after(api):
    ids = [api.create(f"i{i}")["id"] for i in range(3)]
    page = api.get("/items?limit=1").json
    api.delete(f"/items/{ids[2]}")
    rest = api.get(f"/items?limit=5&cursor={page['next_cursor']}").json
    assert [i["id"] for i in rest["items"]] == [ids[1], ids[0]]
