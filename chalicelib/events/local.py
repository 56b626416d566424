"""The embedded activity queue: durable messages in a SQLite file and a worker thread that delivers them
to the consumers in Lambda SQS batches, with SQS's visibility, retry and dead-letter semantics."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

from chalicelib.errors import QueueUnavailable
from chalicelib.events.base import ACTIVITY
from chalicelib.events.base import DEAD_LETTERS
from chalicelib.events.base import Handler
from chalicelib.events.base import lambda_record
from chalicelib.events.worker import Worker
from chalicelib.events.worker import where
from chalicelib.sqlite_pool import SQLitePool

log = logging.getLogger("tasks.events")

MAX_IDLE_CONNECTIONS = 4
# Longest wait before a failed message is offered again, however often it has failed.
MAX_RETRY_DELAY_SECONDS = 30.0
# Pause after an unexpected error in the worker loop, so a persistent fault does not spin.
ERROR_PAUSE_SECONDS = 1.0
QUEUE_ARN_PREFIX = "arn:aws:sqs:local:000000000000:"
WORKER_THREAD_NAME = "local-queue-worker"
QUEUES = (ACTIVITY, DEAD_LETTERS)

_SCHEMA = (
    # A table name of its own, so the queue may share a file with the store.
    """CREATE TABLE IF NOT EXISTS queue_messages (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        body TEXT NOT NULL,
        attributes TEXT NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        sent_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        first_received_at INTEGER,
        receipt TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at)",
)


class _Claimed(NamedTuple):
    id: str
    body: str
    attributes: str
    receive_count: int
    sent_at: int
    first_received_at: int
    receipt: str


