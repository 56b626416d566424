"""Fault drills (chalicelib/faults.py): a burst of injected faults through the app travels the path real
failures take (the same problem responses with their request ids, the same log lines, which the stack's
own metric filters match, the same metrics), is counted as InjectedFaults too, and the stack's error-rate
alarm, evaluated on those counts, fires. At rate 0 nothing changes; the prod stage refuses a drill unless
allowed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.faults import Faults
from chalicelib.faults import FaultyStore
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from tests.observability.filter_pattern import matches
from tests.observability.metric_math import alarm_state
from tests.observability.metric_math import evaluate
from tests.support.api import assert_problem
from tests.support.invoke import PROJECT
from tests.support.invoke import claims
from tests.support.invoke import lambda_environment
from tests.support.invoke import rest_event
from tests.support.invoke import run_in_lambda
from tests.support.output import Output

# Events are recorded, not consumed: the consumer's own lines and EMF documents would interleave.
pytestmark = pytest.mark.usefixtures("recording_queue")

BURST = 40
MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The REST flavour's stack as the pipeline builds it for the fixture app (what a deployment gets)."""
    from cloudformation.build import build
    from cloudformation.template import load

    golden = PROJECT / "tests" / "cloudformation" / "golden" / "chalice.yaml"
    return build(load(Path(golden).read_text(encoding="utf-8")))


class Sleeps(list[float]):
    """A ``sleep`` that records the seconds asked for and sleeps none of them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def drill(env, kind: str, rate: str = "1", seed: int = 13, **more: str) -> Sleeps:
    """Turn a drill on as the stack does (the FAULT_* variables), with a seeded draw and a recorded sleep
    handed to the composition root."""
    env(FAULT_RATE=rate, FAULT_KIND=kind, **more)
    sleeps = Sleeps()
    faults = Faults.from_settings(Settings.from_env(), draw=random.Random(seed).random, sleep=sleeps)
    assert faults is not None
    env.install(faults=faults)
    return sleeps


def _filters(template: dict[str, Any]) -> dict[str, str]:
    """The API function's metric filters: metric name -> its filter pattern, read from the template."""
    resources = template["Resources"]
    log_group = resources["APIHandler"]["Properties"]["LoggingConfig"]["LogGroup"]
    found = {}
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Logs::MetricFilter" and props["LogGroupName"] == log_group:
            [transformation] = props["MetricTransformations"]
            assert transformation["MetricValue"] == "1"
            found[transformation["MetricName"]] = props["FilterPattern"]
    return found


def _emf_sum(out: Output, metric: str, **dimensions: str) -> float:
    """What the EMF documents add to ``metric`` with exactly these dimensions."""
    total = 0.0
    for document in out.emf:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if metric not in [m["Name"] for m in directive["Metrics"]]:
                continue
            for dimension_set in directive["Dimensions"]:
                if set(dimension_set) == set(dimensions) and all(document[d] == dimensions[d] for d in dimension_set):
                    total += document[metric]
    return total


def _burst(api, path: str, n: int = BURST) -> list:
    return [api.get(path, headers={"X-Request-Id": f"drill-{i}"}) for i in range(n)]


def test_a_burst_of_injected_exceptions_fails_as_real_ones_do_and_fires_the_error_rate_alarm(
    api, observed, captured, template
):
    drill(observed, "exception", rate="0.5")
    captured()
    replies = _burst(api, "/items")
    out = captured()

    failed = [reply for reply in replies if reply.status == 500]
    assert 0 < len(failed) < BURST  # a seeded half, not all
    assert all(reply.status == 200 for reply in replies if reply not in failed)
    for reply in failed:
        problem = assert_problem(reply, 500, "internal_error")
        assert problem["request_id"].startswith("drill-") and "injected" not in reply.body.decode()

    errors = out.at("ERROR")
    assert [line["request_id"] for line in errors] == [reply.header("X-Request-Id") for reply in failed]
    assert {(line["error"], line["exc_type"], line["route"]) for line in errors} == {
        ("unhandled", "chalicelib.faults.InjectedFault", "/items")
    }
    # The stack's own filters, read from the template, count each injected failure once.
    filters = _filters(template)
    lines = out.lines()
    for metric in ("ApplicationErrors", "ApiApplicationErrors"):
        assert sum(matches(filters[metric], line) for line in lines) == len(failed), metric
    # The metrics a real unhandled exception adds, and InjectedFaults beside them.
    assert _emf_sum(out, "UnhandledExceptions") == len(failed)
    assert _emf_sum(out, "Errors5xx", Service="api") == len(failed)
    assert _emf_sum(out, "InjectedFaults") == len(failed)
    assert _emf_sum(out, "InjectedFaults", Service="api", Kind="exception") == len(failed)

    # The error-rate alarm's metric math, on what this burst fed it: the API function's ERROR lines (its
    # filter) over the API function's invocations (one per request).
    alarm = template["Resources"]["AppErrorRateAlarm"]
    queries = {query["Id"]: query for query in alarm["Properties"]["Metrics"]}
    assert queries["errors"]["MetricStat"]["Metric"]["MetricName"] == "ApiApplicationErrors"
    assert queries["invocations"]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "APIHandler"}}
    ]
    errors_counted = sum(matches(filters["ApiApplicationErrors"], line) for line in lines)
    value, state = alarm_state(alarm, {"errors": errors_counted, "invocations": len(replies)})
    assert value == pytest.approx(100 * len(failed) / BURST) and state == "ALARM"


