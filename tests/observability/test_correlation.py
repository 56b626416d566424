"""Correlation seams for the asynchronous paths: the request id being served goes onto an outgoing event
and its SQS message attribute, and a consumer logs under the id a message carries."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib.observability import correlation, logs
from chalicelib.settings import get_settings


def test_inside_a_request_the_current_request_id_is_the_callers(api, monkeypatch):
    from chalicelib.web import api as handlers

    seen = {}
    original = handlers.health

    def spying():
        seen["request_id"] = correlation.current_request_id()
        seen["event"] = correlation.stamp({"type": "item.created", "item_id": "i-1"})
        seen["attributes"] = correlation.message_attributes()
        return original()

    monkeypatch.setattr(handlers, "health", spying)
    api.get("/health", user=None, headers={"X-Request-Id": "enqueue-me-1"})
    assert seen["request_id"] == "enqueue-me-1"
    assert seen["event"] == {"type": "item.created", "item_id": "i-1", "request_id": "enqueue-me-1"}
    assert seen["attributes"] == {"request_id": {"DataType": "String", "StringValue": "enqueue-me-1"}}
    assert correlation.current_request_id() is None  # the request is over: nothing lingers


def test_outside_any_request_nothing_is_stamped():
    assert correlation.stamp({"type": "x"}) == {"type": "x"}
    assert correlation.message_attributes(attributes={"k": {"DataType": "String", "StringValue": "v"}}) == \
        {"k": {"DataType": "String", "StringValue": "v"}}


def _record(attributes: dict | None = None, body: object = "{}") -> dict:
    # An SQS record as Lambda delivers it (note the lower-case attribute keys).
    return {"messageId": "m-1", "body": body if isinstance(body, str) else json.dumps(body),
            "messageAttributes": attributes or {}}


@pytest.mark.parametrize("record,expected", [
    (_record({"request_id": {"stringValue": "from-attribute", "dataType": "String"}}, {"request_id": "from-body"}),
     "from-attribute"),
    (_record(body={"request_id": "from-body"}), "from-body"),
    (_record(), None),
    (_record(body="not json"), None),
    (_record({"request_id": {"stringValue": "has space", "dataType": "String"}}), None),
    (_record(body={"request_id": "x" * 129}), None),
])
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
