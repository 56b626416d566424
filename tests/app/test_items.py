"""Items through the app: create, read, patch, delete, validation, ETags and idempotency."""

from __future__ import annotations

import json

import pytest

from tests.support.api import assert_problem

# Each behaviour holds on both store adapters (SQLite file and DynamoDB Local).
pytestmark = pytest.mark.usefixtures("adapter")


def test_create_returns_201_with_location_etag_and_defaults(api):
    reply = api.post("/items", {"title": "  Buy milk  "})
    assert reply.status == 201
    item = reply.json
    assert item["title"] == "Buy milk"
    assert item | {"id": None, "created_at": None, "updated_at": None} == {
        "id": None,
        "title": "Buy milk",
        "notes": "",
        "status": "todo",
        "due": None,
        "tags": [],
        "created_at": None,
        "updated_at": None,
        "version": 1,
    }
    assert reply.header("Location") == f"/items/{item['id']}"
    assert reply.header("ETag") == '"1"'
    assert item["created_at"].endswith("Z") and item["created_at"] == item["updated_at"]


def test_created_item_reads_back_with_etag(api):
    item = api.create("Read me", notes="n", status="in_progress", due="2026-12-01", tags=["a", "b-2"])
    reply = api.get(f"/items/{item['id']}")
    assert reply.status == 200 and reply.json == item
    assert reply.header("ETag") == '"1"'


def test_items_list_their_fields_in_one_stable_order(api):
    order = ["id", "title", "notes", "status", "due", "tags", "created_at", "updated_at", "version"]
    item = api.create("Ordered")
    assert list(item) == order
    assert list(api.get(f"/items/{item['id']}").json) == order
    assert list(api.get("/items").json["items"][0]) == order
    assert list(api.patch(f"/items/{item['id']}", {"notes": "n"}).json) == order


def test_ids_sort_by_creation_time(api):
    ids = [api.create(f"t{i}")["id"] for i in range(5)]
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
        ({"title": None}, "title"),
        ({"title": "ok", "notes": "x" * 4001}, "notes"),
        ({"title": "ok", "notes": None}, "notes"),
        ({"title": "ok", "status": "later"}, "status"),
        ({"title": "ok", "due": "2026-02-30"}, "due"),
        ({"title": "ok", "due": "tomorrow"}, "due"),
        ({"title": "ok", "tags": ["UPPER"]}, "tags"),
        ({"title": "ok", "tags": ["a", "a"]}, "tags"),
        ({"title": "ok", "tags": [str(i) for i in range(11)]}, "tags"),
        ({"title": "ok", "tags": ["x" * 33]}, "tags"),
        ({"title": "ok", "id": "mine"}, "id"),
        ({"title": "ok", "version": 3}, "version"),
        ({"title": "ok", "titel": "typo"}, "titel"),
    ],
)
def test_invalid_create_body_is_400_naming_the_field_and_creates_nothing(api, body, field):
    problem = assert_problem(api.post("/items", body), 400, "validation_error")
    assert field in [error["field"] for error in problem["errors"]]
    assert api.get("/items").json["items"] == []


def test_every_bad_field_is_reported_at_once(api):
    problem = assert_problem(api.post("/items", {"title": "", "status": "x", "extra": 1}), 400, "validation_error")
    assert {e["field"] for e in problem["errors"]} == {"title", "status", "extra"}


def test_title_length_counts_code_points_after_trimming(api):
    assert api.post("/items", {"title": "😀" * 200}).status == 201
    assert api.post("/items", {"title": "  " + "é" * 200 + "  "}).status == 201
    assert api.post("/items", {"title": "😀" * 201}).status == 400


@pytest.mark.parametrize("raw", [b"", b"not json", b"{", b"\xff\xfe", b'{"title": NaN}'])
def test_body_that_is_not_json_is_400_invalid_json(api, raw):
    assert_problem(api.call("POST", "/items", raw=raw), 400, "invalid_json")


