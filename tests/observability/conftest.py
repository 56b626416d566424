"""Fixtures for the observability tests: captured stdout split into log lines and EMF documents,
API Gateway REST events, and a fresh interpreter that invokes the app the way Lambda does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pytest

from chalicelib.settings import LOCAL_CLIENT_ID, LOCAL_ISSUER
from tests.app.conftest import api  # noqa: F401  (the JSON-speaking test client, shared)

PROJECT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "lambda_child.py"
MARK = "=== "


@dataclass
class Output:
    """What one stretch of the app's stdout held: JSON log lines, EMF documents, anything else."""

    text: str
    stderr: str = ""
    logs: list[dict[str, Any]] = field(default_factory=list)
    emf: list[dict[str, Any]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, stderr: str = "") -> "Output":
        out = cls(text, stderr)
        for line in text.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                out.other.append(line)
                continue
            if not isinstance(value, dict) or not ("_aws" in value or "level" in value):
                out.other.append(line)
                continue
            # The access line is the invocation's EMF document too: it counts as both.
            if "_aws" in value:
                out.emf.append(value)
            if "level" in value:
                out.logs.append(value)
        return out

    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.logs if line["logger"] == "tasks.access"]

    def at(self, level: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line["level"] == level]


@pytest.fixture
def captured(capsys):
    """Call it to get (and clear) what the app wrote so far."""
    capsys.readouterr()

    def take() -> Output:
        got = capsys.readouterr()
        return Output.parse(got.out, got.err)

    return take


@pytest.fixture
def observed(env):
    """JSON logs and EMF metrics, as deployed."""
    env(LOG_FORMAT="json", METRICS="emf")
    return env


def claims(sub: str = "11111111-2222-3333-4444-555555555555", username: str = "alice") -> dict[str, str]:
    """What API Gateway's Cognito authorizer hands over for a verified local-issuer access token."""
    return {"iss": LOCAL_ISSUER, "sub": sub, "token_use": "access", "client_id": LOCAL_CLIENT_ID,
            "username": username}


def rest_event(method: str, path: str, *, resource: str | None = None, headers: Mapping[str, str] | None = None,
               body: Any = None, claims: Mapping[str, str] | None = None,
               path_parameters: Mapping[str, str] | None = None, apigw_request_id: str = "apigw-request-1"
               ) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as the deployed API sends it to the function."""
    sent = {"Host": "abc.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        sent.setdefault("Content-Type", "application/json")
    context: dict[str, Any] = {"resourcePath": resource or path, "httpMethod": method, "requestId": apigw_request_id,
                               "path": f"/api{path}", "stage": "api", "identity": {"sourceIp": "203.0.113.10"}}
    if claims is not None:
        context["authorizer"] = {"claims": dict(claims)}
    return {"resource": resource or path, "path": path, "httpMethod": method, "headers": sent,
            "multiValueHeaders": {k: [v] for k, v in sent.items()}, "queryStringParameters": None,
            "multiValueQueryStringParameters": None, "pathParameters": dict(path_parameters or {}) or None,
            "stageVariables": None, "requestContext": context, "body": body, "isBase64Encoded": False}


@dataclass
class ChildRun:
    invocations: list[Output]
    responses: list[dict[str, Any]]
    loaded: list[str]
    patched: list[str]
    stderr: str


def lambda_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Lambda's variables for a function of this app on the embedded store (nothing from the caller's
    environment leaks in but PATH)."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "AWS_LAMBDA_FUNCTION_NAME": "tasks-api-APIHandler", "AWS_REGION": "us-east-1",
            "APP_STAGE": "prod", "DATA_DIR": str(tmp_path / ".data"), "STORE": "sqlite",
            # Deployed functions send to SQS or have no queue: never the embedded one (its worker thread).
            "QUEUE": "off", **extra}


def run_in_lambda(tmp_path: Path, events: list[dict[str, Any]], *, runtime_handler: bool = True,
                  env: Mapping[str, str] | None = None, timeout: float = 60) -> ChildRun:
    """Invoke ``app.app`` once per event in a fresh interpreter with Lambda's environment."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"project": str(PROJECT), "events": events, "runtime_handler": runtime_handler}))
    result = subprocess.run([sys.executable, str(CHILD), str(spec)], cwd=str(tmp_path), capture_output=True,
                            text=True, timeout=timeout, env=dict(env or lambda_environment(tmp_path)))
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
            responses.append(json.loads(line[len(MARK + "response "):]))
        elif line.startswith(MARK + "result "):
            final = json.loads(line[len(MARK + "result "):])
        else:
            chunk.append(line)
    return ChildRun(invocations, responses, final["loaded"], final["patched"], result.stderr)
