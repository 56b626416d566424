"""The app as Lambda invokes it: API Gateway REST events and HTTP API (payload format 1.0) events, each
gateway's authorizer claims, Lambda's environment, and a fresh interpreter (tests/support/lambda_child.py)
that invokes ``app.app`` once per event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.settings import LOCAL_CLIENT_ID
from chalicelib.settings import LOCAL_ISSUER
from tests.support.aws import FAKE_AWS
from tests.support.output import Output

PROJECT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "lambda_child.py"
MARK = "=== "


def claims(sub: str = "11111111-2222-3333-4444-555555555555", username: str = "alice") -> dict[str, str]:
    """What API Gateway's Cognito authorizer hands over for a verified local-issuer access token."""
    return {"iss": LOCAL_ISSUER, "sub": sub, "token_use": "access", "client_id": LOCAL_CLIENT_ID, "username": username}


def rest_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    claims: Mapping[str, Any] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str | Sequence[str]] | None = None,
    apigw_request_id: str = "apigw-request-1",
    stage: str = "api",
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as the deployed API sends it to the function; ``claims`` are
    the token's, rendered as the Cognito authorizer hands them over (``rest_api_claims``)."""
    sent = {"Host": "abc.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    body = _json_body(sent, body, "Content-Type")
    context: dict[str, Any] = {
        "resourcePath": resource or path,
        "httpMethod": method,
        "requestId": apigw_request_id,
        "path": f"/{stage}{path}",
        "stage": stage,
        "identity": {"sourceIp": "203.0.113.10"},
    }
    if claims is not None:
        context["authorizer"] = {"claims": rest_api_claims(claims)}
    return _proxy_event(method, path, resource, sent, body, query, path_parameters, context)


def _json_body(sent: dict[str, str], body: Any, content_type: str) -> Any:
    """The body as sent: JSON text for anything but a string, with its content type."""
    if body is None or isinstance(body, str):
        return body
    sent.setdefault(content_type, "application/json")
    return json.dumps(body)


def _proxy_event(
    method: str,
    path: str,
    resource: str | None,
    sent: dict[str, str],
    body: Any,
    query: Mapping[str, str | Sequence[str]] | None,
    path_parameters: Mapping[str, str] | None,
    context: dict[str, Any],
    **more: Any,
) -> dict[str, Any]:
    """The proxy event both gateways send in the REST shape (payload 1.0)."""
    multi_query = None
    if query:
        multi_query = {name: [value] if isinstance(value, str) else list(value) for name, value in query.items()}
    return {
        **more,
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        # API Gateway keeps the last value of a repeated parameter in the single-value map.
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(path_parameters or {}) or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": False,
    }


def http_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    claims: Mapping[str, Any] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str | Sequence[str]] | None = None,
    apigw_request_id: str = "JqTrAjEXIAMEbXQ=",
) -> dict[str, Any]:
    """An API Gateway HTTP API event in payload format 1.0, as the HTTP flavour's integration sends it.

    Shape from AWS's "Create AWS Lambda proxy integrations for HTTP APIs in API Gateway" (its 1.0 example;
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html):
    ``version`` "1.0", header names lowercase, the route's path as ``resource`` and
    ``requestContext.resourcePath``, the stage ``$default`` (no stage in ``path``), and the JWT
    authorizer's verified claims flat in ``requestContext.authorizer.claims`` beside ``scopes``
    (``jwt.claims`` is payload 2.0's place). ``claims`` are the token's, rendered as API Gateway hands them
    over (``http_api_claims``).
    """
    sent = {"host": "a1b2c3.execute-api.us-east-1.amazonaws.com", **{k.lower(): v for k, v in (headers or {}).items()}}
    body = _json_body(sent, body, "content-type")
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "a1b2c3",
        "authorizer": {"claims": http_api_claims(claims) if claims is not None else None, "scopes": None},
        "domainName": "a1b2c3.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "a1b2c3",
        "extendedRequestId": apigw_request_id,
        "httpMethod": method,
        "identity": {"sourceIp": "203.0.113.10", "userAgent": sent.get("user-agent", "curl/8.5.0")},
        "path": path,
        "protocol": "HTTP/1.1",
        "requestId": apigw_request_id,
        "requestTime": "01/Dec/2026:21:00:00 +0000",
        "requestTimeEpoch": 1796158800000,
        "resourceId": None,
        "resourcePath": resource or path,
        "stage": "$default",
    }
    return _proxy_event(method, path, resource, sent, body, query, path_parameters, context, version="1.0")


def rest_api_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """A token's claims as the REST API's Cognito authorizer hands them over: every value a string; exp and
    iat as dates, the other numbers (auth_time) in decimal, booleans as ``true``/``false``."""
    dated = {"exp", "iat"}
    return {
        name: time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
        if name in dated and isinstance(value, int) and not isinstance(value, bool)
        else _text(value)
        for name, value in claims.items()
    }


