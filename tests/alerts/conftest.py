"""Fixtures for the chat alerts: SSM on moto holding the webhook's URL, the stand-in Slack on a real
socket (tests/support/slack.py), the notifier's settings, and the waits it asked for (recorded, not slept)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.support.slack import FakeSlack
from tests.support.slack import fake_slack

PARAMETER = "/tasks-api/prod/slack/webhook-url"
DASHBOARD = "tasks-api-prod"


@pytest.fixture
def ssm(env) -> Iterator[object]:
    """SSM Parameter Store on moto (fake credentials from ``env``): put_parameter / delete_parameter."""
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as server:
        yield server


@pytest.fixture
def waits(env) -> list[float]:
    """The waits the webhook adapter asked for: handed to the composition root instead of time.sleep."""
    asked: list[float] = []
    env.install(sleep=asked.append)
    return asked


@pytest.fixture
def notifier_env(env, ssm, slack, waits):
    """The notifier as deployed: JSON logs, EMF metrics, the webhook's URL a SecureString in SSM."""
    ssm.put_parameter(Name=PARAMETER, Value=slack.url, Type="SecureString")
    env(
        APP_STAGE="prod",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        METRICS="emf",
        QUEUE="off",
        SLACK_WEBHOOK_PARAMETER=PARAMETER,
        DASHBOARD_NAME=DASHBOARD,
    )
    return env
