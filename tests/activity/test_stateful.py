"""A hypothesis state machine over the whole activity pipeline (SQLite, embedded feed and queue): any
sequence of creates, patches, deletes, duplicate deliveries (a stream record forwarded again, a queue
message sent again), events lost to the dead letters and replays of them leaves, once everything is
delivered, STATS equal to what the items say (the rebuild's count), each change's event recorded once."""

from __future__ import annotations

import io
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import precondition
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test

from chalicelib import consumers
from chalicelib import ops
from chalicelib import wiring
from chalicelib.auth.local_issuer import sub_for
from chalicelib.events.base import TABLE_STREAM
from chalicelib.events.local import LocalQueue
from chalicelib.vocabulary import STATUSES
from tests.activity.test_faults import embedded_queue
from tests.support.activity import activity_of
from tests.support.activity import counters
from tests.support.activity import item_counts
from tests.support.activity import settle
from tests.support.activity import stats_of

MACHINE = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CHANGES = st.one_of(
    st.sampled_from(STATUSES).map(lambda status: {"status": status}),
    st.just({"notes": "noted"}),
    st.just({"title": "renamed", "tags": ["x"]}),
)


class Wiretap:
    """What the pipeline carried: the stream records handed to the forwarder and the messages sent to
    the queue; and, when asked, the next message lost to the dead letters instead of delivered (the
    consumer gave up on it, the dead-letter consumer kept it)."""

    def __init__(self, queue: LocalQueue) -> None:
        self.queue = queue
        self.records: list[dict[str, Any]] = []
        self.messages: list[tuple[str, dict[str, str]]] = []
        self.lose_next = False
        self._lost = itertools.count(1)
        self._lock = threading.Lock()

    def forward(self, services: Any, event: dict, context: Any = None) -> dict:
        with self._lock:
            self.records += event.get("Records") or []
        return consumers.forward(services, event, context)

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        with self._lock:
            self.messages.append((body, dict(attributes)))
            lose, self.lose_next = self.lose_next, False
        if lose:
            message_id = f"lost-{uuid.uuid4().hex[:8]}-{next(self._lost)}"
            wiring.services().dead_letters.keep(message_id, body, attributes, 3)
            return message_id
        return self.queue.send(body, attributes)

    def drain(self, timeout: float = 10.0) -> bool:
        return self.queue.drain(timeout)


def forwarded() -> None:
    """Every committed change handed to the forwarder (so what the wiretap holds follows from the steps)."""
    feed = wiring.services().change_feed
    assert feed is not None and feed.drain(20)


def replay_all() -> None:
    out = io.StringIO()
    assert ops.main(["dead-letters", "replay", "--all"], services=wiring.services(), out=out) == 0, out.getvalue()


@pytest.fixture
def wiretap(env, tmp_path):
    queue = embedded_queue(str(tmp_path / "queue.db"))
    tap = Wiretap(queue)
    env.install(queue=tap, consumers={TABLE_STREAM: tap.forward})
    yield tap
    queue.close()


def test_any_history_of_changes_duplicates_and_replays_leaves_stats_equal_to_the_items(api, wiretap):
    class Pipeline(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.user = f"prop-{uuid.uuid4().hex[:10]}"  # examples share the store: each has its own user
            self.sub = sub_for(self.user)
            self.items: dict[str, str] = {}
            self.changes = 0
            forwarded()
            wiretap.records.clear()
            wiretap.messages.clear()

        def pick(self, index: int) -> str:
            return sorted(self.items)[index % len(self.items)]

        @rule(status=st.sampled_from(STATUSES))
        def create(self, status: str) -> None:
            reply = api.post("/items", {"title": "t", "status": status}, user=self.user)
            assert reply.status == 201, reply.json
            self.items[reply.json["id"]] = status
            self.changes += 1

        @precondition(lambda self: self.items)
        @rule(index=st.integers(0, 50), change=CHANGES)
        def patch(self, index: int, change: dict[str, Any]) -> None:
            item_id = self.pick(index)
            reply = api.patch(f"/items/{item_id}", change, user=self.user)
            assert reply.status == 200, reply.json
            self.items[item_id] = reply.json["status"]
            self.changes += 1

        @precondition(lambda self: self.items)
        @rule(index=st.integers(0, 50))
        def delete(self, index: int) -> None:
            item_id = self.pick(index)
            assert api.delete(f"/items/{item_id}", user=self.user).status == 204
            del self.items[item_id]
            self.changes += 1

        @rule(index=st.integers(0, 500))
        def forward_a_change_again(self, index: int) -> None:
            forwarded()
            if wiretap.records:
                record = wiretap.records[index % len(wiretap.records)]
                assert consumers.forward(wiring.services(), {"Records": [record]}) == {"batchItemFailures": []}

        @rule(index=st.integers(0, 500))
        def deliver_a_message_again(self, index: int) -> None:
            forwarded()
            if wiretap.messages:
                body, attributes = wiretap.messages[index % len(wiretap.messages)]
                wiretap.queue.send(body, attributes)

        @rule()
        def lose_the_next_message_to_the_dead_letters(self) -> None:
            forwarded()
            wiretap.lose_next = True

        @rule(index=st.integers(0, 500))
        def keep_a_delivered_message_as_a_dead_letter(self, index: int) -> None:
            # As if the consumer applied it but the queue gave up on it all the same (a timeout).
            forwarded()
            if wiretap.messages:
                body, attributes = wiretap.messages[index % len(wiretap.messages)]
                wiring.services().dead_letters.keep(f"kept-{uuid.uuid4().hex[:8]}", body, attributes, 3)

        @rule()
        def replay_the_dead_letters(self) -> None:
            forwarded()
            replay_all()

        def teardown(self) -> None:
            wiretap.lose_next = False
            settle()
            while any(True for _ in wiring.services().dead_letters.list()):
                replay_all()
                settle()
            by_status = Counter(self.items.values())
            expected: dict[str, int] = {status: by_status[status] for status in STATUSES}
            assert counters(self.sub) == {**expected, "total": len(self.items)}
            assert counters(self.sub) == item_counts(self.sub)
            ids = [record["id"] for record in activity_of(self.sub)]
            assert len(ids) == len(set(ids)) == self.changes
            assert (stats_of(self.sub) or {}).get("applied", 0) == self.changes

    run_state_machine_as_test(Pipeline, settings=MACHINE)
