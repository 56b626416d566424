"""The single-table store port: a small, DynamoDB-shaped set of operations every adapter implements.

Records are plain dicts of JSON-able attributes (str, int, bool, None, lists and dicts of those);
key and index attributes are passed beside them and never appear in what an adapter returns.
Every write may carry a Condition; when it does not hold the adapter raises
``errors.ConditionFailed(existing=<the stored record or None>)`` in the same single request.
A string set (an Update's ``add_to_set``/``delete_from_set``) reads back as a sorted list of its strings; only
those clauses make one (a Put of that list writes a list, which DynamoDB will not treat as a set).

A store may offer no transactions (``transactions`` False: a DynamoDB table in multi-Region strong
consistency has none); the use-cases then reach the same guarantees with single-record conditional writes.

``BaseStore`` checks every call once, for all adapters: an adapter subclasses it and implements the
underscored methods, which only ever see operations the port accepted.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple
from typing import Protocol

Record = dict[str, Any]

# The table's key and index attributes as the cloud table names them (store/dynamodb.py takes them from
# here). Keys travel beside records, so no record attribute may take one of these names, on any adapter.
KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK")

# Value types are NamedTuples and slotted classes, not dataclasses: this module is on the cold path of
# every store-backed route, and defining ten dataclasses costs ~5 ms there (docs/PERFORMANCE.md).
# Adapters tell conditions apart with isinstance, never with ==.


class Key(NamedTuple):
    pk: str
    sk: str


class IndexKey(NamedTuple):
    """The GSI1 key of a record (the status index)."""

    pk: str
    sk: str


# --- conditions ------------------------------------------------------------------------------


class _Marker:
    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class Absent(_Marker):
    """The record does not exist (``attribute_not_exists(PK)``)."""

    __slots__ = ()


class Exists(_Marker):
    """The record exists (``attribute_exists(PK)``)."""

    __slots__ = ()


class AbsentOrExpired(NamedTuple):
    """The record does not exist, or its TTL attribute is below ``now`` (epoch seconds)."""

    now: int


class VersionIs(NamedTuple):
    """The record exists and its ``version`` attribute equals ``version``."""

    version: int


class AttributeIs(NamedTuple):
    """The record's attribute ``name`` equals ``value`` (a string or an integer, of the same type); with
    ``value`` None, the record lacks the attribute (or does not exist). A guard on a counter that writers
    add to: a write made from what was read holds only if no other write came between."""

    name: str
    value: int | str | None


Condition = Absent | AbsentOrExpired | Exists | VersionIs | AttributeIs
_CONDITIONS = (Absent, AbsentOrExpired, Exists, VersionIs, AttributeIs)


# --- writes ----------------------------------------------------------------------------------


class Put(NamedTuple):
    """Write a whole record (replacing any previous one)."""

    key: Key
    attrs: Record
    index_key: IndexKey | None = None
    condition: Condition | None = None


class _UpdateFields(NamedTuple):
    key: Key
    set: Record
    set_if_absent: Record
    add: dict[str, int]
    index_key: IndexKey | None
    condition: Condition | None
    returns: str
    add_to_set: dict[str, frozenset[str]]
    delete_from_set: dict[str, frozenset[str]]


class Update(_UpdateFields):
    """Change some attributes of a record and return it as it is afterwards (``returns="new"``) or as
    it was before, None when it did not exist (``returns="old"``; ``after`` derives the new one).

    ``set`` overwrites, ``set_if_absent`` writes only attributes the record lacks (so an Update
    without a condition is an upsert), ``add`` increments numbers (a missing one counts as 0).
    ``add_to_set`` puts strings in a string set (a missing one counts as empty), ``delete_from_set`` takes
    them out (absent ones are no error; the last one out removes the attribute, as DynamoDB does).
    ``index_key`` replaces the record's GSI1 key when given.
    """

    __slots__ = ()

    def __new__(
        cls,
        key: Key,
        set: Record | None = None,
        set_if_absent: Record | None = None,
        add: dict[str, int] | None = None,
        index_key: IndexKey | None = None,
        condition: Condition | None = None,
        returns: str = "new",
        add_to_set: Mapping[str, Iterable[str]] | None = None,
        delete_from_set: Mapping[str, Iterable[str]] | None = None,
    ) -> Update:
        if returns not in ("new", "old"):
            raise ValueError(f"returns must be 'new' or 'old', not {returns!r}")
        clauses = (set or {}, set_if_absent or {}, add or {})
        set_clauses = (_string_sets(add_to_set), _string_sets(delete_from_set))
        # DynamoDB refuses an attribute named in two clauses of one update; refusing it here, for
        # every adapter, keeps them alike.
        seen: builtins.set[str] = builtins.set()  # `set` is the clause here
        for names in (*clauses, *set_clauses):
            overlap = seen & names.keys()
            if overlap:
                raise ValueError(f"attributes in more than one update clause: {sorted(overlap)}")
            seen |= names.keys()
        return super().__new__(cls, key, *clauses, index_key, condition, returns, *set_clauses)

    def after(self, before: Record | None) -> Record:
        """The record this update makes of ``before`` (None: the record did not exist)."""
        record: Record = dict(before or {})
        record.update(self.set)
        for name, value in self.set_if_absent.items():
            record.setdefault(name, value)
        for name, amount in self.add.items():
            current = record.get(name, 0)
            if not isinstance(current, int) or isinstance(current, bool):
                raise ValueError(f"cannot add to {name!r}: it is not a number")
            record[name] = current + amount
        for name, strings in self.add_to_set.items():
            record[name] = sorted(_stored_set(record, name) | strings)
        for name, strings in self.delete_from_set.items():
            if name in record:
                remaining = _stored_set(record, name) - strings
                if remaining:
                    record[name] = sorted(remaining)
                else:
                    del record[name]
        return record

    def changes_something(self) -> bool:
        """Whether the update names anything to write (a transaction requires it)."""
        clauses = (self.set, self.set_if_absent, self.add, self.add_to_set, self.delete_from_set)
        return self.index_key is not None or any(clauses)


def _string_sets(clause: Mapping[str, Iterable[str]] | None) -> dict[str, frozenset[str]]:
    sets: dict[str, frozenset[str]] = {}
    for name, strings in (clause or {}).items():
        if isinstance(strings, str):
            raise TypeError(f"{name!r}: a set of strings, not one string")
        values = frozenset(strings)
        if not values or not all(isinstance(value, str) for value in values):
            # DynamoDB has no empty set, and a string set holds only strings.
            raise ValueError(f"{name!r}: at least one string, and only strings")
        sets[name] = values
    return sets


def _stored_set(record: Record, name: str) -> builtins.set[str]:
    current = record.get(name, [])
    if not isinstance(current, list) or not all(isinstance(value, str) for value in current):
        raise ValueError(f"{name!r} is not a string set")
    return builtins.set(current)


class Delete(NamedTuple):
    """Remove a record and return it as it was (None when it was absent and no condition said so)."""

    key: Key
    condition: Condition | None = None


class Page(NamedTuple):
    """One page of a query, newest (highest sort key) first. ``more`` is True when a later page exists."""

    records: list[Record]
    more: bool


class Store(Protocol):
    """What the domain needs from storage. One method call is one storage request."""

    # False: ``transact`` is refused (a programming error); the use-cases take their single-write paths.
    transactions: bool

    def get(self, key: Key) -> Record | None:
        """The record at ``key``, or None."""

    def query(self, partition: str, prefix: str, *, limit: int, index: bool = False, after: str | None = None) -> Page:
        """Records of ``partition`` whose sort key starts with ``prefix``, highest sort key first.

        With ``index`` the partition and sort keys are GSI1's. ``after`` is a sort key from an
        earlier page: only records whose sort key is below it are returned. At most ``limit``
        records; ``more`` tells whether another exists beyond them (still one request).
        """

    def put(self, op: Put) -> None: ...

    def update(self, op: Update) -> Record | None:
        """The record after the update, or before it with ``returns="old"`` (None: it did not exist)."""

    def delete(self, op: Delete) -> Record | None: ...

    def transact(self, ops: Sequence[Put | Update]) -> None:
        """Write all or nothing, each key at most once (only where ``transactions``). Every condition is
        judged against the state before the transaction; a failed one raises ConditionFailed with the index
        of its operation and the record it found there; contention with another transaction raises
        TransactionConflict.
        An Update here does what ``update`` does, returns nothing, and must change something."""

    def scan_partitions(self, prefix: str) -> Iterator[str]:
        """Each partition key that starts with ``prefix``, once. A full-table scan (many requests, reading
        every record): for the operator's commands only (``python -m chalicelib.ops``), off-peak, never
        on a route or a consumer."""
        ...

    def ensure_schema(self) -> None:
        """Create the table and indexes when missing (local endpoints only; never against AWS)."""


class BaseStore:
    """The Store port's checks, written once (a template method per operation): each public method
    refuses what no adapter may accept with ValueError or TypeError, before any storage request, then
    calls the adapter's underscored method. Subclasses implement only storage work."""

    __slots__ = ()

    # An adapter's constructor sets it (its ``transactions`` option); True unless told otherwise.
    transactions: bool = True

    def get(self, key: Key) -> Record | None:
        return self._get(key)

    def query(self, partition: str, prefix: str, *, limit: int, index: bool = False, after: str | None = None) -> Page:
        if limit < 0:
            raise ValueError("limit must not be negative")
        return self._query(partition, prefix, limit=limit, index=index, after=after)

    def put(self, op: Put) -> None:
        _check_put(op)
        self._put(op)

    def update(self, op: Update) -> Record | None:
        _check_update(op)
        return self._update(op)

    def delete(self, op: Delete) -> Record | None:
        _check_condition(op.condition)
        return self._delete(op)

    def transact(self, ops: Sequence[Put | Update]) -> None:
        if not self.transactions:
            raise RuntimeError("this store offers no transactions (TABLE_CONSISTENCY=strong): use single writes")
        if len({op.key for op in ops}) != len(ops):
            # DynamoDB rejects a transaction that touches one item twice; so does every adapter.
            raise ValueError("a transaction cannot include two operations on the same key")
        for op in ops:
            if isinstance(op, Update):
                _check_update(op)
                if not op.changes_something():
                    # DynamoDB requires an update expression inside a transaction; so does every adapter.
                    raise ValueError("an Update in a transaction must change something")
            else:
                _check_put(op)
        if ops:
            self._transact(ops)

    def scan_partitions(self, prefix: str) -> Iterator[str]:
        return self._scan_partitions(prefix)

    # --- what an adapter implements --------------------------------------------------------------

    def _get(self, key: Key) -> Record | None:
        raise NotImplementedError

    def _query(self, partition: str, prefix: str, *, limit: int, index: bool, after: str | None) -> Page:
        raise NotImplementedError

    def _put(self, op: Put) -> None:
        raise NotImplementedError

    def _update(self, op: Update) -> Record | None:
        raise NotImplementedError

    def _delete(self, op: Delete) -> Record | None:
        raise NotImplementedError

    def _transact(self, ops: Sequence[Put | Update]) -> None:
        """At least one operation, each key once, every Update changing something."""
        raise NotImplementedError

    def _scan_partitions(self, prefix: str) -> Iterator[str]:
        raise NotImplementedError

    def ensure_schema(self) -> None:
        raise NotImplementedError


def _check_condition(condition: Condition | None) -> None:
    if condition is not None and not isinstance(condition, _CONDITIONS):
        raise TypeError(f"unknown condition {condition!r}")
    if isinstance(condition, AttributeIs):
        if condition.name in KEY_ATTRIBUTES:
            raise ValueError(f"{condition.name!r} names a key attribute of the table, not a record attribute")
        value = condition.value
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | str)):
            raise TypeError(f"AttributeIs compares a string or an integer, not {type(value).__name__}")


def _check_names(names: Record) -> None:
    if not names.keys().isdisjoint(KEY_ATTRIBUTES):
        reserved = sorted(names.keys() & set(KEY_ATTRIBUTES))
        raise ValueError(f"{reserved} name key attributes of the table, not record attributes")


def _check_put(op: Put) -> None:
    _check_names(op.attrs)
    _check_condition(op.condition)


def _check_update(op: Update) -> None:
    for clause in (op.set, op.set_if_absent, op.add, op.add_to_set, op.delete_from_set):
        _check_names(clause)
    _check_condition(op.condition)
