"""Smoke test of the benchmark harness: ``python -m bench.run --quick`` runs and reports, and the events it
builds are what the app accepts. No timing assertions: timings belong to ``make bench``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from bench.harness import REPO_ROOT
from bench.harness import LambdaContext
from bench.harness import rest_event
from tests.support.dynamodb_local import count_requests
from tests.support.environment import SETTINGS_VARIABLES
from tests.support.environment import use_dynamodb


@pytest.fixture(scope="module")
def quick_run() -> list[str]:
    # The bench gives its children their own environments; this keeps the test's settings out of it too.
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout.splitlines()


def test_prints_a_table_for_every_measurable_figure(quick_run):
    titles = [line for line in quick_run if line[:2] in ("1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ")]
    assert [title.split(" ", 1)[0] for title in titles] == ["1", "2", "3", "4", "5", "6", "7"], titles


def test_prints_a_verdict_line_for_every_target(quick_run):
    verdicts = [line for line in quick_run if line.startswith(("PASS  ", "MISS  "))]
    expected = [
        "cold GET /health:",
        "cold GET /health loads no boto3",
        "cold first GET /items, deployed:",
        "cold first POST /items, deployed:",
        "cold first GET /items, deployed, on botocore's client:",
        "cold first GET /items, deployed, against Powertools:",
        "cold first GET /items, deployed, against FastAPI + Mangum:",
        "peak memory of the cold deployed GET /items:",
        "warm GET /health overhead:",
        "warm GET /items, deployed, against Powertools:",
        "warm GET /items, deployed, against FastAPI + Mangum:",
        "exactly 1 DynamoDB request per read route",
        "at most 1 DynamoDB request per write route",
        "sqlite GET /items?limit=",
        "sqlite GET /items?status=done",
        "dynamodb GET /items?limit=",
        "dynamodb GET /items?status=done",
        "streaming: first SSE event after the provider's first token:",
        "streaming: time to first byte over total",
        "activity lag p95, sqlite:",
        "activity lag p95, dynamodb:",
    ]
    for name in expected:
        assert any(line[6:].startswith(name) for line in verdicts), (name, verdicts)
    ratios = [line for line in verdicts if "(target <=" in line]
    assert ratios and all("x " in line for line in ratios)


def rows_of(quick_run: list[str], title: str) -> list[str]:
    """The rows of the table titled ``title...`` (header and rule left out)."""
    start = next(n for n, line in enumerate(quick_run) if line.startswith(title))
    return [row.strip() for row in quick_run[start + 3 : quick_run.index("", start)]]


def test_peers_are_measured_cold_beside_the_app(quick_run):
    rows = rows_of(quick_run, "1 cold")
    for peer in ("peer: GET /items, Powertools REST resolver + boto3", "peer: GET /items, FastAPI + Mangum + boto3"):
        row = next((row for row in rows if row.startswith(peer)), None)
        assert row is not None, (peer, rows)
        assert "boto3 floor + Query" in row and row.split()[-2].endswith("x"), row


def test_peak_memory_of_the_cold_processes_is_tabled_with_today_as_reference(quick_run):
    rows = rows_of(quick_run, "1b peak memory")
    for case in ("app: GET /items, deployed", "anchor: + boto3 client at import, GET /items", "peer: GET /items, Pow"):
        row = next((row for row in rows if row.startswith(case)), None)
        assert row is not None and " MB " in row, (case, rows)
    memory = next(line for line in quick_run if line[6:].startswith("peak memory of the cold deployed GET /items:"))
    assert "(lower than today's: " in memory and " MB" in memory, memory


def test_peers_are_measured_warm_beside_the_app(quick_run):
    rows = rows_of(quick_run, "2b warm GET /items against the peers")
    cells = {row.split("  ")[0]: re.split(r"\s{2,}", row) for row in rows}
    # The same page from the app and each peer (20 of the reader's 25 items): they are compared on the same work.
    pages = {name: cells[name][3] for name in ("app: GET /items", "peer: Powertools", "peer: FastAPI + Mangum")}
    assert set(pages.values()) == {"20"}, rows
    for name in ("peer: Powertools", "peer: FastAPI + Mangum"):
        assert cells[name][4].endswith("x"), cells[name]  # the ratio to the app


def test_streaming_figure_reports_its_rows(quick_run):
    start = next(n for n, line in enumerate(quick_run) if line.startswith("5 streaming"))
    rows = quick_run[start + 1 : quick_run.index("", start)]
    for measure in (
        "time to first byte (",
        "total (",
        "time to first byte / total",
        "provider's first token to its SSE event received",
        "every token to its SSE event received",
    ):
        assert any(row.strip().startswith(measure) for row in rows), (measure, rows)


def test_write_routes_are_compared_with_a_separate_outbox(quick_run):
    start = next(n for n, line in enumerate(quick_run) if line.startswith("3b "))
    rows = quick_run[start + 1 : quick_run.index("", start)]
    for route in ("POST /items ", "PATCH /items/{id}", "DELETE /items/{id}", "GET /me (a new sign-in session)"):
        assert any(row.strip().startswith(route) for row in rows), (route, rows)
    # Each is set beside the same write as built, whose event the stream carries at no cost to it.
    assert all("1 request," in row for row in rows[2:] if "(probe)" not in row), rows


def test_activity_lag_is_reported_for_both_adapters(quick_run):
    start = next(n for n, line in enumerate(quick_run) if line.startswith("7 activity lag"))
    rows = quick_run[start + 1 : quick_run.index("", start)]
    assert [row.split()[0] for row in rows[2:]] == ["sqlite", "dynamodb"], rows


def test_health_path_loads_neither_boto3_nor_a_jwt_library(quick_run):
    assert any(line.startswith("PASS  cold GET /health loads no boto3") for line in quick_run)


def test_every_read_route_costs_one_dynamodb_request(quick_run):
    rows = {tuple(line.split()[:3]): line.split()[3] for line in quick_run if len(line.split()) >= 4}
    assert rows[("GET", "/items", "read")] == "1"
    assert rows[("GET", "/health", "none")] == "0"
    assert any(line.startswith("PASS  exactly 1 DynamoDB request per read route") for line in quick_run)


# --- in process: the harness's events and context against the app -------------------------------


def test_health_event_is_answered_200(env):
    from app import app

    response = app(rest_event("GET", "/health"), LambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "ok"


def test_claims_event_lists_items_in_one_request_and_is_trusted_only_in_lambda(env, dynamodb_endpoint):
    from app import app
    from bench import workload
    from chalicelib import wiring

    use_dynamodb(env, dynamodb_endpoint)
    env(AWS_LAMBDA_FUNCTION_NAME="tasks-api-test", AUTH_ISSUER=workload.ISSUER, AUTH_CLIENT_IDS=workload.CLIENT_ID)
    headers, claims = workload.gateway_auth("smoke")
    event = rest_event("GET", "/items", headers=headers, claims=claims)
    assert app(event, LambdaContext())["statusCode"] == 200  # builds the store and its table
    with count_requests(wiring.services().store.requests) as count:
        response = app(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"]) == {"items": [], "next_cursor": None}
    assert count.total == 1
    # Without the authorizer's claims the app verifies the (unsigned) bearer token itself, and refuses it.
    bare = rest_event("GET", "/items", headers=headers)
    assert app(bare, LambdaContext())["statusCode"] == 401


def test_peers_answer_the_apps_page_from_the_same_table(env, dynamodb_endpoint):
    from app import app
    from bench import workload
    from bench.warm_peers import HANDLERS
    from bench.warm_peers import load

    use_dynamodb(env, dynamodb_endpoint)
    env(
        AWS_LAMBDA_FUNCTION_NAME="tasks-api-test",
        AUTH_ISSUER=workload.ISSUER,
        AUTH_CLIENT_IDS=workload.CLIENT_ID,
        QUEUE="off",
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb_endpoint,  # the peers' boto3 clients, made at their import
    )
    headers, claims = workload.gateway_auth("smoke-peers")
    for n in range(3):
        create = rest_event("POST", "/items", headers=headers, claims=claims, body={"title": f"Task {n}"})
        assert app(create, LambdaContext())["statusCode"] == 201
    event = rest_event("GET", "/items", query={"limit": "2"}, headers=headers, claims=claims)
    expected = json.loads(app(event, LambdaContext())["body"])
    assert len(expected["items"]) == 2 and expected["next_cursor"]
    for n, (name, (path, attribute)) in enumerate(HANDLERS.items()):
        if not name.startswith("peer"):
            continue
        response = getattr(load(f"smoke{n}", path), attribute)(event, LambdaContext())
        assert response["statusCode"] == 200, (name, response)
        page = json.loads(response["body"])
        assert page["items"] == expected["items"], name  # the app's cursor is signed, theirs is not
        assert page["next_cursor"], name
