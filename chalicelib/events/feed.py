"""The embedded change feed: delivers the SQLite store's change log to the forwarder in Lambda DynamoDB
Streams batches, as Lambda's event source mapping does deployed: in commit order, a batch at a time, each
batch retried from its first failed record (partial batch response) until it succeeds."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from typing import Protocol

from chalicelib.events.base import TABLE_STREAM
from chalicelib.events.base import Handler
from chalicelib.events.stream import lambda_record
from chalicelib.events.stream import sequence_of
from chalicelib.events.worker import Worker

log = logging.getLogger("tasks.events")

WORKER_THREAD_NAME = "local-change-feed"
MAX_RETRY_DELAY_SECONDS = 30.0


class ChangeLog(Protocol):
    """What the feed reads: the SQLite store's change log (chalicelib/store/sqlite.py)."""

    def changes(self, limit: int) -> list[Any]: ...

    def forget_changes(self, through: int) -> None: ...


class LocalFeed:
    """Forwards each logged change at least once; a change is forgotten only after the forwarder took it."""

    def __init__(
        self,
        log_: ChangeLog,
        handler: Handler,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.1,
        retry_delay: float = 0.5,
    ) -> None:
        self._log = log_
        self._handler = handler
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.worker = Worker(WORKER_THREAD_NAME, self.forward_once, pause=retry_delay)
        self._failures = 0

    def start(self) -> None:
        self.worker.start()

    def pending(self) -> int:
        """How many logged changes wait to be forwarded (up to one batch's worth)."""
        return len(self._log.changes(self.batch_size))

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every logged change has been forwarded; False if ``timeout`` passed first. Whoever
        waits hurries the worker: each look wakes it, cutting a retry's backoff short."""
        deadline = time.monotonic() + timeout
        self.start()
        while True:
            self.worker.wake()
            if not self.pending():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def close(self) -> None:
        """Stop the worker after its current batch; the log keeps what was not forwarded."""
        self.worker.close()

    def forward_once(self) -> float:
        """Forward one batch; how long to wait before the next (0: there may be more now)."""
        changes = self._log.changes(self.batch_size)
        if not changes:
            return self.poll_interval
        records = [lambda_record(c.key, c.old, c.new, c.at, str(c.seq), TABLE_STREAM) for c in changes]
        try:
            response = self._handler({"Records": records})
        except Exception as exc:
            log.warning("the forwarder raised %s; its batch of %d will be retried", type(exc).__name__, len(records))
            return self._backoff()
        failed = _first_failure(response, records)
        delivered = changes if failed is None else changes[:failed]
        if delivered:
            self._log.forget_changes(delivered[-1].seq)
            self._failures = 0  # progress: the backoff starts over
        return 0.0 if failed is None else self._backoff()

    def _backoff(self) -> float:
        self._failures += 1
        return min(MAX_RETRY_DELAY_SECONDS, self.retry_delay * 2 ** (self._failures - 1))


def _first_failure(response: Any, records: list[dict[str, Any]]) -> int | None:
    """The position of the first record a partial batch response reports (Lambda resumes there); all of
    them (0) when the response cannot be read, as Lambda retries the whole batch then."""
    if response is None:
        return None
    items = response.get("batchItemFailures") if isinstance(response, Mapping) else None
    if not items:
        return None
    positions = {sequence_of(record): n for n, record in enumerate(records)}
    try:
        return min(positions[item["itemIdentifier"]] for item in items)
    except (KeyError, TypeError):
        return 0
