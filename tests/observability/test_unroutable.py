"""An event the Chalice app cannot route (an API Gateway HTTP API payload 2.0 event: a function wired to the
wrong integration) is answered like any other bug: a 500 problem with the request id, logged once, counted."""

from __future__ import annotations

import json
from typing import Any


class LambdaContext:
    function_name = "tasks-api-ApiHandler"
    aws_request_id = "lambda-v2-1"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def http_api_event(method: str, path: str) -> dict[str, Any]:
    """What an HTTP API (payload format 2.0) integration hands a Lambda function."""
    host = "a1b2c3.execute-api.us-east-1.amazonaws.com"
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "*/*", "host": host, "user-agent": "curl/8.5.0", "x-request-id": "v2-probe"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3",
            "domainName": host,
            "domainPrefix": "a1b2c3",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "Jx1aBcDeIAMEV0A=",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "01/Dec/2026:21:00:00 +0000",
            "timeEpoch": 1796158800000,
        },
        "isBase64Encoded": False,
    }


def test_an_http_api_payload_2_event_is_a_500_problem_logged_once_and_counted(observed, captured):
    from app import app

    response = app(http_api_event("GET", "/health"), LambdaContext())

    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "application/problem+json"
    problem = json.loads(response["body"])
    assert (problem["status"], problem["code"]) == (500, "internal_error")
    assert problem["request_id"] and problem["request_id"] == response["headers"]["X-Request-Id"]
    out = captured()
    [error] = out.at("ERROR")
    assert error["error"] == "unhandled" and error["request_id"] == problem["request_id"]
    assert error["exc_type"].endswith("UnroutableEvent") and "payload 1.0" in error["stack"]
    assert sum("Traceback" in line for line in out.lines()) == 1
    assert "Caught exception" not in out.text + out.stderr  # Chalice did not log (or answer) it
    [document] = out.emf
    assert document["UnhandledExceptions"] == 1 and document["Errors5xx"] == 1


def test_the_app_still_routes_a_rest_api_event_after_an_unroutable_one(observed):
    from app import app
    from tests.support.invoke import rest_event

    app(http_api_event("GET", "/health"), LambdaContext())
    response = app(rest_event("GET", "/health"), LambdaContext())

    assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "ok"
