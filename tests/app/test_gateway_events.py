"""Every route through the Lambda handler (``app.app(event, context)``, in-process, with Lambda's
AWS_LAMBDA_FUNCTION_NAME so the gateway's claims are trusted) on both gateways' events: the REST API's
(Cognito authorizer) and the HTTP API's in payload format 1.0 (JWT authorizer), built in
tests/support/invoke.py. The same checks pass on both, and the same token claims make the same caller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib import keys
from chalicelib import wiring
from chalicelib.auth.local_issuer import OMIT
from chalicelib.auth.local_issuer import SignIn
from chalicelib.auth.local_issuer import build_claims
from chalicelib.auth.local_issuer import sub_for
from chalicelib.settings import get_settings
from chalicelib.vocabulary import ASSISTANT_STREAM_PATH
from tests.support.invoke import GATEWAY_SHAPES
from tests.support.invoke import LambdaContext
from tests.support.invoke import gateway_event

on_both_gateways = pytest.mark.parametrize("shape", GATEWAY_SHAPES)

OTHER_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Elsewhere"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str:
        """The header's value, "" when absent."""
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower(), "")


@pytest.fixture
def in_lambda(env, recording_queue) -> None:
    """Inside Lambda (API Gateway's claims trusted), activity events recorded rather than delivered."""
    env(AWS_LAMBDA_FUNCTION_NAME=LambdaContext.function_name)


def token_claims(username: str = "alice", **overrides: Any) -> dict[str, Any]:
    """The claims of a Cognito-shaped access token of the issuer the app trusts (a real token's shape:
    scope, auth_time, origin_jti, jti, exp, iat), as the authorizer verified them."""
    claims = build_claims(username, settings=get_settings(), **overrides)
    return {name: value for name, value in claims.items() if value is not OMIT}


