"""Faults on the way from a committed change to its STATS and ACTIVITY# records, through the whole app on
both store adapters: a queue that refuses sends, a poison message in a batch (kept as a dead letter,
replayed once fixed). The process killed between commit and delivery is in test_crash.py."""

from __future__ import annotations

import io
import json
import random
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib import consumers
from chalicelib import ops
from chalicelib import wiring
from chalicelib.auth.local_issuer import sub_for
from chalicelib.errors import QueueUnavailable
from chalicelib.events.base import ACTIVITY
from chalicelib.events.base import DEAD_LETTERS
from chalicelib.events.local import LocalQueue
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import STATUSES
from tests.support.activity import activity_of
from tests.support.activity import counters
from tests.support.activity import item_counts
from tests.support.activity import settle
from tests.support.activity import sqs_record
from tests.support.activity import stats_of
from tests.support.queues import FAST

USERS = tuple(f"user-{n}" for n in range(5))
CHANGES = 500  # across USERS: 3.5 s on SQLite, 10 s on DynamoDB Local


def embedded_queue(path: str, **options: Any) -> LocalQueue:
    """The embedded queue delivering to app.py's consumers on the test's services, quick to retry."""
    return LocalQueue(
        path,
        {
            ACTIVITY: lambda event: consumers.activity(wiring.services(), event),
            DEAD_LETTERS: lambda event: consumers.dead_letters(wiring.services(), event),
        },
        **{**FAST, **options},
    )


class RefusingQueue:
    """The embedded queue, except that a seeded random share of sends is refused as SQS may refuse one
    (QueueUnavailable, before anything is sent)."""

    def __init__(self, queue: LocalQueue, share: float, seed: int) -> None:
        self.queue = queue
        self.share = share
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.refused = 0
        self.sent = 0

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        with self._lock:
            refuse = self._random.random() < self.share
            if refuse:
                self.refused += 1
            else:
                self.sent += 1
        if refuse:
            raise QueueUnavailable("the queue refused the message (a test's fault)")
        return self.queue.send(body, attributes)

    def drain(self, timeout: float = 10.0) -> bool:
        return self.queue.drain(timeout)


@pytest.fixture
def local_queue(env, tmp_path):
    queue = embedded_queue(str(tmp_path / "queue.db"))
    yield queue
    queue.close()


def changes_across_users(api, rng: random.Random, count: int) -> dict[str, dict[str, Any]]:
    """``count`` accepted changes (creates, patches of the status or of other fields, deletes) spread
    over USERS; per user, the number of changes and the status of each item left."""
    model: dict[str, dict[str, Any]] = {user: {"changes": 0, "items": {}} for user in USERS}
    for n in range(count):
        user = USERS[n % len(USERS)]
        items: dict[str, str] = model[user]["items"]
        roll = rng.random()
        if not items or roll < 0.4:
            status = rng.choice(STATUSES)
            reply = api.post("/items", {"title": f"task {n}", "status": status}, user=user)
            assert reply.status == 201, reply.json
            items[reply.json["id"]] = status
        elif roll < 0.85:
            item_id = rng.choice(sorted(items))
            body = {"status": rng.choice(STATUSES)} if rng.random() < 0.6 else {"notes": f"note {n}"}
            reply = api.patch(f"/items/{item_id}", body, user=user)
            assert reply.status == 200, reply.json
            items[item_id] = reply.json["status"]
        else:
            item_id = rng.choice(sorted(items))
            assert api.delete(f"/items/{item_id}", user=user).status == 204
            del items[item_id]
        model[user]["changes"] += 1
    return model


def expected_counters(items: Mapping[str, str]) -> dict[str, int]:
    by_status = Counter(items.values())
    return {**{status: by_status[status] for status in STATUSES}, "total": len(items)}


