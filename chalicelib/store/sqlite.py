"""The embedded store adapter: the single-table port on a SQLite file, with DynamoDB's conditional
semantics, so local runs behave like the cloud (one table keyed (pk, sk), a sparse GSI1 index).

Like a DynamoDB stream with new and old images, it can log each write of the records it is told to
capture, in the same SQLite transaction as the write (``changes``/``forget_changes`` read and trim that
log): the local half of the transactional outbox (chalicelib/tasks/outbox.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

from chalicelib.errors import ConditionFailed
from chalicelib.errors import StoreUnavailable
from chalicelib.keys import TTL_ATTRIBUTE
from chalicelib.sqlite_pool import SQLitePool
from chalicelib.store.base import Absent
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import AttributeIs
from chalicelib.store.base import BaseStore
from chalicelib.store.base import Condition
from chalicelib.store.base import Delete
from chalicelib.store.base import Exists
from chalicelib.store.base import Key
from chalicelib.store.base import Page
from chalicelib.store.base import Put
from chalicelib.store.base import Record
from chalicelib.store.base import Update

# Connections kept open for reuse; a burst beyond this opens (and then closes) extra ones.
MAX_IDLE_CONNECTIONS = 8

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS records (
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        gsi1pk TEXT,
        gsi1sk TEXT,
        expires_at INTEGER,
        data TEXT NOT NULL,
        PRIMARY KEY (pk, sk)
    ) WITHOUT ROWID""",
    # Partial, like a sparse GSI: records without an index key cost the index nothing.
    "CREATE INDEX IF NOT EXISTS records_gsi1 ON records (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL",
    # The change log (the stream): AUTOINCREMENT, so a sequence number is never reused once forgotten.
    """CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        old TEXT,
        new TEXT,
        at_ms INTEGER NOT NULL
    )""",
)

_UPSERT = "INSERT OR REPLACE INTO records (pk, sk, gsi1pk, gsi1sk, expires_at, data) VALUES (?, ?, ?, ?, ?, ?)"

_MISSING: Any = object()

# SQLite primary result codes that mean "the database is busy or unreachable", not "our SQL is wrong".
_UNAVAILABLE_CODES = {
    5: "SQLITE_BUSY",
    6: "SQLITE_LOCKED",
    8: "SQLITE_READONLY",
    10: "SQLITE_IOERR",
    13: "SQLITE_FULL",
    14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL",
}


class _Row:
    __slots__ = ("record", "expires_at", "gsi1pk", "gsi1sk")

    def __init__(self, data: str, expires_at: int | None, gsi1pk: str | None, gsi1sk: str | None) -> None:
        self.record: Record = json.loads(data)
        self.expires_at = expires_at
        self.gsi1pk = gsi1pk
        self.gsi1sk = gsi1sk


class LoggedChange(NamedTuple):
    """One write of a captured record: its sequence number in the log, key, images either side (None:
    absent) and when it committed (epoch seconds)."""

    seq: int
    key: Key
    old: Record | None
    new: Record | None
    at: float