def call(
    shape: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    claims: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> Answer:
    """One request as ``shape``'s gateway hands it to the function, routed as it routes it."""
    from app import app

    resource, parameters = path, None
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "items":
        resource, parameters = "/items/{item_id}", {"item_id": parts[2]}
    event = gateway_event(
        shape,
        method,
        path,
        resource=resource,
        path_parameters=parameters,
        body=body,
        claims=claims,
        headers=headers,
        query=query,
    )
    response = app(event, LambdaContext())
    return Answer(response["statusCode"], response["headers"], response["body"])


def assert_unauthorized(answer: Answer) -> None:
    assert answer.status == 401, (answer.status, answer.body)
    assert answer.header("Content-Type") == "application/problem+json"
    assert answer.json["code"] == "unauthorized"
    assert answer.header("WWW-Authenticate").startswith("Bearer")


def protected_routes() -> list[tuple[str, str]]:
    """(method, path) of every route with the authorizer, from the app's route table."""
    from app import app

    found = []
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if entry.authorizer is not None:
                found.append((method, path.replace("{item_id}", "01JD0000000000000000000000")))
    return sorted(found)


# --- every route, with claims -------------------------------------------------------------------------


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
def test_items_create_list_get_patch_delete(shape):
    alice = token_claims("alice")
    created = call(shape, "POST", "/items", {"title": "Buy milk"}, claims=alice)
    assert created.status == 201, created.body
    item = created.json
    assert created.header("Location") == f"/items/{item['id']}"
    assert created.header("ETag") == f'"{item["version"]}"'
    assert call(shape, "POST", "/items", {"title": "Walk the dog"}, claims=alice).status == 201

    first = call(shape, "GET", "/items", claims=alice, query={"limit": "1"})
    assert first.status == 200 and len(first.json["items"]) == 1 and first.json["next_cursor"]
    second = call(shape, "GET", "/items", claims=alice, query={"limit": "1", "cursor": first.json["next_cursor"]})
    assert second.status == 200 and second.json["next_cursor"] is None
    listed = {entry["title"] for entry in first.json["items"] + second.json["items"]}
    assert listed == {"Buy milk", "Walk the dog"}

    path = f"/items/{item['id']}"
    got = call(shape, "GET", path, claims=alice)
    assert got.status == 200 and got.json["title"] == "Buy milk" and got.header("ETag") == created.header("ETag")

    patched = call(shape, "PATCH", path, {"status": "done"}, claims=alice, headers={"If-Match": got.header("ETag")})
    assert patched.status == 200, patched.body
    assert patched.json["status"] == "done" and patched.header("ETag") != got.header("ETag")
    stale = call(shape, "PATCH", path, {"title": "Oat milk"}, claims=alice, headers={"If-Match": got.header("ETag")})
    assert stale.status == 412 and stale.json["code"] == "precondition_failed"
    assert call(shape, "GET", path, claims=alice).json["title"] == "Buy milk"  # the stale PATCH changed nothing

    deleted = call(shape, "DELETE", path, claims=alice)
    assert deleted.status == 204 and not deleted.body
    assert call(shape, "GET", path, claims=alice).status == 404


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
def test_another_callers_item_is_not_found(shape):
    item = call(shape, "POST", "/items", {"title": "mine"}, claims=token_claims("alice")).json
    assert call(shape, "GET", f"/items/{item['id']}", claims=token_claims("bob")).status == 404


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
def test_profile_stats_and_activity(shape):
    alice = token_claims("alice")
    me = call(shape, "GET", "/me", claims=alice)
    assert me.status == 200 and (me.json["sub"], me.json["username"]) == (sub_for("alice"), "alice")
    renamed = call(shape, "PATCH", "/me", {"display_name": "Alice A."}, claims=alice)
    assert renamed.status == 200 and renamed.json["display_name"] == "Alice A."
    stats = call(shape, "GET", "/stats", claims=alice)
    assert stats.status == 200, stats.body
    activity = call(shape, "GET", "/activity", claims=alice)
    assert activity.status == 200 and activity.json["next_cursor"] is None


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
def test_the_assistant_answers_buffered(shape):
    alice = token_claims("alice")
    call(shape, "POST", "/items", {"title": "Buy milk"}, claims=alice)
    answer = call(shape, "POST", "/assistant", {"prompt": "what first?"}, claims=alice)
    assert answer.status == 200, answer.body
    assert answer.json["text"] and answer.json["provider"]
    streamed = call(shape, "POST", ASSISTANT_STREAM_PATH, {"prompt": "what first?"}, claims=alice)
    assert streamed.status == 200, streamed.body
    assert streamed.header("Content-Type").startswith("text/event-stream")
    assert "event: done" in streamed.body


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
@pytest.mark.parametrize("path", ["/health", "/openapi.json"])
def test_public_routes_need_no_claims(shape, path):
    answer = call(shape, "GET", path)
    assert answer.status == 200, answer.body


# --- 401s: the gateway's claims are still checked --------------------------------------------------------

REFUSED_CLAIMS = {
    "another_issuer": {"iss": OTHER_ISSUER},
    "another_client": {"client_id": "someone-elses-client"},
    "an_id_token_without_aud": {"token_use": "id"},  # an access token's claims, called an ID token
    "a_refresh_token": {"token_use": "refresh"},
    "no_token_use": {"token_use": OMIT},
    "no_sub": {"sub": OMIT},
}


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
@pytest.mark.parametrize("route", protected_routes(), ids="{0[0]} {0[1]}".format)
def test_every_protected_route_is_401_without_claims(shape, route):
    method, path = route
    assert_unauthorized(call(shape, method, path, {"title": "x", "prompt": "x"}))


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
@pytest.mark.parametrize("route", protected_routes(), ids="{0[0]} {0[1]}".format)
@pytest.mark.parametrize("refusal", sorted(REFUSED_CLAIMS))
def test_every_protected_route_is_401_for_claims_it_does_not_accept(shape, route, refusal):
    method, path = route
    changed = {**token_claims("alice"), **REFUSED_CLAIMS[refusal]}
    claims = {name: value for name, value in changed.items() if value is not OMIT}
    assert_unauthorized(call(shape, method, path, {"title": "x", "prompt": "x"}, claims=claims))


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
def test_a_refused_request_touches_no_data(shape):
    refused = call(shape, "POST", "/items", {"title": "sneaky"}, claims=token_claims("alice", iss=OTHER_ISSUER))
    assert_unauthorized(refused)
    assert call(shape, "GET", "/items", claims=token_claims("alice")).json["items"] == []


@on_both_gateways
def test_claims_are_ignored_outside_lambda(env, shape):
    assert_unauthorized(call(shape, "GET", "/me", claims=token_claims("alice")))


# --- the same caller from both gateways ---------------------------------------------------------------


@on_both_gateways
@pytest.mark.usefixtures("in_lambda")
def test_the_sign_in_session_reaches_the_profile(shape):
    session = SignIn(origin_jti="9b2e7c4a-1d3f-4e5a-8b6c-7d8e9f0a1b2c", auth_time=1_763_794_800)
    claims = token_claims("alice", session=session, **{"cognito:groups": ["admins", "editors"]})
    me = call(shape, "GET", "/me", claims=claims)
    assert me.status == 200
    profile = wiring.services().store.get(keys.profile_key(sub_for("alice")))
    assert profile is not None
    assert (profile["session"], profile["signed_in_at"]) == (session.origin_jti, session.auth_time)


@pytest.mark.usefixtures("in_lambda")
def test_both_gateways_make_the_same_caller_of_the_same_claims():
    session = SignIn(origin_jti="5c0d9e8f-7a6b-4c3d-2e1f-0a9b8c7d6e5f", auth_time=1_763_794_800)
    claims = token_claims("alice", email="alice@example.com", session=session)
    seen = {}
    for shape in GATEWAY_SHAPES:
        me = call(shape, "GET", "/me", claims=claims)
        assert me.status == 200, me.body
        profile = wiring.services().store.get(keys.profile_key(sub_for("alice")))
        assert profile is not None
        seen[shape] = (
            {name: me.json[name] for name in ("sub", "username", "email")},
            (profile["session"], profile["signed_in_at"]),
        )
    assert seen["rest"] == seen["http"]
    assert seen["http"] == (
        {"sub": sub_for("alice"), "username": "alice", "email": "alice@example.com"},
        (session.origin_jti, session.auth_time),
    )
