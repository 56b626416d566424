"""Structured logs: one JSON object per line with the request's fields, one access line per request,
a keyed pseudonym for the user, readable text locally, and never a token, body, header or secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re

import pytest

from chalicelib.observability import logs
from chalicelib.settings import get_settings
from tests.support.api import assert_problem
from tests.support.invoke import claims
from tests.support.invoke import item_event
from tests.support.invoke import rest_event
from tests.support.invoke import run_in_lambda

# Events are recorded, not consumed: the consumer's own lines and EMF documents would interleave with
# the request's (tests/observability/test_correlation.py follows them on purpose).
pytestmark = pytest.mark.usefixtures("recording_queue")

RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _expected_pseudonym(sub: str, secret: bytes) -> str:
    key = hmac.new(secret, b"tasks-api/log-user-pseudonym/v1", hashlib.sha256).digest()
    return hmac.new(key, sub.encode(), hashlib.sha256).hexdigest()[:16]


def test_each_line_is_one_json_object_with_the_request_fields(api, observed, captured):
    reply = api.get(f"/items/{MISSING_ID}", headers={"X-Request-Id": "req-fields-1"})
    assert reply.status == 404
    out = captured()
    assert out.other == [], out.other  # every line parses as JSON
    [access] = out.access()
    assert RFC3339_Z.fullmatch(access["timestamp"])
    assert access["level"] == "INFO" and access["logger"] == "tasks.access"
    assert access["message"] == "GET /items/{item_id} 404"
    assert access["request_id"] == "req-fields-1"
    assert access["route"] == "/items/{item_id}" and access["method"] == "GET"
    assert access["status"] == 404 and isinstance(access["latency_ms"], (int, float)) and access["latency_ms"] >= 0
    assert isinstance(access["cold_start"], bool)
    # The test client runs the app the way `chalice local` does, with a Lambda-shaped context.
    assert access["lambda_request_id"] and access["function_name"]
    assert re.fullmatch(r"[0-9a-f]{16}", access["user"])


@pytest.fixture(scope="module")
def lambda_run(tmp_path_factory):
    """Three invocations of one fresh Lambda process (the runtime's own root handler installed)."""
    tmp_path = tmp_path_factory.mktemp("lambda")
    return run_in_lambda(
        tmp_path,
        [
            rest_event("GET", "/health", apigw_request_id="apigw-1"),
            rest_event(
                "GET", "/items", claims=claims(), apigw_request_id="apigw-2", headers={"X-Request-Id": "given-2"}
            ),
            item_event("GET", MISSING_ID, claims=claims(), apigw_request_id="apigw-3"),
        ],
    )


def test_in_lambda_each_line_carries_the_gateway_and_lambda_ids_and_the_function_name(lambda_run):
    for n, out in enumerate(lambda_run.invocations):
        [access] = out.access()
        assert access["apigw_request_id"] == f"apigw-{n + 1}"
        assert access["lambda_request_id"] == f"lambda-request-{n}"
        assert access["function_name"] == "tasks-api-APIHandler"
        assert access["request_id"] == lambda_run.responses[n]["headers"]["X-Request-Id"]
    assert lambda_run.invocations[1].access()[0]["request_id"] == "given-2"
    assert lambda_run.invocations[2].access()[0]["route"] == "/items/{item_id}"


def test_cold_start_is_true_on_the_first_invocation_only(lambda_run):
    assert [out.access()[0]["cold_start"] for out in lambda_run.invocations] == [True, False, False]


def test_in_lambda_the_runtimes_own_handler_is_replaced_so_each_line_is_written_once_as_json(lambda_run):
    for out in lambda_run.invocations:
        assert out.other == [], out.other  # no "[INFO]\t..." copies from the runtime's text handler
        assert len(out.access()) == 1


def test_the_user_is_a_keyed_pseudonym_of_sub_never_the_sub(api, observed, captured):
    sub = api.get("/me").json["sub"]
    api.get("/items")
    api.get("/me", user="bob")
    out = captured()
    alice, bob = out.access()[:2], out.access()[2]
    expected = _expected_pseudonym(sub, get_settings().cursor_secret)
    assert [line["user"] for line in alice] == [expected, expected]
    assert bob["user"] != expected
    assert sub not in out.text
    assert logs.pseudonym(sub, b"another deployment's secret") != expected


def test_a_caller_request_id_is_in_the_access_line_and_the_problem_body(api, observed, captured):
    reply = api.get(f"/items/{MISSING_ID}", headers={"X-Request-Id": "caller-chosen.id:42"})
    problem = assert_problem(reply, 404, "not_found")
    assert problem["request_id"] == "caller-chosen.id:42"
    [access] = captured().access()
    assert access["request_id"] == "caller-chosen.id:42"


SECRET = "s3cr3t-PAYLOAD-7f9e2c"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_token_body_header_or_secret_reaches_any_line_even_at_debug(
    adapter, env, api, captured, log_format, token_for
):
    env(LOG_FORMAT=log_format, LOG_LEVEL="DEBUG", METRICS="emf", CURSOR_SECRET=f"cursor-{SECRET}")
    token = token_for("alice")
    headers = {"X-Secret-Header": SECRET}
    created = api.post(
        "/items", {"title": SECRET, "notes": SECRET, "tags": ["x"]}, headers={**headers, "Idempotency-Key": "k-1"}
    )
    assert created.status == 201
    item_id = created.json["id"]
    api.post("/items", {"title": SECRET, "notes": SECRET, "tags": ["x"]}, headers={**headers, "Idempotency-Key": "k-1"})
    api.patch(f"/items/{item_id}", {"notes": SECRET}, headers={**headers, "If-Match": '"9"'})  # 412
    api.patch(f"/items/{item_id}", {"status": SECRET}, headers=headers)  # 400
    api.post("/items", raw=b'{"title": "' + SECRET.encode() + b'"', headers=headers)  # invalid JSON
    api.post("/items", raw=b"x" * (64 * 1024 + 1), headers=headers)  # 413
    api.patch("/me", {"display_name": SECRET}, headers=headers)
    api.get("/items", user=None, headers={"Authorization": f"Bearer {token}x", **headers})  # 401
    api.get("/items", user=None, headers={"Authorization": f"Bearer {SECRET}", **headers})  # 401

    from tests.support.faults import fail_store

    fail_store(env, RuntimeError("the store exploded"), "update")
    assert api.patch(f"/items/{item_id}", {"notes": SECRET}, headers=headers).status == 500  # unhandled
    out = captured()
    everything = out.text + out.stderr
    assert len(out.access()) == 10 if log_format == "json" else "tasks.access" in everything
    assert "ERROR" in everything  # the unhandled exception was logged
    for secret in (SECRET, token, token.split(".")[2], api.token("alice")):
        assert secret not in everything


def test_the_local_default_is_readable_text_with_the_request_id(api, env, captured):
    env(APP_STAGE="local")
    api.get("/health", user=None, headers={"X-Request-Id": "text-1"})
    out = captured()
    [line] = [line for line in out.lines() if "tasks.access" in line]
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d\.\d{3} INFO +tasks\.access \[text-1\] GET /health 200 status=200 "
        r"latency_ms=[0-9.]+",
        line,
    ), line
    assert out.emf == []  # metrics are off locally


