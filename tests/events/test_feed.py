"""The embedded change feed: the SQLite store's change log handed to the forwarder in Lambda DynamoDB Streams
batches, in commit order, retried from the first failed record, each change forgotten only once taken."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.events.feed import LocalFeed
from chalicelib.events.stream import change_of
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return SQLiteStore(str(tmp_path / "app.db"), capture=lambda key: key.sk.startswith("ITEM#"))


class Forwarder:
    """Takes batches; ``fail_at`` names sequence numbers it reports (once each), ``raises`` the calls that raise."""

    def __init__(self, fail_at: set[str] | None = None, raises: int = 0) -> None:
        self.fail_at = set(fail_at or ())
        self.raises = raises
        self.taken: list[str] = []
        self.calls = 0

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.raises:
            self.raises -= 1
            raise RuntimeError("forwarder failed")
        for record in event["Records"]:
            sequence = record["dynamodb"]["SequenceNumber"]
            if sequence in self.fail_at:
                self.fail_at.discard(sequence)
                return {"batchItemFailures": [{"itemIdentifier": sequence}]}
            self.taken.append(change_of(record).key.sk)
        return {"batchItemFailures": []}


def _write(store: SQLiteStore, *names: str) -> None:
    for name in names:
        store.put(Put(Key("USER#u", f"ITEM#{name}"), {"name": name}))


def test_only_captured_records_are_logged_and_each_is_forwarded_once_in_commit_order(store):
    _write(store, "a", "b")
    store.put(Put(Key("USER#u", "STATS"), {"total": 1}))  # not captured: never logged
    _write(store, "c")
    forwarder = Forwarder()
    feed = LocalFeed(store, forwarder)
    while feed.forward_once() == 0:
        pass
    assert forwarder.taken == ["ITEM#a", "ITEM#b", "ITEM#c"]
    assert store.changes(10) == []


def test_a_reported_record_and_those_after_it_are_handed_over_again_and_none_before_it(store):
    _write(store, "a", "b", "c")
    first = store.changes(10)[1].seq  # "b" fails once
    forwarder = Forwarder(fail_at={str(first)})
    feed = LocalFeed(store, forwarder, retry_delay=0.01)
    assert feed.forward_once() > 0  # a failure: wait before the retry
    assert [change.key.sk for change in store.changes(10)] == ["ITEM#b", "ITEM#c"]
    while feed.forward_once() == 0:
        pass
    assert forwarder.taken == ["ITEM#a", "ITEM#b", "ITEM#c"]


def test_a_forwarder_that_raises_gets_the_whole_batch_again_and_the_wait_grows(store):
    _write(store, "a")
    forwarder = Forwarder(raises=2)
    feed = LocalFeed(store, forwarder, retry_delay=0.5)
    assert [feed.forward_once(), feed.forward_once()] == [0.5, 1.0]
    assert len(store.changes(10)) == 1  # nothing forgotten
    assert feed.forward_once() == 0 and forwarder.taken == ["ITEM#a"]


@pytest.mark.parametrize(
    "response", [{"batchItemFailures": [{"itemIdentifier": "no-such"}]}, {"batchItemFailures": [{}]}]
)
def test_a_response_naming_no_record_of_the_batch_retries_all_of_it(store, response):
    _write(store, "a", "b")
    feed = LocalFeed(store, lambda event: response, retry_delay=0.01)
    assert feed.forward_once() > 0
    assert len(store.changes(10)) == 2


def test_the_worker_forwards_what_an_earlier_process_logged_and_drain_waits_for_it(store, tmp_path):
    _write(store, "before-restart")
    again = SQLiteStore(store.path, capture=lambda key: True)  # a new process on the same file
    forwarder = Forwarder()
    feed = LocalFeed(again, forwarder, poll_interval=0.01)
    try:
        assert feed.drain(timeout=10)
    finally:
        feed.close()
    assert forwarder.taken == ["ITEM#before-restart"]


def test_a_batch_that_made_progress_before_its_failure_starts_the_backoff_over(store):
    _write(store, "a", "b", "c", "d")
    sequences = [str(change.seq) for change in store.changes(10)]
    forwarder = Forwarder(raises=1)
    feed = LocalFeed(store, forwarder, retry_delay=0.5)
    assert feed.forward_once() == 0.5  # raised: nothing delivered
    forwarder.fail_at = {sequences[2]}
    assert feed.forward_once() == 0.5  # "a" and "b" went through before "c" failed: not 1.0
    assert forwarder.taken == ["ITEM#a", "ITEM#b"]
