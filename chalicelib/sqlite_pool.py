"""Connections to one SQLite file for the embedded adapters (store, local queue): a small idle pool,
WAL, a busy timeout, write transactions that take the write lock up front, and the schema made once."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence

BUSY_TIMEOUT_SECONDS = 5.0


class SQLitePool:
    """Connections to ``path``, safe to share between threads (and processes, through SQLite's locks).

    The first connection runs ``schema`` (idempotent statements: ``CREATE ... IF NOT EXISTS``) once per
    pool. ``make_dirs`` creates the file's directory when a connection is opened, not here: building a
    pool never touches the disk. Up to ``max_idle`` connections are kept for reuse; a burst beyond that
    opens (and then closes) extra ones."""

    def __init__(self, path: str, schema: Sequence[str], *, make_dirs: bool = False, max_idle: int = 8) -> None:
        self.path = path
        self.schema = tuple(schema)
        self.make_dirs = make_dirs
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._schema_ready = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode, back to the pool afterwards (never with a transaction open)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            self._release(conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT around the block; ROLLBACK when it raises."""
        with self.connection() as conn:
            # IMMEDIATE: the write lock is taken before the block reads, so a check and the write that
            # depends on it see the same state (no other writer can slip in between).
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # some errors (SQLITE_FULL, ...) have rolled back already
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the idle connections (the pool stays usable; it reopens on demand)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        if self.make_dirs:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see transaction); timeout is SQLite's
        # busy_timeout, so contending writers wait their turn instead of failing at once.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            # In WAL mode NORMAL never corrupts the file; a power cut may lose the last commits,
            # an acceptable trade for embedded local state.
            conn.execute("PRAGMA synchronous = NORMAL")
            if not self._schema_ready:
                self._create_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if self._schema_ready:
                return
            _use_wal(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in self.schema:
                    conn.execute(statement)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self._schema_ready = True

    def _release(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:  # a failed COMMIT leaves one open; never hand it to the next caller
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            conn.close()
            return
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it persists in the file: readers never block the writer, nor it them).

    Switching needs the file to itself, and SQLite answers "database is locked" at once, without its
    busy handler, when another process is opening the same new file: so wait our turn here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
