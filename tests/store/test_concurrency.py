"""Racing writers on each adapter: conditions let exactly one win, increments are never lost."""

from __future__ import annotations

import time

from chalicelib.errors import ConditionFailed
from chalicelib.errors import TransactionConflict
from chalicelib.store.base import Absent
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from chalicelib.store.base import VersionIs
from tests.support.store import NOW
from tests.support.store import item
from tests.support.threads import run_together


def test_concurrent_absent_puts_on_one_key_let_exactly_one_win(store, pk):
    outcomes = run_together(20, lambda i: store.put(Put(item(pk, 1), {"writer": i}, condition=Absent())))

    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1, outcomes
    losers = [outcome for outcome in outcomes if outcome is not None]
    assert all(isinstance(outcome, ConditionFailed) for outcome in losers), losers
    assert all(outcome.existing == {"writer": winners[0]} for outcome in losers)


def test_concurrent_version_conditioned_updates_let_exactly_one_win(store, pk):
    store.put(Put(item(pk, 1), {"version": 1, "writer": None}))

    outcomes = run_together(
        20, lambda i: store.update(Update(item(pk, 1), set={"version": 2, "writer": i}, condition=VersionIs(1)))
    )

    winners = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    assert len(winners) == 1, outcomes
    assert all(
        isinstance(outcome, ConditionFailed) and outcome.existing == winners[0]
        for outcome in outcomes
        if outcome is not winners[0]
    ), outcomes
    assert store.get(item(pk, 1)) == winners[0]


def test_concurrent_adds_are_never_lost(store, pk):
    outcomes = run_together(20, lambda i: store.update(Update(Key(pk, "STATS"), add={"count": 1})))
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert store.get(Key(pk, "STATS")) == {"count": 20}


def test_concurrent_transactions_on_one_key_let_exactly_one_win(store, pk):
    def create(i: int) -> None:
        store.transact(
            [
                Put(Key(pk, "IDEMPOTENCY#k"), {"writer": i}, condition=AbsentOrExpired(NOW)),
                Put(item(pk, i), {"writer": i}, condition=Absent()),
            ]
        )

    outcomes = run_together(10, create)

    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1, outcomes
    for outcome in outcomes:
        if isinstance(outcome, ConditionFailed):
            assert (outcome.index, outcome.existing) == (0, {"writer": winners[0]})
        else:  # DynamoDB may refuse a transaction that raced another one
            assert outcome is None or isinstance(outcome, TransactionConflict), outcome
    assert store.query(pk, "ITEM#", limit=20).records == [{"writer": winners[0]}]


def test_concurrent_transactions_adding_to_one_counter_never_lose_an_increment(store, pk):
    def record(i: int) -> None:
        ops = [Put(Key(pk, f"ACTIVITY#{i}"), {"event": i}, condition=Absent()), Update(Key(pk, "STATS"), add={"n": 1})]
        for _ in range(100):
            try:
                return store.transact(ops)
            except TransactionConflict:  # retrying is the caller's duty; DynamoDB refuses racing ones
                time.sleep(0.01)
        raise AssertionError("still conflicting after 100 attempts")

    outcomes = run_together(10, record)

    assert outcomes == [None] * 10
    assert store.get(Key(pk, "STATS")) == {"n": 10}
    assert len(store.query(pk, "ACTIVITY#", limit=20).records) == 10
