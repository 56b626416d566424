"""EMF metrics: one valid document per invocation, low-cardinality dimensions, the request counters, one
namespace from Settings, off locally by default and on in Lambda."""

from __future__ import annotations

import pytest

from chalicelib.observability import metrics
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from chalicelib.vocabulary import REJECTION_REASONS
from tests.observability import emf
from tests.support.invoke import claims
from tests.support.invoke import rest_event
from tests.support.invoke import run_in_lambda
from tests.support.tokens import encode_jws

# Events are recorded, not consumed: the consumer's own lines and EMF documents would interleave with
# the request's (tests/observability/test_correlation.py follows them on purpose).
pytestmark = pytest.mark.usefixtures("recording_queue")

ALLOWED_DIMENSIONS = {
    metrics.SERVICE,
    metrics.ROUTE,
    metrics.STATUS_CLASS,
    metrics.PROVIDER,
    metrics.REASON,
    metrics.KIND,
}


def _dimension_values(document: dict) -> dict[str, str]:
    names = {name for d in document["_aws"]["CloudWatchMetrics"] for s in d["Dimensions"] for name in s}
    return {name: document[name] for name in names}


def test_each_request_writes_exactly_one_valid_emf_document(api, observed, captured):
    item = api.create("measured")
    captured()
    for call in (
        lambda: api.get("/health", user=None),
        lambda: api.get(f"/items/{item['id']}"),
        lambda: api.get("/items/nope"),
        lambda: api.post("/items", {"title": ""}),
        lambda: api.call("PUT", "/items"),
    ):
        reply = call()
        out = captured()
        assert len(out.emf) == 1, out.text
        assert emf.problems(out.emf[0]) == []
        assert out.emf[0]["Requests"] == 1 and out.emf[0]["request_id"] == reply.header("X-Request-Id")


def test_request_metrics_are_by_route_and_status_class_with_no_ids_as_dimensions(api, observed, captured):
    item = api.create("dimensions")
    captured()
    api.get(f"/items/{item['id']}", headers={"X-Request-Id": "dim-1"})
    [document] = captured().emf
    assert _dimension_values(document) == {"Service": "api", "Route": "GET /items/{item_id}", "StatusClass": "2xx"}
    directives = {
        tuple(m["Name"] for m in d["Metrics"]): d["Dimensions"] for d in document["_aws"]["CloudWatchMetrics"]
    }
    assert directives[("Requests",)] == [["Service", "Route", "StatusClass"]]
    assert directives[("Latency",)] == [["Service", "Route"]]
    assert directives[("UnhandledExceptions",)] == [["Service"], []]
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TasksApi"
    assert isinstance(document["Latency"], (int, float)) and document["Latency"] >= 0
    for value in _dimension_values(document).values():
        assert item["id"] not in value and "dim-1" not in value


def test_replays_412s_and_5xx_are_counted_with_explicit_zeros_otherwise(api, observed, captured, env):
    body = {"title": "once"}
    api.post("/items", body, headers={"Idempotency-Key": "m-1"})
    first = captured().emf[0]
    created = api.post("/items", body, headers={"Idempotency-Key": "m-1"})
    replay = captured().emf[0]
    api.patch(f"/items/{created.json['id']}", {"status": "done"}, headers={"If-Match": '"7"'})
    stale = captured().emf[0]
    env(STORE="off")
    api.get("/items")
    disabled = captured().emf[0]
    counters = ("IdempotentReplays", "PreconditionFailed", "Errors5xx", "UnhandledExceptions")
    assert [first[c] for c in counters] == [0, 0, 0, 0]
    assert [replay[c] for c in counters] == [1, 0, 0, 0]
    assert [stale[c] for c in counters] == [0, 1, 0, 0] and stale["StatusClass"] == "4xx"
    assert [disabled[c] for c in counters] == [0, 0, 1, 0] and disabled["StatusClass"] == "5xx"


def _header_of(token: str, **fields) -> str:
    """``token`` with its JOSE header changed (the signature then no longer matters: refused before)."""
    import jwt

    header = {**jwt.get_unverified_header(token), **fields}
    return encode_jws(header, b"").split(".")[0] + "." + token.split(".", 1)[1]


# How to be refused for each reason through the API (signing keys unavailable: tests/auth/test_verifier.py; a
# missing scope needs AUTH_REQUIRED_SCOPE, which only the streaming function gets: tests/streaming).
REFUSALS = {
    "missing_token": lambda token_for: None,
    "malformed_token": lambda token_for: "Bearer not-a-jwt",
    "wrong_algorithm": lambda token_for: "Bearer " + _header_of(token_for(), alg="HS256"),
    "unknown_key": lambda token_for: "Bearer " + _header_of(token_for(), kid="retired-key"),
    "bad_signature": lambda token_for: "Bearer " + token_for().rsplit(".", 1)[0] + "." + token_for().rsplit(".")[2],
    "expired": lambda token_for: "Bearer " + token_for(now=1_000_000_000, ttl=60),
    "not_yet_valid": lambda token_for: "Bearer " + token_for(nbf=4_000_000_000),
    "wrong_issuer": lambda token_for: "Bearer " + token_for(iss="https://issuer.example"),
    "wrong_client": lambda token_for: "Bearer " + token_for(client_id="another-app"),
    "wrong_token_use": lambda token_for: "Bearer " + token_for(token_use="refresh"),
    "invalid_claims": lambda token_for: "Bearer " + token_for(sub="USER#mallory"),
}


