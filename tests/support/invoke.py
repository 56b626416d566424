"""The app as Lambda invokes it: API Gateway REST events, the authorizer's claims, Lambda's environment,
and a fresh interpreter (tests/support/lambda_child.py) that invokes ``app.app`` once per event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    claims: Mapping[str, str] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str | Sequence[str]] | None = None,
    apigw_request_id: str = "apigw-request-1",
    stage: str = "api",
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as the deployed API sends it to the function."""
    sent = {"Host": "abc.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        sent.setdefault("Content-Type", "application/json")
    multi_query = None
    if query:
        multi_query = {name: [value] if isinstance(value, str) else list(value) for name, value in query.items()}
    context: dict[str, Any] = {
        "resourcePath": resource or path,
        "httpMethod": method,
        "requestId": apigw_request_id,
        "path": f"/{stage}{path}",
        "stage": stage,
        "identity": {"sourceIp": "203.0.113.10"},
    }
    if claims is not None:
        context["authorizer"] = {"claims": dict(claims)}
    return {
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


@dataclass
class ChildRun:
    invocations: list[Output]
    responses: list[dict[str, Any]]
    loaded: list[str]
    patched: list[str]
    stderr: str


def item_event(method: str, item_id: str, **options: Any) -> dict[str, Any]:
    """``rest_event`` on ``/items/{item_id}``, routed as API Gateway routes it (resource and path parameter)."""
    return rest_event(
        method, f"/items/{item_id}", resource="/items/{item_id}", path_parameters={"item_id": item_id}, **options
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
