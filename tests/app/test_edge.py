"""The edge: health, request ids, problem documents, auth ordering, Chalice's own answers, and
that failures never leak internals."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.api import assert_problem


def test_health_is_public_and_reports_version_and_stage(api):
    reply = api.get("/health", user=None)
    assert reply.status == 200
    assert reply.json == {"status": "ok", "version": "0.1.0", "stage": "local"}


def test_health_reports_the_configured_stage(api, env):
    env(APP_STAGE="dev")
    assert api.get("/health", user=None).json["stage"] == "dev"


def test_a_sane_caller_request_id_is_echoed(api):
    reply = api.get("/health", user=None, headers={"X-Request-Id": "abc-123.x:y_z"})
    assert reply.header("X-Request-Id") == "abc-123.x:y_z"


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "<script>", "ü"])
def test_an_insane_request_id_is_replaced_by_a_generated_one(api, given):
    reply = api.get("/health", user=None, headers={"X-Request-Id": given})
    generated = reply.header("X-Request-Id")
    assert generated and generated != given and re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", generated)


def test_every_response_carries_a_request_id_including_errors(api):
    for reply in (api.get("/items", user=None), api.get("/items/nope"), api.post("/items", {})):
        assert reply.header("X-Request-Id")


@pytest.mark.parametrize("path", ["/me", "/items", "/items/01ARZ3NDEKTSV4RRFFQ69G5FAV"])
def test_protected_routes_without_a_token_are_401_with_www_authenticate(api, path):
    reply = api.get(path, user=None)
    assert_problem(reply, 401, "unauthorized")
    assert reply.header("WWW-Authenticate").startswith("Bearer")


def test_401_is_decided_before_the_body_is_looked_at(api):
    huge = json.dumps({"title": "x" * (70 * 1024)}).encode()
    assert_problem(api.call("POST", "/items", raw=huge, user=None), 401, "unauthorized")
    assert_problem(api.call("POST", "/items", raw=b"not json", user=None), 401, "unauthorized")


def test_an_unsupported_method_is_a_405_problem_with_allow(api):
    reply = api.call("PUT", "/items")
    assert_problem(reply, 405, "method_not_allowed")
    assert "GET" in reply.header("Allow") and "POST" in reply.header("Allow")


def test_an_unhandled_exception_is_a_500_problem_with_only_the_request_id(env, api, caplog):
    from tests.support.faults import fail_store

    fail_store(env, RuntimeError("secret internals: table=tasks, key=USER#abc"), "get")
    reply = api.get("/items/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    problem = assert_problem(reply, 500, "internal_error")
    text = reply.body.decode()
    assert "secret" not in text and "RuntimeError" not in text and "Traceback" not in text
    assert "USER#" not in text
    assert set(problem) == {"type", "title", "status", "code", "detail", "request_id"}
    assert "secret internals" in caplog.text  # the log keeps the trace


def test_responses_never_expose_storage_internals(api):
    item = api.create(tags=["t"])
    listing = api.get("/items").json
    texts = [json.dumps(item), json.dumps(listing), json.dumps(api.get("/me").json)]
    for text in texts:
        # Quoted names: ids are base32 and may contain "PK" or "SK" as letters.
        for internal in ('"PK"', '"SK"', '"GSI1PK"', '"GSI1SK"', "USER#", "ITEM#", "expires_at", "fingerprint"):
            assert internal not in text


def test_with_the_store_switched_off_data_routes_answer_503_feature_disabled(api, env):
    env(STORE="off")
    assert api.get("/health", user=None).status == 200
    for method, path, body in (
        ("GET", "/me", None),
        ("GET", "/items", None),
        ("POST", "/items", {"title": "x"}),
        ("GET", "/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", None),
    ):
        assert_problem(api.call(method, path, body), 503, "feature_disabled")


def test_with_the_store_switched_off_authentication_still_comes_first(api, env):
    env(STORE="off")
    assert_problem(api.get("/items", user=None), 401, "unauthorized")
