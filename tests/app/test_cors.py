"""CORS: the origins in CORS_ALLOW_ORIGINS get preflight answers and readable responses; others none."""

from __future__ import annotations

import pytest

ORIGIN = "https://app.example.com"


@pytest.fixture
def cors_on(env):
    env(CORS_ALLOW_ORIGINS=f"{ORIGIN}, https://admin.example.com")


def test_without_configured_origins_responses_carry_no_cors_headers(api):
    reply = api.get("/items", headers={"Origin": ORIGIN})
    assert reply.status == 200
    assert reply.header("Access-Control-Allow-Origin") is None and reply.header("Vary") is None


def test_an_allowed_origin_may_read_responses_and_their_headers(api, cors_on):
    reply = api.post("/items", {"title": "x"}, headers={"Origin": ORIGIN})
    assert reply.status == 201
    assert reply.header("Access-Control-Allow-Origin") == ORIGIN
    assert "ETag" in reply.header("Access-Control-Expose-Headers")
    assert reply.header("Vary") == "Origin"


def test_an_allowed_origin_may_read_error_responses_too(api, cors_on):
    reply = api.get("/items", user=None, headers={"Origin": ORIGIN})
    assert reply.status == 401 and reply.header("Access-Control-Allow-Origin") == ORIGIN


def test_an_origin_not_on_the_list_gets_no_allow_origin(api, cors_on):
    reply = api.get("/items", headers={"Origin": "https://evil.example.com"})
    assert reply.status == 200
    assert reply.header("Access-Control-Allow-Origin") is None and reply.header("Vary") == "Origin"


@pytest.mark.parametrize(
    "path, methods",
    [
        ("/items", {"GET", "POST"}),
        ("/me", {"GET", "PATCH"}),
        ("/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"GET", "PATCH", "DELETE"}),
        ("/stats", {"GET"}),
        ("/activity", {"GET"}),
    ],
)
def test_a_preflight_needs_no_token_and_lists_the_resources_methods_and_headers(api, cors_on, path, methods):
    reply = api.call("OPTIONS", path, user=None, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert reply.status == 204
    assert reply.header("Access-Control-Allow-Origin") == ORIGIN
    assert set(reply.header("Access-Control-Allow-Methods").split(", ")) == methods | {"OPTIONS"}
    allowed = reply.header("Access-Control-Allow-Headers")
    for header in ("Authorization", "Content-Type", "If-Match", "Idempotency-Key"):
        assert header in allowed
    assert reply.header("Access-Control-Max-Age")


def test_a_preflight_from_an_unlisted_origin_grants_nothing(api, cors_on):
    reply = api.call("OPTIONS", "/items", user=None, headers={"Origin": "https://evil.example.com"})
    assert reply.status == 204 and reply.header("Access-Control-Allow-Origin") is None


def test_a_preflight_allows_the_configured_headers_for_the_configured_time(api, env):
    env(CORS_ALLOW_ORIGINS=ORIGIN, CORS_ALLOW_HEADERS="Authorization, X-Trace", CORS_MAX_AGE="60")
    reply = api.call("OPTIONS", "/items", user=None, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert reply.header("Access-Control-Allow-Headers") == "Authorization, X-Trace"
    assert reply.header("Access-Control-Max-Age") == "60"


def test_a_max_age_that_is_not_a_number_of_seconds_is_refused_at_start():
    from chalicelib.settings import ConfigError
    from chalicelib.settings import Settings

    with pytest.raises(ConfigError, match="CORS_MAX_AGE"):
        Settings.from_env({"CORS_MAX_AGE": "ten minutes"})