def http_api_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """A token's claims as the HTTP API's JWT authorizer hands them over in payload 1.0: every value a
    string, numbers in decimal (``"exp": "1612061676"``, as delivered in
    https://github.com/awsdocs/amazon-api-gateway-developer-guide/issues/113), a list as ``"[a b]"`` (as
    measured in https://github.com/floci-io/floci/pull/2011; the app reads no list claim)."""
    return {
        name: "[" + " ".join(_text(v) for v in value) + "]" if isinstance(value, list | tuple) else _text(value)
        for name, value in claims.items()
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def gateway_event(shape: str, method: str, path: str, **options: Any) -> dict[str, Any]:
    """``rest_event`` or ``http_event`` by name (``"rest"``, ``"http"``): one test, both gateways."""
    return {"rest": rest_event, "http": http_event}[shape](method, path, **options)


GATEWAY_SHAPES = ("rest", "http")


@dataclass
class ChildRun:
    invocations: list[Output]
    responses: list[dict[str, Any]]
    loaded: list[str]
    patched: list[str]
    stderr: str


def item_event(method: str, item_id: str, *, shape: str = "rest", **options: Any) -> dict[str, Any]:
    """``rest_event`` (or ``http_event``, ``shape="http"``) on ``/items/{item_id}``, routed as API Gateway
    routes it (resource and path parameter)."""
    return gateway_event(
        shape,
        method,
        f"/items/{item_id}",
        resource="/items/{item_id}",
        path_parameters={"item_id": item_id},
        **options,
    )


def run_python(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python *args`` in a fresh interpreter from the project's root, its output captured as text."""
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=timeout
    )


def lambda_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Lambda's variables for a function of this app on the embedded store (nothing from the caller's
    environment leaks in but PATH; the function role's credentials are fake ones)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        **FAKE_AWS,
        "AWS_LAMBDA_FUNCTION_NAME": "tasks-api-APIHandler",
        "AWS_REGION": "us-east-1",
        "APP_STAGE": "prod",
        "DATA_DIR": str(tmp_path / ".data"),
        "STORE": "sqlite",
        # Deployed functions send to SQS or have no queue: never the embedded one (its worker thread).
        "QUEUE": "off",
        **extra,
    }


def run_in_lambda(
    tmp_path: Path,
    events: list[dict[str, Any]],
    *,
    runtime_handler: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    handler: str | None = None,
) -> ChildRun:
    """Invoke ``app.app`` (or app.py's ``handler``, a consumer) once per event in a fresh interpreter with
    Lambda's environment."""
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps({"project": str(PROJECT), "events": events, "runtime_handler": runtime_handler, "handler": handler})
    )
    result = subprocess.run(
        [sys.executable, str(CHILD), str(spec)],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env or lambda_environment(tmp_path)),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    invocations: list[Output] = []
    responses: list[dict[str, Any]] = []
    chunk: list[str] = []
    final: dict[str, Any] = {}
    for line in result.stdout.splitlines():
        if line.startswith(MARK + "invocation"):
            chunk = []
        elif line.startswith(MARK + "response "):
            invocations.append(Output.parse("\n".join(chunk) + "\n"))
            responses.append(json.loads(line[len(MARK + "response ") :]))
        elif line.startswith(MARK + "result "):
            final = json.loads(line[len(MARK + "result ") :])
        else:
            chunk.append(line)
    return ChildRun(invocations, responses, final["loaded"], final["patched"], result.stderr)


def alarm_message(
    name: str = "tasks-api-prod-Api5xxRateAlarm-1A2B3C",
    *,
    state: str = "ALARM",
    previous: str = "OK",
    reason: str = "Threshold Crossed: 1 out of the last 1 datapoints [0.25 (02/12/26 01:20:00)] was greater than "
    "the threshold (0.01) (minimum 1 datapoint for OK -> ALARM transition).",
    region: str = "us-east-1",
    region_name: str = "US East (N. Virginia)",
    account: str = "123456789012",
    description: str = "API: more than 1% of requests answered 5xx",
) -> dict[str, Any]:
    """A CloudWatch alarm's notification, as an alarm action publishes it to SNS (the documented JSON of an
    alarm state change: AlarmName, AlarmDescription, AWSAccountId, NewStateValue, NewStateReason,
    StateChangeTime, Region (its display name), AlarmArn, OldStateValue, Trigger, ...)."""
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": "2026-12-01T21:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": reason,
        "StateChangeTime": "2026-12-02T01:25:12.345+0000",
        "Region": region_name,
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
        "OldStateValue": previous,
        "OKActions": [f"arn:aws:sns:{region}:{account}:tasks-api-prod-AlarmTopic-XYZ"],
        "AlarmActions": [f"arn:aws:sns:{region}:{account}:tasks-api-prod-AlarmTopic-XYZ"],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "5XXError",
            "Namespace": "AWS/ApiGateway",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"value": "tasks-api-prod", "name": "ApiName"}, {"value": "api", "name": "Stage"}],
            "Period": 300,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.01,
            "TreatMissingData": "notBreaching",
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def sns_event(*messages: str | Mapping[str, Any], subject: str | None = None, region: str = "us-east-1") -> dict:
    """A Lambda SNS event, one record per message (a mapping is sent as its JSON, as CloudWatch publishes an
    alarm's notification), in the shape Lambda delivers an SNS subscription's messages."""
    topic = f"arn:aws:sns:{region}:123456789012:tasks-api-prod-AlarmTopic-XYZ"
    records = []
    for n, message in enumerate(messages):
        text = message if isinstance(message, str) else json.dumps(message)
        title = subject
        if title is None and not isinstance(message, str):
            title = f'{message["NewStateValue"]}: "{message["AlarmName"]}" in {message["Region"]}'
        records.append(
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"95df01b4-ee98-5cb9-9903-4c221d41eb5{n}",
                    "TopicArn": topic,
                    "Subject": title,
                    "Message": text,
                    "Timestamp": "2026-12-02T01:25:12.400Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000.pem",
                    "UnsubscribeUrl": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}",
                    "MessageAttributes": {},
                },
            }
        )
    return {"Records": records}


class LambdaContext:
    """The Lambda context of an API function invocation, as the handler reads it."""

    function_name = "tasks-api-APIHandler"
    aws_request_id = "lambda-request-1"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