@pytest.mark.parametrize("raw", [b"[]", b'"title"', b"3", b"null"])
def test_json_that_is_not_an_object_is_400_validation_error(api, raw):
    assert_problem(api.call("POST", "/items", raw=raw), 400, "validation_error")


def test_body_over_64_kib_is_413_and_creates_nothing(api):
    raw = json.dumps({"title": "big", "notes": "x" * (64 * 1024)}).encode()
    assert_problem(api.call("POST", "/items", raw=raw), 413, "payload_too_large")
    assert api.get("/items").json["items"] == []


def test_non_json_content_type_is_still_parsed_as_json(api):
    reply = api.post("/items", {"title": "typed"}, headers={"Content-Type": "text/plain"})
    assert reply.status == 201


def test_patch_changes_fields_bumps_version_and_etag(api):
    item = api.create("Draft", due="2026-12-24", tags=["x"])
    reply = api.patch(f"/items/{item['id']}", {"title": "Final", "status": "done", "due": None})
    assert reply.status == 200
    assert reply.json["title"] == "Final" and reply.json["status"] == "done" and reply.json["due"] is None
    assert reply.json["tags"] == ["x"] and reply.json["version"] == 2
    assert reply.header("ETag") == '"2"'
    assert reply.json["updated_at"] >= item["updated_at"]
    assert api.get(f"/items/{item['id']}").json == reply.json


def test_empty_patch_is_400_and_changes_nothing(api):
    item = api.create()
    assert_problem(api.patch(f"/items/{item['id']}", {}), 400, "validation_error")
    assert api.get(f"/items/{item['id']}").json["version"] == 1


@pytest.mark.parametrize(
    "body", [{"title": None}, {"status": "nope"}, {"version": 9}, {"tags": "a"}, {"title": "ok", "bogus": True}]
)
def test_invalid_patch_is_400_and_changes_nothing(api, body):
    item = api.create()
    assert_problem(api.patch(f"/items/{item['id']}", body), 400, "validation_error")
    assert api.get(f"/items/{item['id']}").json == item


def test_stale_if_match_returns_412_and_changes_nothing(api):
    item = api.create()
    assert api.patch(f"/items/{item['id']}", {"title": "v2"}, headers={"If-Match": '"1"'}).status == 200
    assert_problem(
        api.patch(f"/items/{item['id']}", {"title": "v3"}, headers={"If-Match": '"1"'}), 412, "precondition_failed"
    )
    assert api.get(f"/items/{item['id']}").json["title"] == "v2"


def test_if_match_star_accepts_any_version(api):
    item = api.create()
    assert api.patch(f"/items/{item['id']}", {"notes": "n"}, headers={"If-Match": "*"}).status == 200


@pytest.mark.parametrize("value", ["1", 'W/"1"', '"abc"', '"0"', '"1", "2"', ""])
def test_malformed_if_match_is_400(api, value):
    item = api.create()
    assert_problem(
        api.patch(f"/items/{item['id']}", {"notes": "n"}, headers={"If-Match": value}), 400, "validation_error"
    )
    assert_problem(api.delete(f"/items/{item['id']}", headers={"If-Match": value}), 400, "validation_error")
    assert api.get(f"/items/{item['id']}").json["version"] == 1


def test_delete_is_204_then_404(api):
    item = api.create()
    reply = api.delete(f"/items/{item['id']}")
    assert reply.status == 204 and reply.body in (b"", None)
    assert_problem(api.get(f"/items/{item['id']}"), 404, "not_found")
    assert_problem(api.delete(f"/items/{item['id']}"), 404, "not_found")


def test_delete_with_stale_if_match_is_412_and_keeps_the_item(api):
    item = api.create()
    api.patch(f"/items/{item['id']}", {"notes": "changed"})
    assert_problem(api.delete(f"/items/{item['id']}", headers={"If-Match": '"1"'}), 412, "precondition_failed")
    assert api.delete(f"/items/{item['id']}", headers={"If-Match": '"2"'}).status == 204


