"""The SQS adapter against moto's in-process SQS: what a send puts on the queue, the lazily built client,
and errors translated into QueueUnavailable without the message body."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.errors import QueueUnavailable
from chalicelib.events.sqs import SQSQueue
from tests.support.invoke import run_python

BODY = '{"type":"item.created","title":"call alice about the secret plan"}'


@pytest.fixture
def queue_url(fake_aws):
    with mock_aws():
        client = boto3.session.Session().client("sqs", region_name="us-east-1")
        yield client.create_queue(QueueName="activity")["QueueUrl"]


def received(url: str) -> list[dict]:
    client = boto3.session.Session().client("sqs", region_name="us-east-1")
    return client.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", [])


def test_send_puts_the_body_and_string_attributes_on_the_queue_and_returns_the_message_id(queue_url):
    queue = SQSQueue(queue_url, region="us-east-1")

    message_id = queue.send(BODY, {"request_id": "req-123"})

    [message] = received(queue_url)
    assert message["MessageId"] == message_id
    assert message["Body"] == BODY
    assert message["MessageAttributes"] == {"request_id": {"DataType": "String", "StringValue": "req-123"}}


def test_the_client_is_built_on_the_first_send_and_then_reused(queue_url):
    queue = SQSQueue(queue_url, region="us-east-1")
    assert queue._client is None

    queue.send(BODY, {})
    client = queue.client
    queue.send(BODY, {})

    assert client is not None and queue.client is client
    assert len(received(queue_url)) == 2


def test_importing_and_constructing_the_adapters_does_not_import_boto3():
    code = (
        "import sys\n"
        "from chalicelib.events.sqs import SQSQueue\n"
        "from chalicelib.events.local import LocalQueue\n"
        "SQSQueue('https://sqs.us-east-1.amazonaws.com/123456789012/activity')\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'imported boto'\n"
    )
    result = run_python("-c", code, timeout=30)
    assert result.returncode == 0, result.stderr


def test_an_unreachable_endpoint_raises_queue_unavailable(fake_aws):
    queue = SQSQueue(
        "http://127.0.0.1:9/000000000000/activity",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        connect_timeout=0.2,
        read_timeout=0.2,
        max_attempts=1,
    )

    with pytest.raises(QueueUnavailable) as raised:
        queue.send(BODY, {"request_id": "req-123"})
    assert isinstance(raised.value.__cause__, BotoCoreError)
    assert BODY not in str(raised.value)


def test_a_refused_message_raises_queue_unavailable_without_the_body(queue_url):
    missing = queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    queue = SQSQueue(missing, region="us-east-1")

    with pytest.raises(QueueUnavailable) as raised:
        queue.send(BODY, {"request_id": "req-123"})
    assert isinstance(raised.value.__cause__, ClientError)
    assert "secret plan" not in str(raised.value)
    assert raised.value.status == 503
