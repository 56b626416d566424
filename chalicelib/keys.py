"""Every key string of the single table is built here; adapters and services never format keys.

Layout (docs/DESIGN.md): a user's data lives in partition ``USER#<sub>``; GSI1 serves the status
filter with ``GSI1PK = USER#<sub>#STATUS#<status>`` and ``GSI1SK = ITEM#<id>``.
"""

from __future__ import annotations

from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key

ITEM_PREFIX = "ITEM#"
ACTIVITY_PREFIX = "ACTIVITY#"
PROFILE_SK = "METADATA"
STATS_SK = "STATS"
# DynamoDB's TTL attribute (epoch seconds); the SQLite adapter honours the same name.
TTL_ATTRIBUTE = "expires_at"
# On an item or profile record: the X-Request-Id of the request that last wrote it, which the table's change
# stream carries to the activity event (chalicelib/tasks/outbox.py). Never part of a response.
REQUEST_ATTRIBUTE = "request_id"
_USER_PREFIX = "USER#"


def user_pk(sub: str) -> str:
    return _USER_PREFIX + sub


def profile_key(sub: str) -> Key:
    return Key(user_pk(sub), PROFILE_SK)


def item_key(sub: str, item_id: str) -> Key:
    return Key(user_pk(sub), ITEM_PREFIX + item_id)


def status_partition(sub: str, status: str) -> str:
    return f"{user_pk(sub)}#STATUS#{status}"


def item_index_key(sub: str, item_id: str, status: str) -> IndexKey:
    return IndexKey(status_partition(sub, status), ITEM_PREFIX + item_id)


def stats_key(sub: str) -> Key:
    return Key(user_pk(sub), STATS_SK)


def activity_key(sub: str, at: str, event_id: str) -> Key:
    """``ACTIVITY#<at>#<event id>``: newest first by the time of the change; the event id makes a
    redelivered event land on the same key (its conditional put is then a no-op)."""
    return Key(user_pk(sub), f"{ACTIVITY_PREFIX}{at}#{event_id}")


def idempotency_record_key(sub: str, key: str) -> Key:
    """Where the outcome of a create sent with the Idempotency-Key ``key`` is kept (the header's parser is
    protocol/requests.idempotency_key)."""
    return Key(user_pk(sub), f"IDEMPOTENCY#{key}")


def sub_of(partition: str) -> str:
    """The sub whose partition ``USER#<sub>`` is (ValueError for any other partition)."""
    if not partition.startswith(_USER_PREFIX):
        raise ValueError("not a user's partition")
    return partition[len(_USER_PREFIX) :]