class SQLiteStore(BaseStore):
    """The store port on one SQLite file; safe to share between threads and processes. ``capture`` tells
    which records' writes to log (None: none)."""

    def __init__(self, path: str, *, capture: Callable[[Key], bool] | None = None, transactions: bool = True) -> None:
        self.path = path
        # False: refuse ``transact``, as a DynamoDB table in multi-Region strong consistency does.
        self.transactions = transactions
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._pool = SQLitePool(path, _SCHEMA, max_idle=MAX_IDLE_CONNECTIONS)
        self._capture = capture

    # --- reads ---------------------------------------------------------------------------------

    def _get(self, key: Key) -> Record | None:
        with self._translated(), self._pool.connection() as conn:
            row = _read(conn, key)
        return None if row is None else row.record

    def _query(self, partition: str, prefix: str, *, limit: int, index: bool, after: str | None) -> Page:
        sql, params = _query_sql(partition, prefix, limit=limit, index=index, after=after)
        with self._translated(), self._pool.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        records = [json.loads(data) for (data,) in rows]
        return Page(records[:limit], more=len(records) > limit)

    def query_plan(
        self, partition: str, prefix: str, *, limit: int, index: bool = False, after: str | None = None
    ) -> list[str]:
        """SQLite's EXPLAIN QUERY PLAN for the statement ``query`` runs with these arguments."""
        sql, params = _query_sql(partition, prefix, limit=limit, index=index, after=after)
        with self._translated(), self._pool.connection() as conn:
            return [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]

    # --- writes --------------------------------------------------------------------------------

    def _put(self, op: Put) -> None:
        with self._translated(), self._pool.transaction() as conn:
            logged = self._logged(op.key)
            row = _read(conn, op.key) if op.condition is not None or logged else None
            if op.condition is not None:
                _check(op.condition, row)
            _write_put(conn, op)
            if logged:
                _log(conn, op.key, row, op.attrs)

    def _update(self, op: Update) -> Record | None:
        with self._translated(), self._pool.transaction() as conn:
            row = _read(conn, op.key)
            if op.condition is not None:
                _check(op.condition, row)
            record = _write_update(conn, op, row)
            if self._logged(op.key):
                _log(conn, op.key, row, record)
        if op.returns == "old":
            return None if row is None else row.record
        return record

    def _delete(self, op: Delete) -> Record | None:
        with self._translated(), self._pool.transaction() as conn:
            row = _read(conn, op.key)
            if op.condition is not None:
                _check(op.condition, row)
            if row is None:
                return None
            conn.execute("DELETE FROM records WHERE pk = ? AND sk = ?", (op.key.pk, op.key.sk))
            if self._logged(op.key):
                _log(conn, op.key, row, None)
        return row.record

    def _transact(self, ops: Sequence[Put | Update]) -> None:
        with self._translated(), self._pool.transaction() as conn:
            # Every condition is judged against the state before the transaction, as in DynamoDB
            # (no key appears twice, so each update also starts from that state).
            rows = [_read(conn, op.key) for op in ops]
            for position, (op, row) in enumerate(zip(ops, rows)):
                if op.condition is not None:
                    _check(op.condition, row, index=position)
            for op, row in zip(ops, rows):
                record = _write_update(conn, op, row) if isinstance(op, Update) else _write_put(conn, op)
                if self._logged(op.key):
                    _log(conn, op.key, row, record)

    # --- the change log ------------------------------------------------------------------------

    def changes(self, limit: int) -> list[LoggedChange]:
        """The oldest ``limit`` logged changes not yet forgotten, in commit order."""
        with self._translated(), self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT seq, pk, sk, old, new, at_ms FROM changes ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [
            LoggedChange(seq, Key(pk, sk), _loads(old), _loads(new), at_ms / 1000)
            for seq, pk, sk, old, new, at_ms in rows
        ]

    def forget_changes(self, through: int) -> None:
        """Drop the logged changes up to sequence number ``through`` (they were delivered)."""
        with self._translated(), self._pool.transaction() as conn:
            conn.execute("DELETE FROM changes WHERE seq <= ?", (through,))

    def _logged(self, key: Key) -> bool:
        return self._capture is not None and self._capture(key)

    def _scan_partitions(self, prefix: str) -> Iterator[str]:
        where, params = "pk >= ?", [prefix]
        upper = _prefix_upper_bound(prefix)
        if upper is not None:
            where += " AND pk < ?"
            params.append(upper)
        with self._translated(), self._pool.connection() as conn:
            rows = conn.execute(f"SELECT DISTINCT pk FROM records WHERE {where} ORDER BY pk", params).fetchall()
        return iter([pk for (pk,) in rows])

    # --- schema and connections ----------------------------------------------------------------

    def ensure_schema(self) -> None:
        with self._translated(), self._pool.connection():
            pass  # the first connection creates the schema

    def close(self) -> None:
        """Close the idle connections (the store stays usable; it reopens on demand)."""
        self._pool.close()

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            busy = code is not None and (code & 0xFF) in _UNAVAILABLE_CODES
            if busy or "locked" in str(exc) or "busy" in str(exc):
                raise StoreUnavailable("the database is busy; retry the request") from exc
            raise


# --- helpers ---------------------------------------------------------------------------------