def test_a_queue_refusing_30_percent_of_sends_loses_no_event_and_applies_none_twice(adapter, env, api, local_queue):
    changes = CHANGES
    queue = RefusingQueue(local_queue, 0.3, seed=10)
    env.install(queue=queue)
    for user in USERS:
        assert api.get("/me", user=user).status == 200  # one sign-in each

    model = changes_across_users(api, random.Random(10), changes)
    settle(timeout=120)

    for user in USERS:
        sub = sub_for(user)
        expected = expected_counters(model[user]["items"])
        assert counters(sub) == expected == item_counts(sub), user
        stats = stats_of(sub)
        assert stats is not None and stats["sign_ins"] == 1
        records = activity_of(sub)
        ids = [record["id"] for record in records]
        assert len(ids) == len(set(ids)) == model[user]["changes"] + 1, user
        assert stats["applied"] == len(ids)
    assert queue.refused > 0.2 * changes  # the fault did happen, often


# --- a poison message ------------------------------------------------------------------------------


class BuggyRecorder:
    """The activity recorder with a bug that one item's events trigger, until ``fixed``."""

    def __init__(self, recorder: ActivityRecorder, poison_item: str) -> None:
        self.recorder = recorder
        self.poison_item = poison_item
        self.fixed = False
        self.calls: Counter[str] = Counter()

    def record(self, event: Mapping[str, Any]) -> bool:
        self.calls[event["id"]] += 1
        if not self.fixed and event["item_id"] == self.poison_item:
            raise KeyError("a bug this event triggers")
        return self.recorder.record(event)


def ops_command(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = ops.main(list(argv), services=wiring.services(), out=out)
    return status, out.getvalue()


def test_a_poison_message_fails_alone_in_its_batch_and_is_kept_then_applied_once_when_replayed_after_the_fix(
    adapter, env, tmp_path
):
    sub = "sub-poisoned"
    queue = embedded_queue(str(tmp_path / "queue.db"), max_receives=3)
    env.install(queue=queue)
    try:
        poison_item = new_id()
        buggy = BuggyRecorder(ActivityRecorder(wiring.services().store), poison_item)
        env.install(activity_recorder=buggy)
        at = "2026-11-28T10:00:0{}.000Z"
        good = [item_event(ITEM_CREATED, sub, new_id(), at.format(n), before=None, after="todo") for n in range(4)]
        poison = item_event(ITEM_CREATED, sub, poison_item, at.format(5), before=None, after="done")
        batch = [*good[:2], poison, *good[2:]]

        # One batch, as Lambda hands it over: only the poison message is reported failed.
        records = [sqs_record(event, message_id=f"m-{n}") for n, event in enumerate(batch)]
        response = consumers.activity(wiring.services(), {"Records": records})
        assert response == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
        assert counters(sub) == {"todo": 4, "in_progress": 0, "done": 0, "total": 4}

        # Through the queue: the poison message is retried, then dead-lettered and kept.
        sent = {queue.send(json.dumps(event), {"request_id": "req-poison"}): event for event in batch}
        assert queue.drain(timeout=30)
        assert buggy.calls[poison["id"]] == 1 + 3  # the batch above, then every receive the queue allows
        assert all(buggy.calls[event["id"]] == 2 for event in good)  # redelivered: applied once
        [kept] = [json.loads(line) for line in ops_command("dead-letters", "list")[1].splitlines()]
        assert sent[kept["message_id"]] == poison and kept["event"]["id"] == poison["id"]
        assert (kept["failures"], kept["last_failure"]) == (3, "unhandled: KeyError")
        assert counters(sub) == {"todo": 4, "in_progress": 0, "done": 0, "total": 4}
        assert len(activity_of(sub)) == 4

        buggy.fixed = True
        assert ops_command("dead-letters", "replay", "--all")[0] == 0
        assert queue.drain(timeout=30)
        after_replay = stats_of(sub)
        assert counters(sub) == {"todo": 4, "in_progress": 0, "done": 1, "total": 5}
        assert sorted(record["id"] for record in activity_of(sub)) == sorted(event["id"] for event in batch)
        assert ops_command("dead-letters", "list") == (0, "")

        # Replayed again (kept once more, as if forgetting it had failed): nothing changes.
        wiring.services().dead_letters.keep(kept["message_id"], json.dumps(poison), {}, 3)
        assert ops_command("dead-letters", "replay", kept["message_id"])[0] == 0
        assert queue.drain(timeout=30)
        assert stats_of(sub) == after_replay
        assert len(activity_of(sub)) == 5
    finally:
        queue.close()