def test_debug_is_the_apps_level_only_libraries_stay_at_warning(api, env, captured):
    env(LOG_LEVEL="DEBUG", LOG_FORMAT="json")
    api.get("/health", user=None)
    assert logging.getLogger("tasks").getEffectiveLevel() == logging.DEBUG
    for library in ("botocore", "urllib3", "jwt", ""):
        assert logging.getLogger(library).getEffectiveLevel() >= logging.WARNING


def test_configuring_again_installs_one_handler_and_routes_chalices_own_log_through_it(api, observed, captured):
    api.get("/health", user=None)
    settings = get_settings()
    logs.configure(settings)
    logs.configure(settings)
    root = logging.getLogger()
    assert sum(isinstance(h, logs.StdoutHandler) for h in root.handlers) == 1
    chalice_log = logging.getLogger(logs.CHALICE_LOGGER)
    assert chalice_log.handlers == [] and chalice_log.propagate


def test_the_chalice_logger_name_is_the_apps_name():
    from app import app

    assert app.log.name == logs.CHALICE_LOGGER


def test_a_bad_log_level_fails_at_start_up():
    from chalicelib.settings import ConfigError
    from chalicelib.settings import Settings

    with pytest.raises(ConfigError):
        Settings.from_env({"LOG_LEVEL": "LOUD"})


def test_json_lines_keep_extra_fields_and_escape_everything_to_one_line(observed, captured):
    logs.configure(get_settings())
    token = logs.bind(request_id="r-1", route="/x")
    try:
        logging.getLogger("tasks.test").warning("two\nlines ü", extra={"message_id": "m-1", "ignored": None})
    finally:
        logs.reset(token)
    [line] = captured().lines()
    parsed = json.loads(line)
    assert parsed["message"] == "two\nlines ü" and parsed["message_id"] == "m-1" and "ignored" not in parsed
    assert parsed["request_id"] == "r-1" and parsed["route"] == "/x" and line.isascii()


