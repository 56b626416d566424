"""The token attack suite through the app: every 401 case of docs/API.md answers a 401 problem
with WWW-Authenticate, never a 5xx, on a real key pair; good tokens of both kinds get in."""

from __future__ import annotations

import time

import pytest

from chalicelib.auth.local_issuer import OMIT
from tests.support.api import assert_problem
from tests.support.invoke import rest_event


@pytest.fixture
def auth_settings(env):
    """The app's own settings, so forged tokens target the issuer the app trusts."""
    from chalicelib.settings import get_settings

    return get_settings()


def _get_me(api, token: str):
    return api.get("/me", user=None, headers={"Authorization": f"Bearer {token}"})


def _assert_401(reply) -> None:
    assert_problem(reply, 401, "unauthorized")
    assert reply.header("WWW-Authenticate").startswith("Bearer")


ATTACKS = {
    "alg_none": lambda mk, other: mk(alg="none"),
    "alg_none_capitalised": lambda mk, other: mk(alg="None"),
    "hs256_signed_with_the_public_key": lambda mk, other: mk(alg="HS256"),
    "rs512_instead_of_rs256": lambda mk, other: mk(alg="RS512"),
    "ps256_instead_of_rs256": lambda mk, other: mk(alg="PS256"),
    "missing_kid": lambda mk, other: mk(kid=OMIT),
    "unknown_kid": lambda mk, other: mk(kid="not-a-published-key"),
    "signed_by_another_key_under_a_known_kid": lambda mk, other: mk(key=other),
    "expired": lambda mk, other: mk(now=int(time.time()) - 7200, ttl=3600),
    "expired_beyond_the_30s_leeway": lambda mk, other: mk(now=int(time.time()) - 100, ttl=60),
    "not_yet_valid_nbf": lambda mk, other: mk(nbf=int(time.time()) + 600),
    "issued_in_the_future": lambda mk, other: mk(iat=int(time.time()) + 600),
    "wrong_issuer": lambda mk, other: mk(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_evil"),
    "wrong_client_for_an_access_token": lambda mk, other: mk(client_id="someone-elses-client"),
    "wrong_audience_for_an_id_token": lambda mk, other: mk(token_use="id", aud="someone-elses-client"),
    "refresh_token_use": lambda mk, other: mk(token_use_override="refresh"),
    "missing_token_use": lambda mk, other: mk(token_use_override=OMIT),
    "missing_sub": lambda mk, other: mk(sub_override=OMIT),
    "missing_exp": lambda mk, other: mk(exp=OMIT),
    "missing_iat": lambda mk, other: mk(iat=OMIT),
    "sub_with_the_key_separator": lambda mk, other: mk(sub="alice#ITEM#x"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_tokens_are_401_problems(api, make_token, other_key, attack):
    def mk(**claims):
        # token_use and sub are parameters of build_claims; these spellings force raw values.
        overrides = {}
        if "token_use_override" in claims:
            overrides["token_use"] = claims.pop("token_use_override")
        if "sub_override" in claims:
            overrides["sub"] = claims.pop("sub_override")
        if overrides:
            from chalicelib.auth.local_issuer import build_claims
            from chalicelib.settings import get_settings

            payload = {**build_claims("alice", settings=get_settings()), **overrides}
            payload = {k: v for k, v in payload.items() if v is not OMIT}
            return make_token(payload=payload, **claims)
        return make_token(**claims)

    _assert_401(_get_me(api, ATTACKS[attack](mk, other_key)))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ...",
        "Basic YWxpY2U6cHc=",
        "Bearer x.y",
        "Token abc",
        "Bearer " + "A" * 20000,
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    ],
)
def test_malformed_authorization_headers_are_401_problems(api, header):
    headers = {} if header is None else {"Authorization": header}
    _assert_401(api.get("/items", user=None, headers=headers))


def test_scheme_name_is_case_insensitive(api, make_token):
    token = make_token()
    assert api.get("/me", user=None, headers={"Authorization": f"bearer {token}"}).status == 200
    assert api.get("/me", user=None, headers={"Authorization": f"BEARER {token}"}).status == 200


def test_token_expired_within_the_leeway_is_accepted(api, make_token):
    assert _get_me(api, make_token(now=int(time.time()) - 70, ttl=60)).status == 200


def test_access_and_id_tokens_are_both_accepted_for_the_same_caller(api, make_token):
    access = _get_me(api, make_token(token_use="access")).json
    id_token = _get_me(api, make_token(token_use="id")).json
    assert access["sub"] == id_token["sub"]


def _forged_claims() -> dict:
    from chalicelib.settings import LOCAL_CLIENT_ID
    from chalicelib.settings import LOCAL_ISSUER

    return {
        "sub": "victim",
        "iss": LOCAL_ISSUER,
        "token_use": "access",
        "client_id": LOCAL_CLIENT_ID,
        "username": "victim",
    }


def test_forged_gateway_claims_are_ignored_outside_lambda(env):
    from app import app

    response = app(rest_event("GET", "/me", claims=_forged_claims()), None)
    assert response["statusCode"] == 401


def test_gateway_claims_are_trusted_inside_lambda_without_verifying_again(env):
    env(AWS_LAMBDA_FUNCTION_NAME="tasks-api")
    from app import app

    response = app(rest_event("GET", "/me", claims=_forged_claims()), None)
    assert response["statusCode"] == 200
    assert '"sub":"victim"' in response["body"]


def test_a_401_request_touches_no_data(api, make_token, other_key):
    forged = make_token(key=other_key)
    reply = api.post("/items", {"title": "sneaky"}, user=None, headers={"Authorization": f"Bearer {forged}"})
    _assert_401(reply)
    assert api.get("/items").json["items"] == []
