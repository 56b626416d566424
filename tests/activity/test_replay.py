"""Replaying dead letters with the operator's command (``python -m chalicelib.ops dead-letters ...``),
through the embedded queue and the consumers app.py declares, on both store adapters: a message that a
bug made fail is kept, and once the bug is fixed its replay is applied once; a second replay changes
nothing."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from chalicelib import consumers
from chalicelib import keys
from chalicelib import ops
from chalicelib import wiring
from chalicelib.events.base import ACTIVITY
from chalicelib.events.base import DEAD_LETTERS
from chalicelib.events.local import LocalQueue
from chalicelib.store.base import Put
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from tests.support.activity import activity_of
from tests.support.activity import counters
from tests.support.queues import FAST

SUB = "sub-erin"
AT = "2026-11-28T10:00:00.000Z"


class Buggy:
    """The activity recorder with a bug that ``fixed`` removes."""

    def __init__(self, recorder: ActivityRecorder) -> None:
        self.recorder = recorder
        self.fixed = False

    def record(self, event):
        if not self.fixed:
            raise KeyError("a bug")
        return self.recorder.record(event)


@pytest.fixture
def queue(env, tmp_path):
    """The embedded queue delivering to the consumers (3 receives, then the dead letters), installed."""
    local = LocalQueue(
        str(tmp_path / "queue.db"),
        {
            ACTIVITY: lambda event: consumers.activity(wiring.services(), event),
            DEAD_LETTERS: lambda event: consumers.dead_letters(wiring.services(), event),
        },
        max_receives=3,
        **FAST,
    )
    env.install(queue=local)
    yield local
    local.close()


def ops_command(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = ops.main(list(argv), services=wiring.services(), out=out)
    return status, out.getvalue()


def test_a_dead_letter_replayed_after_the_fix_is_applied_once_and_a_second_replay_changes_nothing(adapter, env, queue):
    buggy = Buggy(ActivityRecorder(wiring.services().store))
    env.install(activity_recorder=buggy)
    event = item_event(ITEM_CREATED, SUB, new_id(), AT, before=None, after="todo")
    message_id = queue.send(json.dumps(event), {"request_id": "req-9"})
    assert queue.drain(timeout=20)

    status, listed = ops_command("dead-letters", "list")
    [line] = listed.splitlines()
    summary = json.loads(line)
    failed = (summary["message_id"], summary["failures"], summary["last_failure"])
    assert failed == (message_id, 3, "unhandled: KeyError")
    assert summary["event"]["id"] == event["id"] and counters(SUB)["total"] == 0

    buggy.fixed = True
    assert ops_command("dead-letters", "replay", "--all")[0] == 0
    assert queue.drain(timeout=20)
    assert counters(SUB) == {"todo": 1, "in_progress": 0, "done": 0, "total": 1}
    assert len(activity_of(SUB)) == 1
    assert ops_command("dead-letters", "list") == (0, "")  # forgotten once replayed

    # Replayed again (as if forgetting it had failed after the send): the consumer applies it once.
    kept = {"message_id": message_id, "body": json.dumps(event), "attributes": {}, "sub": SUB}
    wiring.services().store.put(Put(keys.dead_letter_key(message_id), kept))
    status, said = ops_command("dead-letters", "replay", message_id)
    assert status == 0 and said.startswith(f"{message_id}: replayed as message ")
    assert queue.drain(timeout=20)
    assert counters(SUB)["total"] == 1 and len(activity_of(SUB)) == 1


def test_replaying_or_discarding_what_is_not_kept_says_so_and_fails(env, queue):
    assert ops_command("dead-letters", "replay", "no-such-id") == (1, "no-such-id: no such dead letter\n")
    assert ops_command("dead-letters", "discard", "no-such-id") == (1, "no-such-id: no such dead letter\n")
    assert ops_command("dead-letters", "show", "no-such-id") == (1, "no-such-id: no such dead letter\n")
    assert queue.pending(ACTIVITY) == 0


def test_a_discarded_dead_letter_is_forgotten_and_never_sent(env, queue):
    wiring.services().dead_letters.keep("m-1", "garbage", {}, 5)
    status, shown = ops_command("dead-letters", "show", "m-1")
    assert status == 0 and json.loads(shown)["body"] == "garbage"
    assert ops_command("dead-letters", "discard", "m-1") == (0, "m-1: discarded\n")
    assert wiring.services().dead_letters.get("m-1") is None and queue.pending(ACTIVITY) == 0


def test_replay_needs_ids_or_all_not_both(env):
    for argv in (("dead-letters", "replay"), ("dead-letters", "replay", "m-1", "--all")):
        with pytest.raises(SystemExit):
            ops_command(*argv)


def test_deployed_the_replay_sends_into_the_sqs_queue_the_environment_names(env):
    with mock_aws():
        sqs = boto3.session.Session().client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="activity")["QueueUrl"]
        env(ACTIVITY_QUEUE_URL=url, AWS_REGION="us-east-1")
        wiring.services().dead_letters.keep("m-1", '{"id": "e-1"}', {"request_id": "req-1"}, 5)

        status, said = ops_command("dead-letters", "replay", "m-1")

        [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]).get("Messages", [])
    assert status == 0 and said == f"m-1: replayed as message {message['MessageId']}\n"
    assert message["Body"] == '{"id": "e-1"}'
    assert message["MessageAttributes"] == {"request_id": {"DataType": "String", "StringValue": "req-1"}}
    assert wiring.services().dead_letters.get("m-1") is None
