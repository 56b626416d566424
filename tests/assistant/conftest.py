"""Fixtures for the assistant: an item service over a store that counts its requests, and the Bedrock
provider answered by a stand-in (tests/support/assistant.py) under fake AWS credentials."""

from __future__ import annotations

import pytest

from chalicelib import wiring
from tests.support.assistant import CountingStore
from tests.support.assistant import FakeBedrock


@pytest.fixture
def store(adapter) -> CountingStore:
    return CountingStore(wiring.services().store)


@pytest.fixture
def items(store):
    from chalicelib.tasks.items import ItemService

    return ItemService(store)


@pytest.fixture
def bedrock(fake_aws):
    from chalicelib.assistant.bedrock import BedrockProvider

    return BedrockProvider("amazon.nova-micro-v1:0", region="us-east-1")


@pytest.fixture
def aws(bedrock) -> FakeBedrock:
    return FakeBedrock(bedrock)


@pytest.fixture
def no_backoff(monkeypatch) -> None:
    """Retries without their jittered sleep (up to a second for throttling)."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
