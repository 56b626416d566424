"""Dead letters: the activity messages the queue gave up on, kept in the table for 14 days with why they
failed, so an operator can inspect them and, once the cause is fixed, replay them into the activity queue
(``python -m chalicelib.ops dead-letters``; docs/OPERATIONS.md). A replay is safe because the activity
consumer applies each event once, however often it arrives.

Two records (keys.py): the activity consumer notes each failure of a message under its message id (the
first and the last reason, and how many), and the dead-letter consumer keeps the message itself, those
reasons with it, before it lets the queue delete it.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from chalicelib import keys
from chalicelib.events.base import Queue
from chalicelib.store.base import Delete
from chalicelib.store.base import Put
from chalicelib.store.base import Record
from chalicelib.store.base import Store
from chalicelib.store.base import Update
from chalicelib.tasks.clock import Clock
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.clock import system_clock

# SQS keeps a message at most 14 days; a dead letter is kept as long, and so is why a message failed (it
# may take that long to be dead-lettered).
DEAD_LETTER_TTL_SECONDS = 14 * 24 * 3600
# Dead letters read per query while listing them.
PAGE_SIZE = 100


class DeadLetters:
    """The dead letters in the store: noting failures, keeping messages, listing, replaying, discarding."""

    def __init__(self, store: Store, clock: Clock = system_clock) -> None:
        self._store = store
        self._clock = clock

    def note_failure(self, message_id: str, reason: str) -> None:
        """Remember why the activity consumer failed a message: one write (the first reason is kept, the
        last replaced, the failures counted). ``reason`` names an error code or an exception type, never
        text that could quote the message."""
        now = self._clock()
        self._store.update(
            Update(
                keys.failure_key(message_id),
                set={"last_failure": reason, "last_failed_at": rfc3339(now), keys.TTL_ATTRIBUTE: _ttl(now)},
                set_if_absent={"first_failure": reason, "first_failed_at": rfc3339(now)},
                add={"failures": 1},
            )
        )

    def keep(self, message_id: str, body: str, attributes: Mapping[str, str], receive_count: int | None) -> Record:
        """Store a dead-lettered message with why it failed (one read of its failure record, one write);
        kept again as it is when the queue delivers it twice. Returns what was stored."""
        now = self._clock()
        failure = self._store.get(keys.failure_key(message_id)) or {}
        record: Record = {
            "message_id": message_id,
            "body": body,
            "attributes": dict(attributes),
            "receive_count": receive_count,
            "failures": failure.get("failures"),
            "first_failure": failure.get("first_failure"),
            "first_failed_at": failure.get("first_failed_at"),
            "last_failure": failure.get("last_failure"),
            "last_failed_at": failure.get("last_failed_at"),
            "dead_lettered_at": rfc3339(now),
            # Whose event it is, when the body says (a rebuild of their STATS waits for its replay).
            "sub": _sub_of(body),
            keys.TTL_ATTRIBUTE: _ttl(now),
        }
        self._store.put(Put(keys.dead_letter_key(message_id), record))
        return record

    def get(self, message_id: str) -> Record | None:
        return self._store.get(keys.dead_letter_key(message_id))

    def list(self) -> Iterator[Record]:
        """Every dead letter kept (one query per PAGE_SIZE), in message id order, newest id first."""
        after: str | None = None
        while True:
            page = self._store.query(keys.DEAD_LETTERS, "", limit=PAGE_SIZE, after=after)
            yield from page.records
            if not page.more or not page.records:
                return
            after = keys.dead_letter_key(page.records[-1]["message_id"]).sk

    def of_user(self, sub: str) -> builtins.list[Record]:  # `list` is the method here
        """The dead letters of one user's events (reads them all: they are few)."""
        return [record for record in self.list() if record.get("sub") == sub]

    def replay(self, message_id: str, queue: Queue) -> str | None:
        """Send a kept message back into the activity queue (its body and attributes as they were), then
        forget it; the new message's id, or None when no such dead letter is kept. Forgotten only once
        the queue has taken it: if the delete fails, a second replay sends it again, which the
        activity consumer ignores (it applies each event once)."""
        record = self.get(message_id)
        if record is None:
            return None
        sent = queue.send(record["body"], record.get("attributes") or {})
        self._store.delete(Delete(keys.dead_letter_key(message_id)))
        return sent

    def discard(self, message_id: str) -> bool:
        """Forget a dead letter without replaying it (one that can never apply); False if none was kept."""
        return self._store.delete(Delete(keys.dead_letter_key(message_id))) is not None


def _ttl(now: float) -> int:
    return int(now) + DEAD_LETTER_TTL_SECONDS


def _sub_of(body: str) -> str | None:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return None
    sub = parsed.get("sub") if isinstance(parsed, dict) else None
    return sub if isinstance(sub, str) else None
