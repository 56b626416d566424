"""Correlation seams for the asynchronous paths: the request id being served goes onto an outgoing event
(the forwarder stamps it on the event and its SQS message attribute), and a consumer logs under the id a
message carries."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from chalicelib.observability import correlation
from chalicelib.observability import logs
from chalicelib.protocol import context
from chalicelib.settings import get_settings
from tests.support.activity import settle


def test_inside_a_request_the_request_id_is_the_callers(api, monkeypatch):
    from chalicelib.web import api as handlers

    seen = {}
    original = handlers.health

    def spying():
        seen["request_id"] = context.request_id()
        seen["event"] = correlation.stamp({"type": "item.created", "item_id": "i-1"}, context.request_id())
        return original()

    monkeypatch.setattr(handlers, "health", spying)
    api.get("/health", user=None, headers={"X-Request-Id": "enqueue-me-1"})
    assert seen["request_id"] == "enqueue-me-1"
    assert seen["event"] == {"type": "item.created", "item_id": "i-1", "request_id": "enqueue-me-1"}


def test_outside_any_request_there_is_no_request_id_and_nothing_is_stamped():
    # A thread that serves no request (the embedded queue's worker, say) has no request id.
    outside: dict = {}
    worker = threading.Thread(target=lambda: outside.update(id=context.request_id()))
    worker.start()
    worker.join()
    assert outside == {"id": None}
    assert correlation.stamp({"type": "x"}, None) == {"type": "x"}


def _record(attributes: dict | None = None, body: object = "{}") -> dict:
    # An SQS record as Lambda delivers it (note the lower-case attribute keys).
    return {
        "messageId": "m-1",
        "body": body if isinstance(body, str) else json.dumps(body),
        "messageAttributes": attributes or {},
    }


@pytest.mark.parametrize(
    "record,expected",
    [
        (
            _record(
                {"request_id": {"stringValue": "from-attribute", "dataType": "String"}}, {"request_id": "from-body"}
            ),
            "from-attribute",
        ),
        (_record(body={"request_id": "from-body"}), "from-body"),
        (_record(), None),
        (_record(body="not json"), None),
        (_record({"request_id": {"stringValue": "has space", "dataType": "String"}}), None),
        (_record(body={"request_id": "x" * 129}), None),
    ],
)
def test_a_consumer_reads_the_request_id_from_the_attribute_then_the_body(record, expected):
    assert correlation.request_id_of(record) == expected


def test_a_consumer_logs_under_the_request_id_of_the_message(observed, captured):
    logs.configure(get_settings())
    log = logging.getLogger("tasks.activity")
    record = _record({"request_id": {"stringValue": "api-request-9", "dataType": "String"}})
    with correlation.bound(correlation.request_id_of(record), message_id=record["messageId"]):
        log.info("event applied")
    log.info("between messages")
    first, second = captured().logs
    assert (first["request_id"], first["message_id"], first["message"]) == ("api-request-9", "m-1", "event applied")
    assert "request_id" not in second and "message_id" not in second


# --- one request id from the caller to the consumer ------------------------------------------------


def test_a_callers_request_id_is_in_the_api_line_the_sqs_message_and_the_consumers_line(observed, captured, token_for):
    """Deployed shape: the API sends to SQS (moto stands in for it), Lambda hands the message to the
    activity consumer (Chalice's test client invokes it with the record SQS produced)."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib.events.base import lambda_record

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="activity")["QueueUrl"]
        observed(QUEUE="sqs", ACTIVITY_QUEUE_URL=url)
        token = token_for("alice")
        with Client(app) as client:
            captured()
            reply = client.http.post(
                "/items",
                body=json.dumps({"title": "secret plans", "notes": "do not log"}),
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Request-Id": "trace-me-42",
                    "Content-Type": "application/json",
                },
            )
            assert reply.status_code == 201
            settle()  # the local feed forwards the change to SQS
            [access] = captured().access()
            assert access["request_id"] == "trace-me-42"

            [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])[
                "Messages"
            ]
            body = json.loads(message["Body"])
            assert body["request_id"] == "trace-me-42" and body["type"] == "item.created"
            assert message["MessageAttributes"]["request_id"] == {"StringValue": "trace-me-42", "DataType": "String"}
            assert "secret plans" not in message["Body"] and token not in message["Body"]

            record = lambda_record(
                message["MessageId"],
                message["Body"],
                {"request_id": "trace-me-42"},
                1,
                int(message["Attributes"]["SentTimestamp"]),
                "arn:aws:sqs:us-east-1:123456789012:activity",
                message["ReceiptHandle"],
            )
            result = client.lambda_.invoke("on_activity", {"Records": [record]}).payload
            assert result == {"batchItemFailures": []}
            out = captured()
    [consumed] = [line for line in out.logs if line["message"] == "activity event recorded"]
    assert (consumed["request_id"], consumed["message_id"]) == ("trace-me-42", message["MessageId"])
    assert token not in out.text and "secret plans" not in out.text and "do not log" not in out.text


def test_with_the_embedded_queue_the_consumers_line_carries_the_callers_request_id(observed, captured, api):
    from chalicelib import wiring

    observed(QUEUE="local")
    captured()
    assert api.post("/items", {"title": "local"}, headers={"X-Request-Id": "local-trace-7"}).status == 201
    settle()
    out = captured()
    [access] = out.access()
    [forwarded] = [line for line in out.logs if line["message"] == "activity event forwarded"]
    [consumed] = [line for line in out.logs if line["message"] == "activity event recorded"]
    assert access["request_id"] == forwarded["request_id"] == consumed["request_id"] == "local-trace-7"
    assert wiring.services() is not None


def test_an_event_the_queue_refuses_is_retried_from_the_log_until_it_is_taken_and_the_answer_stands(
    observed, captured, api
):
    from chalicelib.errors import QueueUnavailable
    from tests.support.queues import RecordingQueue

    class RefusingTwice(RecordingQueue):
        refusals = 0

        def send(self, body, attributes):
            if self.refusals < 2:
                self.refusals += 1
                raise QueueUnavailable("the queue is down")
            return super().send(body, attributes)

    queue = RefusingTwice()
    observed(QUEUE="local")
    observed.install(queue=queue)
    captured()
    reply = api.post("/items", {"title": "keep me"}, headers={"X-Request-Id": "late-event-1"})
    assert reply.status == 201
    assert api.get(f"/items/{reply.json['id']}").status == 200
    settle()
    [(event, attributes)] = queue.sent  # taken on the third try, once
    assert (event["type"], event["item_id"], attributes["request_id"]) == (
        "item.created",
        reply.json["id"],
        "late-event-1",
    )
    out = captured()
    retried = [line for line in out.at("WARNING") if line["message"].startswith("change not forwarded")]
    assert len(retried) == 2 and {line["request_id"] for line in retried} == {"late-event-1"}
    assert "keep me" not in out.text
    assert sum(doc.get("EnqueueFailures", 0) for doc in out.emf) == 2
