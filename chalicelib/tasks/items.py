"""Items use-cases: create (optionally idempotent), read, list by page, patch and delete with
optimistic concurrency. One store request per call on the normal path."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from typing import Any
from typing import NamedTuple

from chalicelib import keys
from chalicelib.errors import ConditionFailed
from chalicelib.errors import IdempotencyConflict
from chalicelib.errors import NotFound
from chalicelib.errors import PreconditionFailed
from chalicelib.store.base import Absent
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import Delete
from chalicelib.store.base import Exists
from chalicelib.store.base import Put
from chalicelib.store.base import Store
from chalicelib.store.base import Update
from chalicelib.store.base import VersionIs
from chalicelib.tasks.clock import Clock
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.clock import system_clock
from chalicelib.tasks.ids import is_id
from chalicelib.tasks.ids import new_id
from chalicelib.tasks.retry import retry_on_conflict
from chalicelib.vocabulary import DEFAULT_STATUS

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# Without transactions (ItemService._create_in_steps): an idempotency record's ``state``, ``pending`` until its
# item is written, then ``created`` (a record a transaction wrote has none: created too).
IDEMPOTENCY_STATE = "state"
STATE_PENDING = "pending"
STATE_CREATED = "created"
_MAX_TRANSACTION_ATTEMPTS = 8


# The public shape of an item, in the order responses list it (DynamoDB returns attributes unordered).
ITEM_FIELDS = ("id", "title", "notes", "status", "due", "tags", "created_at", "updated_at", "version")


def public_item(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record.get(name) for name in ITEM_FIELDS}


class NewItem(NamedTuple):
    """What a caller gives to create an item; the service adds its id, times and version."""

    title: str
    notes: str = ""
    status: str = DEFAULT_STATUS
    due: date | None = None
    tags: Sequence[str] = ()


# The fields a patch may change (the others are the service's own).
EDITABLE_FIELDS = frozenset(NewItem._fields)


class Created(NamedTuple):
    item: dict[str, Any]
    replayed: bool


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def body_fingerprint(body: Any) -> str:
    """A hash of the parsed JSON body: key order and whitespace do not change it."""
    import hashlib  # lazy: OpenSSL (~2.5 ms): creates with a key only, read routes never pay for it

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ItemService:
    def __init__(
        self,
        store: Store,
        clock: Clock = system_clock,
        request_id: Callable[[], str | None] = lambda: None,
        region: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        # Each change's activity event is made from the table's change stream (tasks/outbox.py), which
        # also carries the request's id and the region that accepted the write, kept on the item (never in
        # a response) for that.
        self._request_id = request_id
        self._region = region

    def _stamped(self, values: dict[str, Any]) -> dict[str, Any]:
        return keys.stamped(values, self._request_id(), self._region)

    def create(
        self, sub: str, data: NewItem, *, idempotency_key: str | None = None, fingerprint: str | None = None
    ) -> Created:
        now = self._clock()
        stamp = rfc3339(now)
        item_id = new_id(int(now * 1000))
        item = {
            "id": item_id,
            "title": data.title,
            "notes": data.notes,
            "status": data.status,
            "due": _date(data.due),
            "tags": list(data.tags),
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
        }
        put_item = Put(
            keys.item_key(sub, item_id),
            self._stamped(item),
            index_key=keys.item_index_key(sub, item_id, data.status),
            condition=Absent(),
        )
        if idempotency_key is None:
            self._store.put(put_item)
            created = Created(item, replayed=False)
        else:
            record = {
                "fingerprint": fingerprint,
                "status": 201,
                "item": item,
                "created_at": stamp,
                keys.TTL_ATTRIBUTE: int(now) + IDEMPOTENCY_TTL_SECONDS,
            }
            put_record = Put(
                keys.idempotency_record_key(sub, idempotency_key), record, condition=AbsentOrExpired(int(now))
            )
            if self._store.transactions:
                created = self._create_once(put_record, put_item, fingerprint)
            else:
                created = self._create_in_steps(sub, put_record, put_item, fingerprint)
        return created

    def _create_once(self, put_record: Put, put_item: Put, fingerprint: str | None) -> Created:
        try:
            # A conflict: a concurrent repeat holds the same key; once it commits, its result is replayed.
            retry_on_conflict(
                lambda: self._store.transact([put_record, put_item]),
                attempts=_MAX_TRANSACTION_ATTEMPTS,
                exhausted="too much contention on this Idempotency-Key; retry the request",
            )
        except ConditionFailed as failed:
            existing = failed.existing
            if failed.index != 0 or existing is None:
                raise
            if existing.get("fingerprint") != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body") from None
            return Created(public_item(existing["item"]), replayed=True)
        return Created(public_item(put_item.attrs), replayed=False)

    def _create_in_steps(self, sub: str, put_record: Put, put_item: Put, fingerprint: str | None) -> Created:
        """``_create_once`` on a store without transactions: three single-record writes, each safe to repeat,
        so a request that stops between any two leaves what its retry (same key, same body) finishes.

        1. put the idempotency record with the prospective item, ``state: pending`` (absent or expired, as in
           the transaction); found with another body: IdempotencyConflict;
           found pending: an earlier attempt stopped (or is still running) before step 3: finish its item
           (found ``created``, or without a state: replay);
        2. put the item, if absent (present: that earlier attempt wrote it);
        3. mark the record ``state: created``.

        The narrow window this leaves is in docs/DESIGN.md (an item deleted while its record is pending).
        """
        try:
            self._store.put(put_record._replace(attrs={**put_record.attrs, IDEMPOTENCY_STATE: STATE_PENDING}))
            replayed = False
        except ConditionFailed as failed:
            existing = failed.existing
            if existing is None:
                raise
            if existing.get("fingerprint") != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body") from None
            if existing.get(IDEMPOTENCY_STATE) != STATE_PENDING:
                return Created(public_item(existing["item"]), replayed=True)
            item = existing["item"]
            put_item = Put(
                keys.item_key(sub, item["id"]),
                self._stamped(item),
                index_key=keys.item_index_key(sub, item["id"], item["status"]),
                condition=Absent(),
            )
            replayed = True
        try:  # noqa: SIM105 - the except clause names what it tolerates
            self._store.put(put_item)
        except ConditionFailed:
            pass  # written by the attempt that wrote the pending record
        self._store.update(Update(put_record.key, set={IDEMPOTENCY_STATE: STATE_CREATED}))
        return Created(public_item(put_item.attrs), replayed=replayed)

    def get(self, sub: str, item_id: str) -> dict[str, Any]:
        record = self._store.get(keys.item_key(sub, item_id)) if is_id(item_id) else None
        if record is None:
            raise NotFound("no such item")
        return public_item(record)

    def list(
        self, sub: str, *, limit: int, status: str | None = None, after_id: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page newest first, and the id to continue after (None on the last page)."""
        if status is None:
            partition = keys.user_pk(sub)
            after = keys.item_key(sub, after_id).sk if after_id else None
        else:
            partition = keys.status_partition(sub, status)
            after = keys.item_index_key(sub, after_id, status).sk if after_id else None
        page = self._store.query(partition, keys.ITEM_PREFIX, limit=limit, index=status is not None, after=after)
        next_after = page.records[-1]["id"] if page.more and page.records else None
        return [public_item(record) for record in page.records], next_after

    def patch(
        self, sub: str, item_id: str, changes: Mapping[str, Any], *, if_match: int | str | None = None
    ) -> dict[str, Any]:
        """Apply ``changes`` (field: new value, each one of NewItem's fields) to the item."""
        unknown = changes.keys() - EDITABLE_FIELDS
        if unknown:
            raise ValueError(f"not fields a patch may change: {sorted(unknown)}")
        if not is_id(item_id):
            raise NotFound("no such item")
        values = {name: _date(value) if name == "due" else value for name, value in changes.items()}
        values["updated_at"] = rfc3339(self._clock())
        status = values.get("status")
        index_key = keys.item_index_key(sub, item_id, status) if status else None
        # The record as it was: the item as it is now follows from it without a second request.
        update = Update(
            keys.item_key(sub, item_id),
            set=self._stamped(values),
            add={"version": 1},
            index_key=index_key,
            condition=_condition(if_match),
            returns="old",
        )
        try:
            old = self._store.update(update)
        except ConditionFailed as failed:
            raise _missing_or_stale(failed) from None
        # Both conditions require the item: a missing one raised ConditionFailed (the Store port's rule).
        assert old is not None
        return public_item(update.after(old))

    def delete(self, sub: str, item_id: str, *, if_match: int | str | None = None) -> dict[str, Any]:
        if not is_id(item_id):
            raise NotFound("no such item")
        try:
            old = self._store.delete(Delete(keys.item_key(sub, item_id), condition=_condition(if_match)))
        except ConditionFailed as failed:
            raise _missing_or_stale(failed) from None
        assert old is not None  # as in patch: the condition requires the item
        return public_item(old)


def _condition(if_match: int | str | None) -> Exists | VersionIs:
    """Either way the item must exist; ``*`` (or no If-Match) accepts any version of it."""
    if isinstance(if_match, int):
        return VersionIs(if_match)
    return Exists()


def _missing_or_stale(failed: ConditionFailed) -> Exception:
    if failed.existing is None:
        return NotFound("no such item")
    return PreconditionFailed(
        f"the item is at version {failed.existing.get('version')}; fetch it again and retry with its ETag"
    )
