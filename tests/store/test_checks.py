"""The port's own checks (chalicelib/store/base.py BaseStore): what no adapter may accept is refused once,
before any adapter sees it, so every adapter refuses it alike and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store.base import AttributeIs
from chalicelib.store.base import BaseStore
from chalicelib.store.base import Delete
from chalicelib.store.base import Exists
from chalicelib.store.base import Key
from chalicelib.store.base import Page
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from tests.support.store import item

NOT_A_CONDITION: Any = ("version", 1)  # Any: not a Condition on purpose, for the port's own check to refuse


def bad_calls(pk: str) -> dict[str, tuple[type[Exception], str, tuple]]:
    """name: (what is raised, the method, its arguments)."""
    key = item(pk, 1)
    return {
        "negative-limit": (ValueError, "query", (pk, "ITEM#")),
        "put-key-attribute": (ValueError, "put", (Put(key, {"title": "a", "PK": "x"}),)),
        "update-set-key-attribute": (ValueError, "update", (Update(key, set={"SK": "x"}),)),
        "update-set-if-absent-key-attribute": (ValueError, "update", (Update(key, set_if_absent={"GSI1PK": "x"}),)),
        "update-add-key-attribute": (ValueError, "update", (Update(key, add={"GSI1SK": 1}),)),
        "transact-key-attribute": (ValueError, "transact", ([Put(item(pk, 2), {"n": 2}), Put(key, {"PK": "x"})],)),
        "transact-same-key-twice": (ValueError, "transact", ([Put(key, {"n": 1}), Update(key, add={"n": 1})],)),
        "transact-empty-update": (
            ValueError,
            "transact",
            ([Put(item(pk, 2), {"n": 2}), Update(key, condition=Exists())],),
        ),
        "put-unknown-condition": (TypeError, "put", (Put(key, {"n": 1}, condition=NOT_A_CONDITION),)),
        "update-unknown-condition": (TypeError, "update", (Update(key, set={"n": 1}, condition=NOT_A_CONDITION),)),
        "delete-unknown-condition": (TypeError, "delete", (Delete(key, condition=NOT_A_CONDITION),)),
        "transact-unknown-condition": (TypeError, "transact", ([Put(key, {"n": 1}, condition=NOT_A_CONDITION)],)),
        "condition-on-key-attribute": (ValueError, "put", (Put(key, {"n": 1}, condition=AttributeIs("PK", pk)),)),
        "condition-on-a-boolean": (TypeError, "update", (Update(key, add={"n": 1}, condition=AttributeIs("n", True)),)),
    }


BAD_CALLS = list(bad_calls("P"))


def call(store, method: str, args: tuple) -> object:
    if method == "query":
        return store.query(*args, limit=-1)
    return getattr(store, method)(*args)


class Recording(BaseStore):
    """An adapter that records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _get(self, key: Key) -> None:
        self.calls.append("get")

    def _query(self, partition: str, prefix: str, *, limit: int, index: bool, after: str | None) -> Page:
        self.calls.append("query")
        return Page([], more=False)

    def _put(self, op: Put) -> None:
        self.calls.append("put")

    def _update(self, op: Update) -> None:
        self.calls.append("update")

    def _delete(self, op: Delete) -> None:
        self.calls.append("delete")

    def _transact(self, ops) -> None:
        self.calls.append("transact")


@pytest.mark.parametrize("name", BAD_CALLS)
def test_the_port_refuses_a_bad_call_before_the_adapter_sees_it(name):
    error, method, args = bad_calls("P")[name]
    adapter = Recording()
    with pytest.raises(error):
        call(adapter, method, args)
    assert adapter.calls == []


def test_the_port_hands_good_calls_to_the_adapter_and_skips_an_empty_transaction():
    adapter = Recording()
    key = Key("P", "ITEM#1")
    adapter.get(key)
    adapter.query("P", "ITEM#", limit=0)
    adapter.put(Put(key, {"n": 1}, condition=Exists()))
    adapter.update(Update(key, add={"n": 1}))
    adapter.delete(Delete(key))
    adapter.transact([])
    adapter.transact([Put(key, {"n": 1})])
    assert adapter.calls == ["get", "query", "put", "update", "delete", "transact"]


@pytest.mark.parametrize("name", BAD_CALLS)
def test_every_adapter_refuses_a_bad_call_alike_and_writes_nothing(store, pk, name):
    error, method, args = bad_calls(pk)[name]
    with pytest.raises(error):
        call(store, method, args)
    assert store.query(pk, "", limit=10).records == []