def test_the_access_line_written_directly_is_the_line_logging_writes(observed, captured, monkeypatch):
    """logs.log skips the logging machinery only where the JSON handler alone would write the record
    (as in Lambda): the same bytes either way, the EMF directives spliced in as if merged."""
    from chalicelib.observability import metrics

    logs.configure(get_settings())
    root = logging.getLogger()
    [handler] = [h for h in root.handlers if isinstance(h, logs.StdoutHandler)]
    monkeypatch.setattr(root, "handlers", [handler])  # pytest's own capture handlers off: the direct path
    monkeypatch.setattr(logs.time, "time", lambda: 1767225600.123456)
    access = logging.getLogger(logs.ACCESS_LOGGER)
    token = logs.bind(request_id="r-1", route="/x", method="GET", cold_start=False)
    metrics_token = metrics.begin(get_settings(), metrics.API)
    metrics.dimension(metrics.ROUTE, "GET /x")
    metrics.count(metrics.REQUESTS)
    metrics.observe(metrics.LATENCY, 1.5)
    metrics.prop("request_id", "r-1")
    try:
        document = metrics.take(metrics_token)
        assert document is not None
        document["_aws"]["Timestamp"] = 1767225600123
        extra = {"status": 200, "latency_ms": 1.5, "skipped": None, logs.EMF_EXTRA: document}
        assert logs.sole_json_handler(access, logging.INFO) is handler
        logs.log(access, logging.INFO, "GET /x 200", extra)
        direct = captured().lines()
        monkeypatch.setattr(logs, "sole_json_handler", lambda logger, level: None)
        logs.log(access, logging.INFO, "GET /x 200", extra)
        through_logging = captured().lines()
    finally:
        logs.reset(token)
    assert direct == through_logging and len(direct) == 1
    parsed = json.loads(direct[0])
    assert parsed["timestamp"] == "2026-01-01T00:00:00.123Z" and parsed["_aws"]["Timestamp"] == 1767225600123
    assert list(parsed)[: list(parsed).index("_aws") + 2] == [
        "timestamp", "level", "message", "logger", "request_id", "route", "method", "cold_start", "status",
        "latency_ms", "_aws", "Service",
    ]  # fmt: skip
    assert parsed["_aws"]["CloudWatchMetrics"] == json.loads(document["_aws"]["CloudWatchMetrics"].encoded)


def test_another_handler_or_a_filter_takes_the_access_line_through_logging(observed, monkeypatch):
    logs.configure(get_settings())
    access = logging.getLogger(logs.ACCESS_LOGGER)
    root = logging.getLogger()
    [handler] = [h for h in root.handlers if isinstance(h, logs.StdoutHandler)]
    monkeypatch.setattr(root, "handlers", [handler])
    assert logs.sole_json_handler(access, logging.INFO) is handler
    monkeypatch.setattr(root, "handlers", [handler, logging.NullHandler()])
    assert logs.sole_json_handler(access, logging.INFO) is None
    monkeypatch.setattr(root, "handlers", [handler])
    monkeypatch.setattr(access, "filters", [logging.Filter("other")])
    assert logs.sole_json_handler(access, logging.INFO) is None


def test_a_value_that_reads_like_the_emf_marker_is_left_as_it_is(observed):
    from chalicelib.observability import metrics

    directives = metrics.Directives([{"Namespace": "N", "Dimensions": [], "Metrics": []}])
    emf = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": directives}, "Requests": 1}
    tricky = '"_aws":"\x00"'
    line = logs.render("1970-01-01T00:00:00.000Z", "INFO", tricky, "tasks.test", {"note": tricky, logs.EMF_EXTRA: emf})
    parsed = json.loads(line)
    assert parsed["message"] == tricky and parsed["note"] == tricky and parsed["Requests"] == 1
    assert parsed["_aws"] == {
        "Timestamp": 1,
        "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [], "Metrics": []}],
    }


def _merged_field_by_field(context, extras, emf):
    """The line's fields as merged before the direct path: context fields in order, then extras and
    the EMF document's fields, each only where the line has no such field yet."""
    line = {"timestamp": "t", "level": "INFO", "message": "m", "logger": "l"}
    for name in logs.CONTEXT_FIELDS:
        if context.get(name) is not None:
            line[name] = context[name]
    for name, value in context.items():
        if name not in line and value is not None:
            line[name] = value
    for name, value in extras.items():
        line.setdefault(name, value)
    for name, value in emf.items():
        line.setdefault(name, value)
    return line


@pytest.mark.parametrize(
    ("context", "extras", "emf"),
    [
        ({"method": "GET", "request_id": "r", "cold_start": False}, {"status": 200}, {"request_id": "x", "A": 1}),
        ({"zz": 1, "request_id": None, "user": "u", "message": "no"}, {"level": "no", "b": 2}, {"b": 3, "c": [1]}),
        ({}, {}, {"timestamp": "no", "d": {"e": 1}}),
    ],
)
def test_the_line_merges_context_extras_and_emf_as_field_by_field(observed, context, extras, emf):
    token = logs.bind(**context)
    try:
        line = json.loads(logs.render("1970-01-01T00:00:00.000Z", "INFO", "m", "l", {**extras, logs.EMF_EXTRA: emf}))
    finally:
        logs.reset(token)
    expected = _merged_field_by_field(context, extras, emf)
    expected["timestamp"] = line["timestamp"]
    assert list(line.items()) == list(expected.items())
