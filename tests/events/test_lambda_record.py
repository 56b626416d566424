"""The Lambda SQS record shape the local queue hands its consumers."""

from __future__ import annotations

import hashlib

from chalicelib.events.base import lambda_record


def test_lambda_record_has_exactly_lambdas_sqs_record_shape():
    body = '{"type":"item.created","request_id":"req-1"}'

    record = lambda_record(
        "msg-1",
        body,
        {"request_id": "req-1"},
        2,
        1_700_000_000_123,
        "arn:aws:sqs:local:000000000000:activity",
        "receipt-1",
        first_received_ms=1_700_000_000_456,
    )

    assert record == {
        "messageId": "msg-1",
        "receiptHandle": "receipt-1",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "2",
            "SentTimestamp": "1700000000123",
            "SenderId": "local",
            "ApproximateFirstReceiveTimestamp": "1700000000456",
        },
        "messageAttributes": {
            "request_id": {
                "stringValue": "req-1",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
        },
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:local:000000000000:activity",
        "awsRegion": "local",
    }


def test_lambda_record_first_receive_defaults_to_the_send_time_and_region_follows_the_arn():
    record = lambda_record("m", "x", {}, 1, 42, "arn:aws:sqs:eu-west-1:123456789012:activity-dlq", "r")

    assert record["attributes"]["ApproximateFirstReceiveTimestamp"] == "42"
    assert record["awsRegion"] == "eu-west-1"
    assert record["messageAttributes"] == {}
    assert record["md5OfBody"] == "9dd4e461268c8034f5c8564e155c67a6"  # md5("x")
