"""Shared fixtures: an isolated environment per test, the app's test client, real local tokens,
and the app parametrized over both store adapters (SQLite file; DynamoDB Local)."""

from __future__ import annotations

import os
import uuid
from typing import Callable, Iterator

import pytest

from chalicelib import compose

# Every variable Settings reads; each test starts from none of them.
SETTINGS_VARIABLES = (
    "APP_STAGE", "STORE", "SQLITE_PATH", "TABLE_NAME", "DYNAMODB_ENDPOINT_URL", "QUEUE",
    "ACTIVITY_QUEUE_URL", "AUTH_ISSUER", "AUTH_CLIENT_IDS", "AUTH_JWKS_URL", "ASSISTANT_PROVIDER",
    "BEDROCK_MODEL_ID", "CORS_ALLOW_ORIGINS", "LOG_LEVEL", "LOG_FORMAT", "CURSOR_SECRET", "DATA_DIR",
    "AWS_LAMBDA_FUNCTION_NAME", "OBSERVABILITY", "METRICS", "METRICS_NAMESPACE", "TRACING", "AWS_XRAY_DAEMON_ADDRESS",
    "_X_AMZN_TRACE_ID",
)


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    from tests.support.dynamodb_local import running_dynamodb_local

    with running_dynamodb_local() as endpoint:
        yield endpoint


@pytest.fixture
def env(tmp_path, monkeypatch) -> Callable[..., None]:
    """Start from a clean environment on a temporary data dir; call it to set more variables."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / ".data"))
    compose.reset()

    def configure(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        compose.reset()

    yield configure
    compose.reset()


def use_dynamodb(configure: Callable[..., None], endpoint: str, monkeypatch) -> str:
    table = f"tasks-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    configure(STORE="dynamodb", TABLE_NAME=table, DYNAMODB_ENDPOINT_URL=endpoint)
    return table


@pytest.fixture(params=["sqlite", "dynamodb"])
def adapter(request, env, monkeypatch) -> str:
    """Runs the test once on each store adapter, through the whole app."""
    if request.param == "dynamodb":
        use_dynamodb(env, request.getfixturevalue("dynamodb_endpoint"), monkeypatch)
    return request.param


@pytest.fixture
def recording_queue(env, monkeypatch):
    """The activity queue replaced by one that records and never delivers (see tests/support/queues.py)."""
    from tests.support.queues import RecordingQueue

    queue = RecordingQueue()
    compose.reset()
    monkeypatch.setattr(compose, "get_queue", lambda: queue)
    return queue


@pytest.fixture
def client(env):
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def token_for(env) -> Callable[..., str]:
    """Mint a real RS256 token from the local development issuer."""
    from chalicelib.auth.local_issuer import mint

    def make(username: str = "alice", **claims) -> str:
        return mint(username, **claims)

    return make


@pytest.fixture
def auth(token_for) -> Callable[..., dict[str, str]]:
    def headers(username: str = "alice", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(username)}", **extra}

    return headers
