"""The caller's profile: created on first GET, updated by PATCH, fields from the token."""

from __future__ import annotations

import pytest

from tests.support.api import assert_problem

# Each behaviour holds on both store adapters (SQLite file and DynamoDB Local).
pytestmark = pytest.mark.usefixtures("adapter")


def test_first_get_creates_the_profile_from_the_token(api):
    profile = api.get("/me").json
    assert profile["username"] == "alice" and profile["display_name"] == "alice"
    assert profile["email"] is None  # access tokens carry no email
    assert profile["created_at"] == profile["last_seen_at"]
    assert set(profile) == {"sub", "username", "email", "display_name", "created_at", "last_seen_at"}


def test_sub_is_the_tokens_subject_and_stable(api):
    first = api.get("/me").json
    again = api.get("/me").json
    assert first["sub"] == again["sub"] and first["created_at"] == again["created_at"]
    assert again["last_seen_at"] >= first["last_seen_at"]


def test_id_token_supplies_the_email(api, token_for):
    token = token_for("alice", token_use="id")
    reply = api.get("/me", user=None, headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 200 and reply.json["email"] == "alice@example.com"


def test_patch_sets_the_display_name_and_keeps_it(api):
    reply = api.patch("/me", {"display_name": "  Alice A.  "})
    assert reply.status == 200 and reply.json["display_name"] == "Alice A."
    assert api.get("/me").json["display_name"] == "Alice A."


def test_patch_before_any_get_creates_the_profile(api):
    reply = api.patch("/me", {"display_name": "Early"})
    assert reply.status == 200 and reply.json["created_at"] and reply.json["username"] == "alice"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"display_name": ""},
        {"display_name": "x" * 101},
        {"display_name": None},
        {"username": "root"},
        {"display_name": "ok", "x": 1},
    ],
)
def test_invalid_profile_patch_is_400_and_changes_nothing(api, body):
    before = api.get("/me").json
    assert_problem(api.patch("/me", body), 400, "validation_error")
    assert api.get("/me").json["display_name"] == before["display_name"]


def test_profiles_are_per_caller(api):
    api.patch("/me", {"display_name": "Alice"}, user="alice")
    assert api.get("/me", user="bob").json["display_name"] == "bob"