@pytest.mark.parametrize("item_id", ["nope", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "%23METADATA", "x" * 2000])
def test_unknown_ids_of_any_form_are_404_on_every_verb(api, item_id):
    assert_problem(api.get(f"/items/{item_id}"), 404, "not_found")
    assert_problem(api.patch(f"/items/{item_id}", {"title": "x"}), 404, "not_found")
    assert_problem(api.delete(f"/items/{item_id}"), 404, "not_found")


def test_another_users_item_answers_exactly_like_a_missing_one(api):
    item = api.create(user="alice")
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for method, body in (("GET", None), ("PATCH", {"title": "mine now"}), ("DELETE", None)):
        theirs = api.call(method, f"/items/{item['id']}", body, user="mallory")
        absent = api.call(method, f"/items/{missing}", body, user="mallory")
        assert theirs.status == absent.status == 404
        strip = lambda problem: {k: v for k, v in problem.items() if k != "request_id"}  # noqa: E731
        assert strip(theirs.json) == strip(absent.json)
    assert api.get(f"/items/{item['id']}", user="alice").json == item
    assert api.get("/items", user="mallory").json["items"] == []


# --- idempotency -----------------------------------------------------------------------------


def test_idempotent_repeat_returns_the_first_201_and_creates_nothing(api, table_consistency):
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/items", {"title": "Once"}, headers=headers)
    second = api.post("/items", {"title": "Once"}, headers=headers)
    assert first.status == second.status == 201
    assert second.json == first.json
    assert second.header("Location") == first.header("Location")
    assert len(api.get("/items").json["items"]) == 1


def test_idempotent_repeat_returns_the_item_as_first_returned_even_after_it_changed(api, table_consistency):
    headers = {"Idempotency-Key": "k1"}
    first = api.post("/items", {"title": "Original"}, headers=headers).json
    api.patch(f"/items/{first['id']}", {"title": "Changed"})
    assert api.post("/items", {"title": "Original"}, headers=headers).json == first


def test_same_key_with_equal_json_in_another_spelling_is_a_repeat(api, table_consistency):
    headers = {"Idempotency-Key": "k2"}
    first = api.call("POST", "/items", raw=b'{"title": "A", "notes": "n"}', headers=headers)
    second = api.call("POST", "/items", raw=b'{ "notes":"n","title":"A" }', headers=headers)
    assert second.status == 201 and second.json == first.json


def test_same_key_with_a_different_body_is_422_and_creates_nothing(api, table_consistency):
    headers = {"Idempotency-Key": "k3"}
    api.post("/items", {"title": "A"}, headers=headers)
    assert_problem(api.post("/items", {"title": "B"}, headers=headers), 422, "idempotency_conflict")
    assert [i["title"] for i in api.get("/items").json["items"]] == ["A"]


def test_a_rejected_request_leaves_the_key_unused(api, table_consistency):
    headers = {"Idempotency-Key": "k4"}
    assert api.post("/items", {"title": ""}, headers=headers).status == 400
    reply = api.post("/items", {"title": "Now valid"}, headers=headers)
    assert reply.status == 201 and reply.json["title"] == "Now valid"


def test_idempotency_keys_are_per_caller(api, table_consistency):
    headers = {"Idempotency-Key": "shared"}
    mine = api.post("/items", {"title": "A"}, headers=headers, user="alice").json
    theirs = api.post("/items", {"title": "A"}, headers=headers, user="bob").json
    assert mine["id"] != theirs["id"]


@pytest.mark.parametrize("key", ["", "x" * 129, "has space", "ü"])
def test_malformed_idempotency_key_is_400(api, key):
    assert_problem(api.post("/items", {"title": "A"}, headers={"Idempotency-Key": key}), 400, "validation_error")
    assert api.get("/items").json["items"] == []