def test_the_refusals_cover_every_reason_the_api_can_meet():
    assert set(REFUSALS) == set(REJECTION_REASONS) - {"keys_unavailable", "missing_scope"}


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_each_401_is_counted_once_by_reason_and_logged_without_the_token(api, observed, captured, token_for, reason):
    authorization = REFUSALS[reason](token_for)
    captured()
    reply = api.get("/items", user=None, headers={"Authorization": authorization} if authorization else {})
    out = captured()
    assert reply.status == 401
    [document] = out.emf
    assert emf.problems(document) == []
    assert (document["SignInFailures"], document["Reason"], document["Service"]) == (1, reason, "api")
    directives = {
        tuple(m["Name"] for m in d["Metrics"]): d["Dimensions"] for d in document["_aws"]["CloudWatchMetrics"]
    }
    assert directives[("SignInFailures",)] == [["Service", "Reason"], ["Service"]]
    [refused] = [line for line in out.logs if line["message"] == "token refused"]
    assert refused["reason"] == reason and refused["level"] == "INFO"
    # Never tied to anyone: no user on any line, and nothing of the token anywhere.
    assert all("user" not in line for line in out.logs)
    if authorization:
        for part in authorization.removeprefix("Bearer ").split("."):
            assert part not in out.text


def test_an_accepted_token_counts_no_sign_in_failure(api, observed, captured):
    api.get("/items")
    [document] = captured().emf
    assert "SignInFailures" not in document and "Reason" not in document


def test_metrics_are_off_locally_by_default(api, env, captured):
    env(LOG_FORMAT="json")
    api.get("/health", user=None)
    out = captured()
    assert out.emf == [] and len(out.access()) == 1


def test_the_namespace_is_a_setting(api, observed, captured):
    observed(METRICS_NAMESPACE="TasksApi/prod-stack")
    api.get("/health", user=None)
    [document] = captured().emf
    assert {d["Namespace"] for d in document["_aws"]["CloudWatchMetrics"]} == {"TasksApi/prod-stack"}


@pytest.mark.parametrize("namespace", ["AWS/Lambda", "x" * 256, "bad\nname"])
def test_an_unusable_namespace_fails_at_start_up(namespace):
    with pytest.raises(ConfigError):
        Settings.from_env({"METRICS_NAMESPACE": namespace})


@pytest.mark.parametrize(
    "variables,mode",
    [
        ({}, "off"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, "emf"),
        ({"METRICS": "emf"}, "emf"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "METRICS": "off"}, "off"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "OBSERVABILITY": "off"}, "off"),
    ],
)
def test_emf_is_on_in_lambda_and_off_elsewhere_unless_asked(variables, mode):
    assert Settings.from_env(variables).metrics == mode


def test_in_lambda_each_invocation_writes_exactly_one_emf_line_by_default(tmp_path):
    run = run_in_lambda(
        tmp_path,
        [
            rest_event("GET", "/health"),
            rest_event("GET", "/items", claims=claims()),
            rest_event("POST", "/items", body={"title": ""}, claims=claims()),
        ],
    )
    assert [r["statusCode"] for r in run.responses] == [200, 200, 400]
    for out in run.invocations:
        assert len(out.emf) == 1 and emf.problems(out.emf[0]) == []
    assert [out.emf[0]["Route"] for out in run.invocations] == ["GET /health", "GET /items", "POST /items"]


def test_every_declared_metric_renders_valid_emf_with_low_cardinality_dimensions():
    names = [metric.name for metric in metrics.ALL_METRICS]
    assert len(names) == len(set(names))
    collector = metrics.Collector("TasksApi", metrics.ASSISTANT_STREAM)
    collector.dimensions.update(
        {
            metrics.ROUTE: "POST /assistant/stream",
            metrics.STATUS_CLASS: "2xx",
            metrics.PROVIDER: "bedrock",
            metrics.REASON: "expired",
            metrics.KIND: "exception",
        }
    )
    for metric in metrics.ALL_METRICS:
        if metric.unit == metrics.MILLISECONDS:
            collector.observe(metric, 12.5)
            collector.observe(metric, 14.0)
        else:
            collector.count(metric, 3)
    document = collector.document(timestamp_ms=1_700_000_000_000)
    assert emf.problems(document) == []
    rendered = {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert rendered == set(names)
    for metric in metrics.ALL_METRICS:
        assert {name for s in metric.dimensions for name in s} <= ALLOWED_DIMENSIONS
    assert document["TimeToFirstToken"] == [12.5, 14.0]


def test_a_dimension_set_naming_a_dimension_never_given_is_left_out():
    collector = metrics.Collector("TasksApi", metrics.API)
    collector.count(metrics.PROVIDER_THROTTLES)  # needs Provider, which this invocation never set
    collector.count(metrics.UNHANDLED_EXCEPTIONS)
    document = collector.document()
    assert emf.problems(document) == []
    assert "ProviderThrottles" not in document and document["UnhandledExceptions"] == 1
    assert metrics.Collector("TasksApi", metrics.API).document() is None


def test_the_emf_checker_rejects_what_the_specification_forbids():
    valid = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["Service"]], "Metrics": [{"Name": "Requests", "Unit": "Count"}]}
            ],
        },
        "Service": "api",
        "Requests": 1,
    }
    assert emf.problems(valid) == []
    broken = [
        {**valid, "Service": 7},  # a dimension value must be a string
        {**valid, "Requests": "1"},  # a metric value must be a number
        {k: v for k, v in valid.items() if k != "Requests"},  # the target must be at the root
        {**valid, "_aws": {**valid["_aws"], "Timestamp": "now"}},  # milliseconds since the epoch
        {
            **valid,
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [], "Metrics": []}]},
        },  # at least one dimension set
        {
            **valid,
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [["Service"]], "Metrics": [{"Name": "Requests", "Unit": "Things"}]}
                ],
            },
        },
        {**valid, "Requests": list(range(101))},  # at most 100 values
    ]
    for document in broken:
        assert emf.problems(document), document
