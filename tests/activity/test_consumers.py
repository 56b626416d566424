"""The consumers app.py declares, invoked as Lambda invokes them (Chalice's test client): partial batch
responses, one log line per message under its request id, one EMF document per invocation, and
unhandled exceptions reported once."""

from __future__ import annotations

import json

from chalicelib import keys
from chalicelib import wiring
from chalicelib.observability import logs
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from tests.observability import emf
from tests.support.activity import activity_of
from tests.support.activity import counters
from tests.support.activity import sqs_record

SUB = "sub-carol"
AT = "2026-11-28T10:00:00.000Z"


def _invoke(lambda_client, name: str, *records: dict) -> dict:
    return lambda_client.invoke(name, {"Records": list(records)}).payload


def _created(**kw) -> dict:
    return item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo", **kw)


def test_a_batch_is_applied_and_reports_no_failures(lambda_client, stdout):
    records = [sqs_record(_created(), message_id=f"m-{n}", request_id=f"req-{n}") for n in range(3)]
    assert _invoke(lambda_client, "on_activity", *records) == {"batchItemFailures": []}
    assert counters(SUB)["todo"] == 3
    out = stdout()
    lines = [line for line in out.logs if line["logger"] == "tasks.consumers"]
    assert [(line["request_id"], line["message_id"]) for line in lines] == [(f"req-{n}", f"m-{n}") for n in range(3)]
    assert all(line["message"] == "activity event recorded" for line in lines)
    [document] = out.emf
    assert emf.problems(document) == []
    assert (document["Service"], document["EventsRecorded"]) == ("activity", 3)


def test_a_poison_message_fails_alone(lambda_client, stdout):
    good, later = _created(), _created()
    reply = _invoke(
        lambda_client,
        "on_activity",
        sqs_record(good, message_id="ok-1"),
        sqs_record("not json {", message_id="poison"),
        sqs_record({"v": 1, "type": "x"}, message_id="odd"),
        sqs_record(later, message_id="ok-2"),
    )
    assert reply == {"batchItemFailures": [{"itemIdentifier": "poison"}, {"itemIdentifier": "odd"}]}
    assert counters(SUB)["total"] == 2
    warnings = stdout().at("WARNING")
    assert [(w["message_id"], w["code"]) for w in warnings] == [("poison", "invalid_event"), ("odd", "invalid_event")]


def test_a_redelivered_message_is_counted_as_a_duplicate_and_changes_nothing(lambda_client, stdout):
    event = _created()
    _invoke(lambda_client, "on_activity", sqs_record(event, message_id="first"))
    stdout()
    assert _invoke(lambda_client, "on_activity", sqs_record(event, message_id="again", receives=2)) == {
        "batchItemFailures": []
    }
    assert len(activity_of(SUB)) == 1 and counters(SUB)["total"] == 1
    out = stdout()
    assert out.emf[0]["DuplicateEvents"] == 1 and "EventsRecorded" not in out.emf[0]
    assert out.logs[-1]["receive_count"] == "2"


def test_an_unhandled_exception_fails_its_message_and_is_reported_once(env, lambda_client, stdout):
    class Broken:
        def record(self, event):
            raise RuntimeError("disk on fire")

    env.install(activity_recorder=Broken())
    reply = _invoke(lambda_client, "on_activity", sqs_record(_created(), message_id="m-x", request_id="req-x"))
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m-x"}]}
    out = stdout()
    [error] = out.at("ERROR")
    assert error["error"] == "unhandled" and error["request_id"] == "req-x" and "disk on fire" in error["stack"]
    assert error["exc_type"] == "RuntimeError"
    assert out.emf[0]["UnhandledExceptions"] == 1 and out.emf[0]["EventFailures"] == 1
    # The template's unhandled-exception filter pattern matches this line.
    from tests.observability.filter_pattern import matches

    assert matches(logs.UNHANDLED_FILTER_PATTERN, json.dumps(error))


def test_a_dead_letter_is_logged_once_at_error_and_counted_without_its_body(lambda_client, stdout):
    event = _created()
    reply = _invoke(
        lambda_client,
        "on_dead_letter",
        sqs_record(event, message_id="dl-1", request_id="req-dl", receives=1),
        sqs_record("garbage that is not json", message_id="dl-2"),
    )
    assert reply == {"batchItemFailures": []}
    out = stdout()
    first, second = out.at("ERROR")
    assert (first["error"], first["event_id"], first["item_id"], first["request_id"]) == (
        "dead_letter",
        event["id"],
        event["item_id"],
        "req-dl",
    )
    assert first["user"] == logs.pseudonym(SUB, wiring.services().settings.cursor_secret)
    assert second["message_id"] == "dl-2" and second["error"] == "dead_letter"
    assert SUB not in out.text and "garbage that is not json" not in out.text
    [document] = out.emf
    assert emf.problems(document) == []
    assert (document["Service"], document["DeadLetterMessages"]) == ("dead-letters", 2)
    assert activity_of(SUB) == []  # a dead letter is reported, never applied


def test_the_age_of_each_event_is_measured_from_its_change(lambda_client, stdout):
    import time

    from chalicelib.tasks.clock import rfc3339

    event = item_event(ITEM_CREATED, SUB, new_id(), rfc3339(time.time() - 2.5), before=None, after="todo")
    _invoke(lambda_client, "on_activity", sqs_record(event))
    [document] = stdout().emf
    assert 2500 <= document["EventAge"] < 60_000


def test_a_sign_in_is_counted_but_not_aged_since_its_time_is_when_the_session_began(lambda_client, stdout):
    from chalicelib.tasks.activity import sign_in_event

    event = sign_in_event(SUB, "session-1", "2026-01-01T00:00:00.000Z")  # a session begun months ago
    assert _invoke(lambda_client, "on_activity", sqs_record(event)) == {"batchItemFailures": []}
    [document] = stdout().emf
    assert document["EventsRecorded"] == 1 and "EventAge" not in document
    assert (wiring.services().store.get(keys.stats_key(SUB)) or {})["sign_ins"] == 1