class LocalQueue:
    """The queue port on one SQLite file; safe to share between threads, and between processes (each
    claim is a write transaction, so no two workers ever hold the same message at once)."""

    def __init__(
        self,
        path: str,
        handlers: Mapping[str, Handler],
        *,
        max_receives: int = 5,
        batch_size: int = 10,
        visibility_timeout: float = 30.0,
        retry_delay: float = 1.0,
        poll_interval: float = 0.5,
    ) -> None:
        unknown = set(handlers) - set(QUEUES)
        if unknown:
            raise ValueError(f"no such queue: {', '.join(sorted(unknown))}")
        if max_receives < 1 or batch_size < 1:
            raise ValueError("max_receives and batch_size must be at least 1")
        self.path = path
        self.handlers = dict(handlers)
        self.max_receives = max_receives
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.retry_delay = retry_delay
        self.poll_interval = poll_interval
        # make_dirs: the directory is created on first use, so building the queue never touches the disk.
        self._pool = SQLitePool(path, _SCHEMA, make_dirs=True, max_idle=MAX_IDLE_CONNECTIONS)
        self.worker = Worker(WORKER_THREAD_NAME, self._work_once, pause=ERROR_PAUSE_SECONDS)

    # --- the port ------------------------------------------------------------------------------

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        message_id = str(uuid.uuid4())
        now = _now_ms()
        try:
            with self._pool.transaction() as conn:
                conn.execute(
                    "INSERT INTO queue_messages (id, queue, body, attributes, sent_at, visible_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (message_id, ACTIVITY, body, json.dumps(dict(attributes)), now, now),
                )
        except (sqlite3.Error, OSError) as exc:
            raise QueueUnavailable("the local activity queue could not take the message") from exc
        self.worker.start()
        self.worker.wake()
        return message_id

    # --- control (tests, the local server) -----------------------------------------------------

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every message that can be delivered has been (nothing left in the activity
        queue, nor in the dead-letter queue when it has a handler); False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        queues = [name for name in QUEUES if name == ACTIVITY or name in self.handlers]
        self.worker.start()
        self.worker.wake()
        while True:
            if self._count(queues) == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(0.01, remaining))

    def pending(self, queue: str = ACTIVITY) -> int:
        """How many messages the queue still stores (visible, in flight or waiting to be retried)."""
        return self._count([queue])

    def close(self) -> None:
        """Stop the worker (after its current batch) and close the connections; idempotent. The queue
        stays usable: the next send or drain starts a worker again."""
        self.worker.close()
        self._pool.close()

    # --- the worker ----------------------------------------------------------------------------

    def _work_once(self) -> float:
        """Deliver one batch of each queue that has a handler; return how long to wait before looking
        again (0: there may be more right now)."""
        worked = False
        for queue in QUEUES:
            handler = self.handlers.get(queue)
            if handler is None:
                continue
            moved, batch = self._claim(queue)
            if moved or batch:
                worked = True
            if batch:
                self._deliver(queue, handler, batch)
        return 0.0 if worked else self._until_next_visible()

    def _claim(self, queue: str) -> tuple[int, list[_Claimed]]:
        now = _now_ms()
        with self._pool.transaction() as conn:
            moved = 0
            if queue == ACTIVITY:
                # SQS's redrive policy: a message received max_receives times goes to the dead-letter
                # queue (same id, body and attributes) instead of being delivered again.
                exhausted = [
                    row[0]
                    for row in conn.execute(
                        "SELECT id FROM queue_messages WHERE queue = ? AND visible_at <= ? AND receive_count >= ?",
                        (ACTIVITY, now, self.max_receives),
                    )
                ]
                if exhausted:
                    conn.executemany(
                        "UPDATE queue_messages SET queue = ?, receive_count = 0, visible_at = ?, "
                        "first_received_at = NULL, receipt = NULL WHERE id = ?",
                        [(DEAD_LETTERS, now, message_id) for message_id in exhausted],
                    )
                    moved = len(exhausted)
                    log.warning(
                        "moved %d message(s) to the dead-letter queue after %d receives",
                        moved,
                        self.max_receives,
                        extra={"queue": ACTIVITY, "message_ids": exhausted},
                    )
            rows = conn.execute(
                "SELECT id, body, attributes, receive_count, sent_at, first_received_at FROM queue_messages "
                "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, rowid LIMIT ?",
                (queue, now, self.batch_size),
            ).fetchall()
            # Invisible until the visibility timeout: a worker that dies mid-batch gives them back.
            hidden_until = now + int(self.visibility_timeout * 1000)
            batch = []
            for message_id, body, attributes, receive_count, sent_at, first_received_at in rows:
                claimed = _Claimed(
                    message_id,
                    body,
                    attributes,
                    receive_count + 1,
                    sent_at,
                    now if first_received_at is None else first_received_at,
                    uuid.uuid4().hex,
                )
                conn.execute(
                    "UPDATE queue_messages SET receive_count = ?, visible_at = ?, first_received_at = ?, "
                    "receipt = ? WHERE id = ?",
                    (claimed.receive_count, hidden_until, claimed.first_received_at, claimed.receipt, message_id),
                )
                batch.append(claimed)
        return moved, batch

    def _deliver(self, queue: str, handler: Handler, batch: list[_Claimed]) -> None:
        arn = QUEUE_ARN_PREFIX + queue
        event = {
            "Records": [
                lambda_record(
                    m.id,
                    m.body,
                    json.loads(m.attributes),
                    m.receive_count,
                    m.sent_at,
                    arn,
                    m.receipt,
                    first_received_ms=m.first_received_at,
                )
                for m in batch
            ]
        }
        ids = [m.id for m in batch]
        try:
            response = handler(event)
        except Exception as exc:
            # Type and place only: an exception's text may quote the message body (user data).
            log.warning(
                "%s handler raised %s; the whole batch of %d will be retried",
                queue,
                type(exc).__name__,
                len(batch),
                extra={"queue": queue, "message_ids": ids, "error_type": type(exc).__name__, "where": where(exc)},
            )
            failed = set(ids)
        else:
            failed = self._failures(queue, response, ids)
        self._settle(batch, failed)

    def _failures(self, queue: str, response: Any, ids: list[str]) -> set[str]:
        """The ids a partial batch response reports as failed; all of them when it is malformed, as
        Lambda treats a response it cannot read as a failure of the whole batch."""
        if response is None:
            return set()
        items = response.get("batchItemFailures") if isinstance(response, Mapping) else response
        if items is None:  # {} or {"batchItemFailures": None}: a complete success, as in Lambda
            return set()
        if not isinstance(items, list) or not all(
            isinstance(item, Mapping) and isinstance(item.get("itemIdentifier"), str) and item["itemIdentifier"]
            for item in items
        ):
            log.warning(
                "%s handler returned a malformed batch response; the whole batch of %d will be retried",
                queue,
                len(ids),
                extra={"queue": queue, "message_ids": ids},
            )
            return set(ids)
        reported = {item["itemIdentifier"] for item in items}
        unknown = reported.difference(ids)
        if unknown:
            # Lambda fails the whole batch when a reported id is not in it ("an itemIdentifier value with
            # a message ID that doesn't exist"), so a handler bug retries rather than loses messages.
            log.warning(
                "%s handler reported %d failure(s) for messages not in its batch; the whole batch of "
                "%d will be retried",
                queue,
                len(unknown),
                len(ids),
                extra={"queue": queue, "message_ids": sorted(unknown)},
            )
            return set(ids)
        return reported

    def _settle(self, batch: list[_Claimed], failed: set[str]) -> None:
        now = _now_ms()
        with self._pool.transaction() as conn:
            for message in batch:
                # The receipt guards against settling a message another worker has claimed since
                # (after our visibility timeout ran out), exactly like an SQS receipt handle.
                if message.id in failed:
                    delay = min(MAX_RETRY_DELAY_SECONDS, self.retry_delay * 2 ** (message.receive_count - 1))
                    conn.execute(
                        "UPDATE queue_messages SET visible_at = ?, receipt = NULL WHERE id = ? AND receipt = ?",
                        (now + int(delay * 1000), message.id, message.receipt),
                    )
                else:
                    conn.execute(
                        "DELETE FROM queue_messages WHERE id = ? AND receipt = ?", (message.id, message.receipt)
                    )

    def _until_next_visible(self) -> float:
        queues = [name for name in QUEUES if name in self.handlers]
        if not queues:
            return self.poll_interval
        marks = ",".join("?" * len(queues))
        with self._pool.connection() as conn:
            (earliest,) = conn.execute(
                f"SELECT MIN(visible_at) FROM queue_messages WHERE queue IN ({marks})", queues
            ).fetchone()
        if earliest is None:
            return self.poll_interval
        # Never longer than the poll interval: another process may send without waking us.
        return min(self.poll_interval, max(0.0, (earliest - _now_ms()) / 1000))

    def _count(self, queues: list[str]) -> int:
        marks = ",".join("?" * len(queues))
        try:
            with self._pool.connection() as conn:
                (count,) = conn.execute(
                    f"SELECT COUNT(*) FROM queue_messages WHERE queue IN ({marks})", queues
                ).fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise QueueUnavailable("the local activity queue could not be read") from exc
        return count


def _now_ms() -> int:
    return int(time.time() * 1000)