def _query_sql(
    partition: str, prefix: str, *, limit: int, index: bool, after: str | None
) -> tuple[str, tuple[Any, ...]]:
    pk, sk = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
    where, params = [f"{pk} = ?"], [partition]
    if prefix:
        where.append(f"{sk} >= ?")
        params.append(prefix)
    upper = _prefix_upper_bound(prefix)
    if after is not None and (upper is None or after < upper):
        upper = after
    if upper is not None:
        where.append(f"{sk} < ?")
        params.append(upper)
    # Only bounds on key columns (never a filter on the JSON): SQLite reads at most limit+1 rows of
    # the primary key or the index, however large the partition is.
    sql = f"SELECT data FROM records WHERE {' AND '.join(where)} ORDER BY {sk} DESC LIMIT ?"
    return sql, (*params, limit + 1)


def _read(conn: sqlite3.Connection, key: Key) -> _Row | None:
    found = conn.execute(
        "SELECT data, expires_at, gsi1pk, gsi1sk FROM records WHERE pk = ? AND sk = ?", (key.pk, key.sk)
    ).fetchone()
    return None if found is None else _Row(*found)


def _write(conn: sqlite3.Connection, key: Key, record: Record, gsi1pk: str | None, gsi1sk: str | None) -> None:
    expires_at = record.get(TTL_ATTRIBUTE)
    # Like DynamoDB's TTL, only a number counts as an expiry time.
    ttl = expires_at if _is_int(expires_at) else None
    data = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    conn.execute(_UPSERT, (key.pk, key.sk, gsi1pk, gsi1sk, ttl, data))


def _write_put(conn: sqlite3.Connection, op: Put) -> Record:
    index = op.index_key
    _write(conn, op.key, op.attrs, index.pk if index else None, index.sk if index else None)
    return op.attrs


def _log(conn: sqlite3.Connection, key: Key, old: _Row | Record | None, new: Record | None) -> None:
    before = old.record if isinstance(old, _Row) else old
    conn.execute(
        "INSERT INTO changes (pk, sk, old, new, at_ms) VALUES (?, ?, ?, ?, ?)",
        (key.pk, key.sk, _dumps(before), _dumps(new), int(time.time() * 1000)),
    )


def _dumps(record: Record | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _loads(data: str | None) -> Record | None:
    return None if data is None else json.loads(data)


def _write_update(conn: sqlite3.Connection, op: Update, row: _Row | None) -> Record:
    record = op.after(None if row is None else row.record)
    gsi1pk: str | None
    gsi1sk: str | None
    if op.index_key is not None:
        gsi1pk, gsi1sk = op.index_key.pk, op.index_key.sk
    else:
        gsi1pk, gsi1sk = (row.gsi1pk, row.gsi1sk) if row else (None, None)
    _write(conn, op.key, record, gsi1pk, gsi1sk)
    return record


def _check(condition: Condition, row: _Row | None, *, index: int = 0) -> None:
    if isinstance(condition, Absent):
        holds = row is None
    elif isinstance(condition, AbsentOrExpired):
        holds = row is None or (row.expires_at is not None and row.expires_at < condition.now)
    elif isinstance(condition, Exists):
        holds = row is not None
    elif isinstance(condition, AttributeIs):
        current = row.record.get(condition.name, _MISSING) if row else _MISSING
        if condition.value is None:
            holds = current is _MISSING
        else:  # of the same type, as DynamoDB compares: 1 is neither "1" nor true
            holds = type(current) is type(condition.value) and current == condition.value
    else:  # VersionIs (the port refused any other condition)
        version = row.record.get("version") if row else None
        holds = _is_int(version) and version == condition.version
    if not holds:
        raise ConditionFailed(existing=None if row is None else row.record, index=index)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: no bound).

    SQLite compares TEXT bytewise (UTF-8), which orders like code points, so bumping the last code
    point gives a tight exclusive bound and the query stays a range on the key.
    """
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if 0xD800 <= point <= 0xDFFF:  # surrogates cannot be encoded; skip to the next scalar value
            point = 0xE000
        if point <= 0x10FFFF:
            return "".join(chars) + chr(point)
    return None
