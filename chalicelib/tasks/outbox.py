"""The transactional outbox is the table's own change stream: a change and its event commit as one write.

Every committed write of a captured record (an item, a profile) reaches the forwarder at least once, in
order per record (DynamoDB Streams deployed; the SQLite store's change log locally). ``events_of`` turns
one such change into its activity events, with ids that follow from the change, so a change forwarded twice
is the same event and the consumer applies it once.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

from chalicelib import keys
from chalicelib.store.base import Key
from chalicelib.store.base import Record
from chalicelib.tasks.activity import event_id
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.activity import sign_in_event
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.profiles import SESSION
from chalicelib.tasks.profiles import SIGNED_IN_AT
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import ITEM_DELETED
from chalicelib.vocabulary import ITEM_UPDATED

# What the stream forwards (the stack's event source filter is built from these): items, by sort-key
# prefix, and profiles, by sort key. Everything else the table holds (STATS, ACTIVITY#, idempotency and
# dead-letter records) changes no activity.
CAPTURED_PREFIXES = (keys.ITEM_PREFIX,)
CAPTURED_KEYS = (keys.PROFILE_SK,)


def captured(key: Key) -> bool:
    return key.sk.startswith(CAPTURED_PREFIXES) or key.sk in CAPTURED_KEYS


class Change(NamedTuple):
    """One committed write of one record: its images either side (None: absent) and when the store
    recorded it (epoch seconds; DynamoDB Streams' ApproximateCreationDateTime)."""

    key: Key
    old: Record | None
    new: Record | None
    at: float


def events_of(change: Change) -> list[dict[str, Any]]:
    """The activity events one change makes: one per item change, one per new sign-in session, none for
    anything else (a profile rename, a record outside the captured ones)."""
    key, old, new = change.key, change.old, change.new
    sub = keys.sub_of(key.pk)
    if sub is None or not captured(key) or (old is None and new is None):
        return []
    if key.sk in CAPTURED_KEYS:
        return _sign_in(sub, old, new)
    item_id = key.sk[len(keys.ITEM_PREFIX) :]
    if old is None:
        assert new is not None
        at, kind, version = new["created_at"], ITEM_CREATED, new["version"]
    elif new is None:
        # A deletion carries no time of its own: the stream's (whole seconds deployed), never before the
        # item's last change, so the item's events stay in order.
        at, kind, version = max(rfc3339(change.at), old["updated_at"]), ITEM_DELETED, old["version"]
    else:
        at, kind, version = new["updated_at"], ITEM_UPDATED, new["version"]
    before = None if old is None else old.get("status")
    after = None if new is None else new.get("status")
    identity = event_id(at, sub, kind, item_id, str(version))
    return [item_event(kind, sub, item_id, at, before=before, after=after, id=identity)]


def owned(change: Change, region: str | None, regions: tuple[str, ...]) -> bool:
    """Whether ``region``'s forwarder forwards this change. In one region (``regions`` empty) every change is.
    In two or more, each replica's stream carries every change, its own region's writes and the ones
    replicated from the others alike, so exactly one region takes each: the one the image names as having
    written it (``written_in``), the new image's for an insert or a modify, the old one's for a removal (both
    replicas see the same old image, so a delete is forwarded once whichever region deleted). An image
    written before there were regions, or naming a region no longer listed, is the home region's (the first)."""
    if not regions:
        return True
    image = change.new if change.new is not None else change.old
    writer = None if image is None else image.get(keys.REGION_ATTRIBUTE)
    return (writer if writer in regions else regions[0]) == region


def request_id(change: Change) -> str | None:
    """The X-Request-Id of the request that made the change, when the record says (a deletion does not:
    the record is gone, and its last image names the request before)."""
    value = None if change.new is None else change.new.get(keys.REQUEST_ATTRIBUTE)
    return value if isinstance(value, str) else None


def _sign_in(sub: str, old: Record | None, new: Record | None) -> list[dict[str, Any]]:
    if new is None:
        return []
    session, signed_in_at = new.get(SESSION), new.get(SIGNED_IN_AT)
    # Both, or no sign-in: the event's id and time follow from them, so the same session seen again (even
    # after another one) is the same event. Cognito's tokens always carry both.
    if not isinstance(session, str) or not isinstance(signed_in_at, int):
        return []
    if old is not None and old.get(SESSION) == session:
        return []
    return [sign_in_event(sub, session, rfc3339(signed_in_at))]
