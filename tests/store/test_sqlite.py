"""What only the SQLite adapter can show: query plans, files, processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from chalicelib.store.base import Key
from chalicelib.store.base import Put
from tests.support.store import item
from tests.support.store import put_items
from tests.support.store import status


@pytest.mark.parametrize("index", [False, True], ids=["table", "index"])
@pytest.mark.parametrize("after", [None, "ITEM#0005"], ids=["first-page", "after"])
def test_sqlite_queries_search_a_key_range_instead_of_scanning(sqlite_store, pk, index, after):
    put_items(sqlite_store, pk, 30, index_status="open")
    partition = status(pk, "open") if index else pk

    plan = " | ".join(sqlite_store.query_plan(partition, "ITEM#", limit=10, index=index, after=after))

    used = (
        "USING INDEX records_gsi1 (gsi1pk=? AND gsi1sk>? AND gsi1sk<?)"
        if index
        else "USING PRIMARY KEY (pk=? AND sk>? AND sk<?)"
    )
    assert plan == f"SEARCH records {used}"  # no SCAN, no temporary B-tree for the ORDER BY


def test_sqlite_store_creates_parent_directories_and_uses_wal(tmp_path):
    import sqlite3

    from chalicelib.store.sqlite import SQLiteStore

    path = tmp_path / "a" / "b" / "store.db"
    store = SQLiteStore(str(path))
    store.ensure_schema()
    store.ensure_schema()
    store.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sqlite_stores_on_one_file_share_their_records(tmp_path, pk):
    from chalicelib.store.sqlite import SQLiteStore

    first, second = SQLiteStore(str(tmp_path / "s.db")), SQLiteStore(str(tmp_path / "s.db"))
    first.put(Put(item(pk, 1), {"n": 1}))
    assert second.get(item(pk, 1)) == {"n": 1}
    first.close()
    second.close()


WRITER = """
import sys
from chalicelib.store.base import Key, Update
from chalicelib.store.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
for _ in range(25):
    store.update(Update(Key("P", "STATS"), add={"count": 1}))
store.close()
"""


def test_sqlite_writers_in_separate_processes_wait_for_each_other(tmp_path):
    from chalicelib.store.sqlite import SQLiteStore

    path = str(tmp_path / "shared.db")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, path], cwd=root) for _ in range(4)]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0, 0, 0]

    store = SQLiteStore(path)
    assert store.get(Key("P", "STATS")) == {"count": 100}
    store.close()


class _LockedAtFirst:
    """A connection whose journal-mode switch meets another process opening the same new file."""

    def __init__(self, failures: int, message: str = "database is locked") -> None:
        self.failures, self.message, self.switched = failures, message, False

    def execute(self, sql: str):
        if sql == "PRAGMA journal_mode = WAL":
            if self.failures:
                self.failures -= 1
                raise sqlite3.OperationalError(self.message)
            self.switched = True
        return self

    def fetchone(self):
        return ("delete",)


def test_switching_a_new_file_to_wal_waits_while_another_process_holds_it():
    from chalicelib.sqlite_pool import _use_wal

    conn = _LockedAtFirst(failures=3)
    _use_wal(conn)
    assert conn.switched


def test_switching_to_wal_does_not_retry_other_errors():
    from chalicelib.sqlite_pool import _use_wal

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _use_wal(_LockedAtFirst(failures=1, message="disk I/O error"))
