"""The single-table store port: a small, DynamoDB-shaped set of operations every adapter implements.

Records are plain dicts of JSON-able attributes (str, int, bool, None, lists and dicts of those);
key and index attributes are passed beside them and never appear in what an adapter returns.
Every write may carry a Condition; when it does not hold the adapter raises
``errors.ConditionFailed(existing=<the stored record or None>)`` in the same single request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, Union

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Key:
    pk: str
    sk: str


@dataclass(frozen=True, slots=True)
class IndexKey:
    """The GSI1 key of a record (the status index)."""

    pk: str
    sk: str


# --- conditions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Absent:
    """The record does not exist (``attribute_not_exists(PK)``)."""


@dataclass(frozen=True, slots=True)
class AbsentOrExpired:
    """The record does not exist, or its TTL attribute is below ``now`` (epoch seconds)."""

    now: int


@dataclass(frozen=True, slots=True)
class Exists:
    """The record exists (``attribute_exists(PK)``)."""


@dataclass(frozen=True, slots=True)
class VersionIs:
    """The record exists and its ``version`` attribute equals ``version``."""

    version: int


Condition = Union[Absent, AbsentOrExpired, Exists, VersionIs]


# --- writes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Put:
    """Write a whole record (replacing any previous one)."""

    key: Key
    attrs: Record
    index: IndexKey | None = None
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """Change some attributes of a record and return it as it is afterwards.

    ``set`` overwrites, ``set_if_absent`` writes only attributes the record lacks (so an Update
    without a condition is an upsert), ``add`` increments numbers (a missing one counts as 0).
    ``index`` replaces the record's GSI1 key when given.
    """

    key: Key
    set: Record = field(default_factory=dict)
    set_if_absent: Record = field(default_factory=dict)
    add: dict[str, int] = field(default_factory=dict)
    index: IndexKey | None = None
    condition: Condition | None = None

    def __post_init__(self) -> None:
        # DynamoDB refuses an attribute named in two clauses of one update; refusing it here, for
        # every adapter, keeps them alike.
        seen: set[str] = set()
        for names in (self.set, self.set_if_absent, self.add):
            overlap = seen & names.keys()
            if overlap:
                raise ValueError(f"attributes in more than one update clause: {sorted(overlap)}")
            seen |= names.keys()


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove a record and return it as it was (None when it was absent and no condition said so)."""

    key: Key
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query, newest (highest sort key) first. ``more`` is True when a later page exists."""

    records: list[Record]
    more: bool


class Store(Protocol):
    """What the domain needs from storage. One method call is one storage request."""

    def get(self, key: Key) -> Record | None:
        """The record at ``key``, or None."""

    def query(self, partition: str, prefix: str, *, limit: int, index: bool = False,
              after: str | None = None) -> Page:
        """Records of ``partition`` whose sort key starts with ``prefix``, highest sort key first.

        With ``index`` the partition and sort keys are GSI1's. ``after`` is a sort key from an
        earlier page: only records whose sort key is below it are returned. At most ``limit``
        records; ``more`` tells whether another exists beyond them (still one request).
        """

    def put(self, op: Put) -> None:
        ...

    def update(self, op: Update) -> Record:
        ...

    def delete(self, op: Delete) -> Record | None:
        ...

    def transact(self, ops: Sequence[Put]) -> None:
        """Write all or nothing. A failed condition raises ConditionFailed with the index of the
        operation whose condition failed and the record it found there; contention with another
        transaction raises TransactionConflict."""

    def ensure_schema(self) -> None:
        """Create the table and indexes when missing (local endpoints only; never against AWS)."""
