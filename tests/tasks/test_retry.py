"""The one backoff on a lost transaction race (tasks/retry.py), and the two use-cases that rely on it:
an idempotent create racing a repeat of itself, and the activity recorder racing on STATS."""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import pytest

from chalicelib.errors import ConditionFailed
from chalicelib.errors import StoreUnavailable
from chalicelib.errors import TransactionConflict
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.ids import new_id
from chalicelib.tasks.items import ItemService
from chalicelib.tasks.retry import FIRST_WAIT
from chalicelib.tasks.retry import retry_on_conflict
from chalicelib.vocabulary import DEFAULT_STATUS
from chalicelib.vocabulary import ITEM_CREATED

SUB = "sub-alice"


class Attempts:
    """An action that loses ``conflicts`` races, then returns ``result`` (or raises ``then``)."""

    def __init__(self, conflicts: int, result: Any = "committed", then: Exception | None = None) -> None:
        self.conflicts, self.result, self.then = conflicts, result, then
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls <= self.conflicts:
            raise TransactionConflict("another transaction holds a key")
        if self.then is not None:
            raise self.then
        return self.result


def test_a_lost_race_is_retried_after_a_random_wait_that_grows():
    waits: list[float] = []
    action = Attempts(conflicts=2)
    assert retry_on_conflict(action, attempts=5, exhausted="busy", sleep=waits.append) == "committed"
    assert action.calls == 3
    low, high = FIRST_WAIT
    assert len(waits) == 2
    assert low <= waits[0] <= high and 2 * low <= waits[1] <= 2 * high


def test_too_many_lost_races_are_a_503_without_a_last_useless_wait():
    waits: list[float] = []
    action = Attempts(conflicts=10)
    with pytest.raises(StoreUnavailable) as raised:
        retry_on_conflict(action, attempts=4, exhausted="STATS stayed contended", sleep=waits.append)
    assert raised.value.detail == "STATS stayed contended" and raised.value.status == 503
    assert action.calls == 4 and len(waits) == 3


def test_any_other_failure_propagates_at_once():
    waits: list[float] = []
    action = Attempts(conflicts=0, then=ConditionFailed("no", index=0))
    with pytest.raises(ConditionFailed):
        retry_on_conflict(action, attempts=5, exhausted="busy", sleep=waits.append)
    assert action.calls == 1 and waits == []


# --- the use-cases, over a store that loses races -----------------------------------------------------


class ContendedStore:
    """A Store whose transactions lose ``conflicts`` races, then commit (kept in ``committed``)."""

    transactions = True

    def __init__(self, conflicts: int) -> None:
        self.conflicts = conflicts
        self.attempts = 0
        self.committed: list[Any] = []

    def transact(self, ops: list[Any]) -> None:
        self.attempts += 1
        if self.attempts <= self.conflicts:
            raise TransactionConflict("contended")
        self.committed.extend(ops)


class NewItem(NamedTuple):
    title: str = "Water the plants"
    notes: str = ""
    status: str = DEFAULT_STATUS
    due: Any = None
    tags: tuple[str, ...] = ()


def test_an_idempotent_create_that_loses_races_commits_once_they_clear():
    store = ContendedStore(conflicts=3)
    created = ItemService(store).create(SUB, NewItem(), idempotency_key="k-1", fingerprint="f")
    assert not created.replayed and created.item["title"] == "Water the plants"
    assert store.attempts == 4 and len(store.committed) == 2  # the key's record and the item, once


def test_an_idempotent_create_that_keeps_losing_is_a_503():
    store = ContendedStore(conflicts=100)
    with pytest.raises(StoreUnavailable, match="Idempotency-Key"):
        ItemService(store).create(SUB, NewItem(), idempotency_key="k-1", fingerprint="f")
    assert store.committed == []


def test_the_recorder_takes_turns_on_stats_then_applies_the_event():
    store = ContendedStore(conflicts=2)
    event = item_event(ITEM_CREATED, SUB, new_id(), "2026-11-28T10:00:00.000Z", before=None, after=DEFAULT_STATUS)
    assert ActivityRecorder(store).record(event) is True
    assert store.attempts == 3 and len(store.committed) == 2  # the ACTIVITY# record and STATS
