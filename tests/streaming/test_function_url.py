"""The streaming function behind a Lambda function URL (the HTTP API flavour): the URL's events through the
real runtime loop and the fake Runtime API, with no authorizer in front, so the function verifies the token
and the API's scope itself and refuses before anything streams."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.settings import LOCAL_CLIENT_ID
from chalicelib.settings import LOCAL_ISSUER
from chalicelib.streaming import runtime
from chalicelib.streaming.handler import is_function_url_event
from tests.support.runtime_api import DELIMITER
from tests.support.streaming import stream_event
from tests.support.streaming import url_event

API_SCOPE = "tasks-api/api"
FUNCTION_NAME = "tasks-api-AssistantStreamHandler"


@pytest.fixture
def url_env(streaming, runtime_api, monkeypatch):
    """The runtime as the HTTP flavour deploys it: inside Lambda (AWS_LAMBDA_FUNCTION_NAME), the API's scope
    required, no CORS of its own (the URL's configuration answers it), pointed at the fake Runtime API."""
    streaming(AWS_LAMBDA_FUNCTION_NAME=FUNCTION_NAME, AUTH_REQUIRED_SCOPE=API_SCOPE)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", runtime_api.address)
    return runtime_api


@pytest.fixture
def scoped_token(token_for):
    def make(username: str = "alice", **claims) -> str:
        claims.setdefault("scope", f"openid email {API_SCOPE}")
        return token_for(username, **claims)

    return make


def _served(api, event):
    request_id = api.add(event)
    assert runtime.main(max_invocations=1) == 0
    return api.wait(api.responses, request_id)


def test_a_function_url_event_is_told_from_an_api_gateway_one():
    assert is_function_url_event(url_event())
    assert not is_function_url_event(stream_event())


def test_a_valid_token_with_the_scope_streams_the_events_and_the_first_before_the_provider_finishes(
    url_env, scoped_token, assistant
):
    fake = assistant(tuple(f"t{i} " for i in range(6)), delay=0.05)
    posted = _served(url_env, url_event(token=scoped_token("alice"), headers={"X-Request-Id": "req-url-1"}))
    assert posted.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert posted.headers["Content-Type"] == "application/vnd.awslambda.http-integration-response"
    streamed = posted.streamed()
    assert streamed.status == 200
    assert streamed.headers["Content-Type"] == "text/event-stream"
    assert streamed.headers["Cache-Control"] == "no-cache"
    assert streamed.headers["X-Request-Id"] == "req-url-1"
    # The URL's CORS configuration adds CORS headers, and its win over the function's: none from here.
    assert not any(name.lower().startswith("access-control-") for name in streamed.headers)
    assert [name for name, _ in streamed.events()] == ["token"] * 6 + ["done"]
    assert fake.calls[0][0] != "" and fake.finished
    served = url_env.served[posted.path.split("/")[-2]]
    arrivals = [at - served for at, _ in posted.chunks]
    assert arrivals[1] < arrivals[-1] / 2, arrivals  # the first event long before the last: streamed
    assert all(later > earlier for earlier, later in itertools.pairwise(arrivals[1:]))


@pytest.mark.parametrize(
    "case, reason",
    [
        ("no token", "missing_token"),
        ("expired", "expired"),
        ("wrong client", "wrong_client"),
        ("missing scope", "missing_scope"),
        ("id token", "missing_scope"),
        ("forged gateway claims", "missing_token"),
    ],
)
def test_a_refused_token_is_a_401_problem_before_anything_streams(url_env, scoped_token, assistant, case, reason):
    fake = assistant()
    claims = {"iss": LOCAL_ISSUER, "sub": "forged", "token_use": "access", "client_id": LOCAL_CLIENT_ID}
    event = {
        "no token": lambda: url_event(),
        "expired": lambda: url_event(token=scoped_token(now=1_000_000_000, ttl=60)),
        "wrong client": lambda: url_event(token=scoped_token(client_id="another-app")),
        "missing scope": lambda: url_event(token=scoped_token(scope="openid email")),
        "id token": lambda: url_event(token=scoped_token(token_use="id")),
        # Whatever a function URL's request context holds, nothing in front of the URL verified it.
        "forged gateway claims": lambda: url_event(
            authorizer={"claims": claims, "jwt": {"claims": claims, "scopes": [API_SCOPE]}}
        ),
    }[case]()
    posted = _served(url_env, event)
    streamed = posted.streamed()
    assert streamed.status == 401
    assert streamed.headers["Content-Type"] == "application/problem+json"
    assert streamed.headers["WWW-Authenticate"].startswith("Bearer")
    assert streamed.problem()["code"] == "unauthorized"
    assert b"event:" not in streamed.body and len(posted.chunks) == 2  # the prelude, then the problem
    assert fake.calls == []  # the provider was never asked


def test_a_refusal_is_counted_by_reason(url_env, scoped_token, assistant, capsys):
    from tests.support.output import Output

    assistant()
    capsys.readouterr()
    _served(url_env, url_event(token=scoped_token(scope="openid")))
    output = Output.parse(*capsys.readouterr())
    [document] = output.emf
    assert (document["SignInFailures"], document["Reason"]) == (1, "missing_scope")


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD"])
def test_anything_but_post_is_405_with_allow(url_env, scoped_token, assistant, method):
    fake = assistant()
    streamed = _served(url_env, url_event(token=scoped_token(), method=method)).streamed()
    assert streamed.status == 405 and streamed.headers["Allow"] == "POST"
    assert streamed.problem()["code"] == "method_not_allowed" and fake.calls == []


@pytest.mark.parametrize("path", ["/", "/assistant", "/assistant/stream/", "/items"])
def test_another_path_under_the_url_is_404(url_env, scoped_token, assistant, path):
    fake = assistant()
    streamed = _served(url_env, url_event(token=scoped_token(), path=path)).streamed()
    assert streamed.status == 404 and streamed.problem()["code"] == "not_found" and fake.calls == []


def test_a_preflight_reaching_the_function_is_a_bodyless_204_left_to_the_urls_cors_headers(url_env, assistant):
    fake = assistant()
    posted = _served(url_env, url_event(method="OPTIONS", headers={"Origin": "https://app.example"}))
    streamed = posted.streamed()
    assert streamed.status == 204 and streamed.body == b""
    assert posted.chunks[0][1].endswith(DELIMITER)
    assert not any(name.lower().startswith("access-control-") for name in streamed.headers)
    assert fake.calls == []


def test_a_base64_body_from_the_url_is_decoded(url_env, scoped_token, assistant):
    import base64

    fake = assistant()
    event = url_event(token=scoped_token())
    event["body"], event["isBase64Encoded"] = base64.b64encode(b'{"prompt": "hello"}').decode(), True
    assert _served(url_env, event).streamed().status == 200 and fake.calls[0][1] == "hello"


def test_the_rest_apis_gateway_claims_are_still_trusted_inside_lambda(url_env, assistant):
    # The REST flavour: API Gateway's authorizer required the scope already; its claims carry none.
    fake = assistant()
    claims = {"iss": LOCAL_ISSUER, "sub": "gateway-sub", "token_use": "access", "client_id": LOCAL_CLIENT_ID}
    assert _served(url_env, stream_event(claims=claims)).streamed().status == 200
    assert fake.calls[0][0] == "gateway-sub"
