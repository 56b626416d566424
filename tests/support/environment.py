"""The test's environment: no app variable from outside, a temporary data dir, fake AWS credentials, and
the app's services rebuilt from it (with the replacements a test installed) whenever it changes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from chalicelib import wiring
from tests.support.aws import FAKE_AWS
from tests.support.settings_variables import settings_variables

# Every variable Settings reads (read from its source, never listed twice); each test starts from none of them.
SETTINGS_VARIABLES = tuple(settings_variables())

# What could point a client elsewhere (a profile, endpoints, retry settings of the machine's shell).
AWS_CLEARED = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
)


def use_fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """FAKE_AWS in the environment, and no AWS config or credentials file of the machine's."""
    for name in AWS_CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


class Environment:
    """The ``env`` fixture: call it with variables to set them; ``install(...)`` hands replacements (a
    fake queue, provider, assistant, ...) to the composition root, and they stay installed when the
    variables change afterwards."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self._monkeypatch = monkeypatch
        self.replacements: dict[str, Any] = {}
        for name in SETTINGS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        use_fake_aws(monkeypatch, tmp_path)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / ".data"))
        self._rebuild()

    def __call__(self, **variables: str) -> None:
        for name, value in variables.items():
            self._monkeypatch.setenv(name, value)
        self._rebuild()

    def install(self, **replacements: Any) -> wiring.Services:
        """``wiring.bootstrap(**replacements)``, kept for the rest of the test; returns the services."""
        self.replacements.update(replacements)
        return self._rebuild()

    def _rebuild(self) -> wiring.Services:
        wiring.reset()
        return wiring.bootstrap(**self.replacements)

    def close(self) -> None:
        wiring.reset()


def use_dynamodb(configure: Environment, endpoint: str) -> str:
    """Point the app at a new table of the DynamoDB Local at ``endpoint``; returns the table's name."""
    table = f"tasks-{uuid.uuid4().hex[:12]}"
    configure(STORE="dynamodb", TABLE_NAME=table, DYNAMODB_ENDPOINT_URL=endpoint)
    return table
