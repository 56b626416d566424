"""Dead letters are kept: the activity consumer notes why a message failed, and the dead-letter consumer
(invoked as Lambda invokes it) stores the message with those reasons before it reports success, so the
queue never deletes a dead letter that was not kept."""

from __future__ import annotations

import json

from chalicelib import keys
from chalicelib import wiring
from chalicelib.errors import StoreUnavailable
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.dead_letters import DEAD_LETTER_TTL_SECONDS
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from tests.support.activity import activity_of
from tests.support.activity import sqs_record
from tests.support.faults import fail_store

SUB = "sub-dora"
AT = "2026-11-28T10:00:00.000Z"
NOW = 1_800_000_000


def _invoke(lambda_client, name: str, *records: dict) -> dict:
    return lambda_client.invoke(name, {"Records": list(records)}).payload


def _failure(message_id: str) -> dict | None:
    return wiring.services().store.get(keys.failure_key(message_id))


class Failing:
    """An activity recorder that fails each call with the next of ``errors``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    def record(self, event):
        raise self.errors.pop(0)


def test_each_failure_of_a_message_is_noted_first_and_last_reason_without_its_text(env, lambda_client):
    env.install(
        clock=lambda: NOW,
        activity_recorder=Failing(RuntimeError(f"title of {SUB}'s task"), StoreUnavailable("the table throttled")),
    )
    event = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo")
    for receives in (1, 2):
        reply = _invoke(lambda_client, "on_activity", sqs_record(event, message_id="m-1", receives=receives))
        assert reply == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}

    assert _failure("m-1") == {
        "first_failure": "unhandled: RuntimeError",  # the type only: the text might quote user data
        "last_failure": "service_unavailable: the table throttled",
        "failures": 2,
        "first_failed_at": "2027-01-15T08:00:00.000Z",
        "last_failed_at": "2027-01-15T08:00:00.000Z",
        "expires_at": NOW + DEAD_LETTER_TTL_SECONDS,
    }


def test_a_message_that_succeeds_notes_nothing(lambda_client):
    event = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo")
    assert _invoke(lambda_client, "on_activity", sqs_record(event, message_id="m-ok")) == {"batchItemFailures": []}
    assert _failure("m-ok") is None


def test_a_failure_that_cannot_be_noted_still_fails_its_message_alone(env, lambda_client, stdout):
    fail_store(env, StoreUnavailable("down"), "update")
    reply = _invoke(lambda_client, "on_activity", sqs_record("not json", message_id="m-1"))
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    [warning] = [line for line in stdout().at("WARNING") if line["message"].startswith("could not note")]
    assert warning["code"] == "invalid_event: the message body is not JSON"


def test_a_dead_letter_is_kept_with_its_attributes_receive_count_and_reasons_then_logged_and_counted(
    env, lambda_client, stdout
):
    env.install(clock=lambda: NOW, activity_recorder=Failing(RuntimeError("x"), RuntimeError("y")))
    event = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo")
    for receives in (1, 2):
        _invoke(lambda_client, "on_activity", sqs_record(event, message_id="m-1", receives=receives))
    stdout()

    reply = _invoke(lambda_client, "on_dead_letter", sqs_record(event, message_id="m-1", request_id="req-1"))

    assert reply == {"batchItemFailures": []}
    assert wiring.services().dead_letters.get("m-1") == {
        "message_id": "m-1",
        "body": json.dumps(event),
        "attributes": {"request_id": "req-1"},
        "receive_count": 1,
        "failures": 2,
        "first_failure": "unhandled: RuntimeError",
        "first_failed_at": "2027-01-15T08:00:00.000Z",
        "last_failure": "unhandled: RuntimeError",
        "last_failed_at": "2027-01-15T08:00:00.000Z",
        "dead_lettered_at": "2027-01-15T08:00:00.000Z",
        "sub": SUB,
        "expires_at": NOW + DEAD_LETTER_TTL_SECONDS,
    }
    out = stdout()
    [error] = out.at("ERROR")
    assert (error["error"], error["event_id"], error["last_failure"]) == (
        "dead_letter",
        event["id"],
        "unhandled: RuntimeError",
    )
    assert out.emf[0]["DeadLetterMessages"] == 1
    assert activity_of(SUB) == []  # kept, not applied


def test_a_message_that_never_failed_in_this_code_is_kept_without_reasons(lambda_client):
    _invoke(lambda_client, "on_dead_letter", sqs_record("garbage that is not json", message_id="m-2", receives=3))
    kept = wiring.services().dead_letters.get("m-2")
    assert kept is not None
    assert (kept["body"], kept["receive_count"], kept["sub"]) == ("garbage that is not json", 3, None)
    assert (kept["failures"], kept["first_failure"], kept["last_failure"]) == (None, None, None)


def test_a_dead_letter_the_store_does_not_take_is_reported_failed_so_the_queue_keeps_it(env, lambda_client, stdout):
    fail_store(env, StoreUnavailable("down"), "put")
    event = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo")

    reply = _invoke(
        lambda_client,
        "on_dead_letter",
        sqs_record(event, message_id="kept-not"),
        sqs_record(event, message_id="nor-this"),
    )

    assert reply == {"batchItemFailures": [{"itemIdentifier": "kept-not"}, {"itemIdentifier": "nor-this"}]}
    out = stdout()
    assert [line for line in out.logs if line.get("error") == "dead_letter"] == []  # logged once kept
    assert "DeadLetterMessages" not in out.emf[0] and out.emf[0]["EventFailures"] == 2