def test_the_error_rate_alarm_stays_ok_without_errors_and_counts_the_api_function_alone(template):
    alarm = template["Resources"]["AppErrorRateAlarm"]
    assert alarm_state(alarm, {"errors": 0, "invocations": 1000}) == (0, "OK")
    assert alarm_state(alarm, {"errors": 10, "invocations": 1000})[1] == "OK"  # 1% is not above 1%
    assert alarm_state(alarm, {"errors": 11, "invocations": 1000})[1] == "ALARM"
    # The numerator's filter lies on the API function's log group only; the other functions' ERROR lines
    # feed ApplicationErrors (the dashboard), never the rate.
    resources = template["Resources"]
    api_errors = [
        r["Properties"]["LogGroupName"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter"
        and r["Properties"]["MetricTransformations"][0]["MetricName"] == "ApiApplicationErrors"
    ]
    assert api_errors == [resources["APIHandler"]["Properties"]["LoggingConfig"]["LogGroup"]]


def test_the_metric_math_evaluator_reads_the_operators_the_alarms_use():
    assert evaluate("IF(n > 0, 100 * e / n, e * 100)", {"n": 0, "e": 2}) == 200
    assert evaluate("IF(n > 0, 100 * e / n, 0)", {"n": 4, "e": 1}) == 25
    assert evaluate("-a + b - 1", {"a": 1, "b": 5}) == 3
    with pytest.raises(ValueError):
        evaluate("METRICS()", {})


def test_an_injected_store_failure_is_an_unhandled_error_where_the_store_is_called(api, observed, captured, template):
    item = api.create("kept")  # before the drill
    drill(observed, "store")
    captured()
    failed = api.get(f"/items/{item['id']}", headers={"X-Request-Id": "store-1"})
    health = api.get("/health", user=None)
    out = captured()
    assert_problem(failed, 500, "internal_error")
    assert health.status == 200  # it never calls the store: nothing injected
    [error] = out.at("ERROR")
    assert (error["request_id"], error["error"]) == ("store-1", "unhandled")
    assert error["exc_type"] == "chalicelib.faults.InjectedStoreFailure"
    assert "Traceback" in error["stack"]
    assert matches(_filters(template)["ApiApplicationErrors"], out.lines()[0])
    assert _emf_sum(out, "InjectedFaults", Service="api", Kind="store") == 1
    assert _emf_sum(out, "UnhandledExceptions") == 1
    assert isinstance(wiring.services().store, FaultyStore)


def test_an_injected_throttle_answers_as_the_stores_throttling_error_does(api, observed, captured, template):
    drill(observed, "throttle")
    captured()
    replies = _burst(api, "/items", 5)
    out = captured()
    for reply in replies:
        problem = assert_problem(reply, 503, "service_unavailable")
        assert problem["detail"] == "the database is throttling requests; retry the request"
    assert out.at("ERROR") == []  # a throttle is no bug: the error filters count none of it
    assert not any(matches(_filters(template)["ApiApplicationErrors"], line) for line in out.lines())
    assert _emf_sum(out, "Errors5xx", Service="api") == 5
    assert _emf_sum(out, "InjectedFaults", Service="api", Kind="throttle") == 5
    assert [line["status"] for line in out.access()] == [503] * 5


def test_injected_latency_delays_the_handler_and_changes_no_answer(api, observed, captured):
    sleeps = drill(observed, "latency", FAULT_LATENCY_MS="1500")
    captured()
    replies = _burst(api, "/items", 3)
    out = captured()
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert sleeps == [1.5, 1.5, 1.5]
    assert _emf_sum(out, "InjectedFaults", Service="api", Kind="latency") == 3
    assert out.at("ERROR") == []


def test_a_drill_fails_only_the_routes_it_names(api, observed, captured):
    drill(observed, "exception", FAULT_ROUTES="GET /items/{item_id}, POST /items")
    assert api.get("/items").status == 200
    assert api.get("/health", user=None).status == 200
    assert_problem(api.get(f"/items/{MISSING_ID}"), 500, "internal_error")
    assert_problem(api.post("/items", {"title": "x"}), 500, "internal_error")


def test_a_refused_token_is_still_a_401_during_a_drill(api, observed):
    drill(observed, "exception")
    assert_problem(api.get("/items", user=None), 401, "unauthorized")


def test_at_rate_zero_nothing_is_built_wrapped_or_counted(api, observed, captured):
    observed(FAULT_RATE="0", FAULT_KIND="exception", FAULT_ROUTES="GET /items")
    services = wiring.services()
    assert services.faults is None
    assert not isinstance(services.store, FaultyStore)
    captured()
    assert [reply.status for reply in _burst(api, "/items", 5)] == [200] * 5
    out = captured()
    assert out.at("ERROR") == [] and _emf_sum(out, "InjectedFaults") == 0
    assert all("InjectedFaults" not in document for document in out.emf)


def test_at_rate_zero_a_lambda_never_loads_the_injector(tmp_path):
    events = [rest_event("GET", "/health"), rest_event("GET", "/items", claims=claims())]
    env = lambda_environment(tmp_path, FAULT_RATE="0", FAULT_KIND="store")
    run = run_in_lambda(tmp_path, events, env=env)
    assert [response["statusCode"] for response in run.responses] == [200, 200]
    assert "chalicelib.faults" not in run.loaded


def test_the_prod_stage_refuses_a_drill_unless_the_stack_allows_it(tmp_path):
    events = [rest_event("GET", "/health"), rest_event("GET", "/items", claims=claims())]
    refused = run_in_lambda(tmp_path, events, env=lambda_environment(tmp_path, FAULT_RATE="1"))  # APP_STAGE=prod
    assert [response["statusCode"] for response in refused.responses] == [500, 500]
    # Unusable settings: every request a 500 problem, reported through the runtime's own ERROR line (the
    # app cannot configure its logs); the ConfigError names FAULT_INJECTION_IN_PROD (the test below).
    assert all("[ERROR]" in invocation.text for invocation in refused.invocations)
    assert "chalicelib.faults" not in refused.loaded

    allowed_env = lambda_environment(tmp_path, FAULT_RATE="1", FAULT_INJECTION_IN_PROD="true")
    allowed = run_in_lambda(tmp_path, events, env=allowed_env)
    assert [response["statusCode"] for response in allowed.responses] == [500, 500]
    for invocation in allowed.invocations:
        [error] = invocation.at("ERROR")
        assert error["exc_type"] == "chalicelib.faults.InjectedFault"
        [document] = invocation.emf
        assert document["InjectedFaults"] == 1 and document["Kind"] == "exception"


def test_settings_refuse_a_drill_in_prod_and_any_value_out_of_range():
    with pytest.raises(ConfigError, match="FAULT_INJECTION_IN_PROD"):
        Settings.from_env({"APP_STAGE": "prod", "FAULT_RATE": "0.2"})
    allowed = Settings.from_env({"APP_STAGE": "prod", "FAULT_RATE": "0.2", "FAULT_INJECTION_IN_PROD": "true"})
    assert allowed.fault_rate == 0.2
    assert Settings.from_env({"APP_STAGE": "prod"}).fault_rate == 0  # off: nothing to refuse
    for bad in (
        {"FAULT_RATE": "1.5"},
        {"FAULT_RATE": "-0.1"},
        {"FAULT_RATE": "nan"},
        {"FAULT_RATE": "often"},
        {"FAULT_KIND": "meteor"},
        {"FAULT_LATENCY_MS": "1s"},
        {"FAULT_ROUTES": "/items"},
        {"FAULT_INJECTION_IN_PROD": "yes"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)
    routes = Settings.from_env({"FAULT_ROUTES": " GET  /items , PATCH /items/{item_id}"}).fault_routes
    assert routes == ("GET /items", "PATCH /items/{item_id}")


def test_the_stack_passes_the_drill_parameters_to_the_api_function_only_and_off_by_default(template):
    parameters = template["Parameters"]
    assert parameters["FaultRate"]["Default"] == "0"
    assert parameters["FaultInjectionInProd"]["Default"] == "false"
    assert parameters["AppStage"]["Default"] == "prod"
    defaults = {name: str(definition.get("Default", "")) for name, definition in parameters.items()}
    for name, function in template["Resources"].items():
        if function["Type"] != "AWS::Serverless::Function":
            continue
        variables = function["Properties"]["Environment"]["Variables"]
        drill_variables = {k: v for k, v in variables.items() if k.startswith("FAULT_")}
        if name != "APIHandler":
            assert drill_variables == {}, name
            continue
        # The API function's settings as the stack's defaults make them: no drill.
        resolved = {k: defaults[v["Ref"]] for k, v in drill_variables.items()}
        assert set(resolved) == {
            "FAULT_RATE",
            "FAULT_ROUTES",
            "FAULT_KIND",
            "FAULT_LATENCY_MS",
            "FAULT_INJECTION_IN_PROD",
        }
        assert Settings.from_env({"APP_STAGE": defaults["AppStage"], **resolved}).fault_rate == 0
        drilled = {**resolved, "FAULT_RATE": "0.5"}
        with pytest.raises(ConfigError):
            Settings.from_env({"APP_STAGE": defaults["AppStage"], **drilled})


def test_injected_fault_lines_carry_no_detail_to_the_client(api, observed):
    drill(observed, "store")
    reply = api.get("/items")
    assert "InjectedStoreFailure" not in reply.body.decode() and json.loads(reply.body)["code"] == "internal_error"
