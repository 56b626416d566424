"""chalicelib/aws.py's lazy client, the one way the cloud adapters (store, queue, provider) get theirs: an
adapter is an aws.ClientOwner, and its client is built once, on first use, from its constructor's keywords."""

from __future__ import annotations

import pytest

from chalicelib import aws


def test_a_lazy_client_on_a_class_that_is_not_a_client_owner_is_refused_when_the_class_is_defined():
    with pytest.raises((TypeError, RuntimeError)) as raised:  # Python < 3.12 wraps it in a RuntimeError

        class Adapter:
            client = aws.lazy_client("sqs")

    error = raised.value if isinstance(raised.value, TypeError) else raised.value.__cause__
    assert isinstance(error, TypeError) and "ClientOwner" in str(error)


def adapters():
    from chalicelib.assistant.bedrock import BedrockProvider
    from chalicelib.events.sqs import SQSQueue
    from chalicelib.store.dynamodb import DynamoDBStore

    endpoint = {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9"}
    return [
        DynamoDBStore("tasks", **endpoint),
        SQSQueue("http://127.0.0.1:9/queue", **endpoint),
        BedrockProvider("anthropic.claude", **endpoint),
    ]


@pytest.mark.parametrize("index", range(3), ids=["dynamodb", "sqs", "bedrock"])
def test_each_cloud_adapter_builds_its_client_once_on_first_use_from_its_own_options(index, fake_aws):
    adapter = adapters()[index]
    assert isinstance(adapter, aws.ClientOwner) and adapter._client is None

    client = adapter.client

    assert client is adapter.client
    assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-west-1", "http://127.0.0.1:9")
    with pytest.raises(AttributeError):
        adapter.client = object()
    client.close()


def test_a_stand_in_put_in_place_of_the_client_is_what_the_adapter_uses():
    from chalicelib.events.sqs import SQSQueue

    queue, stand_in = SQSQueue("http://127.0.0.1:9/queue"), object()
    queue._client = stand_in
    assert queue.client is stand_in
