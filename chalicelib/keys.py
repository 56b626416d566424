"""Every key string of the single table is built here; adapters and services never format keys.

Layout (docs/DESIGN.md): a user's data lives in partition ``USER#<sub>``; GSI1 serves the status
filter with ``GSI1PK = USER#<sub>#STATUS#<status>`` and ``GSI1SK = ITEM#<id>``. What the operators'
commands keep lives under ``OPS#`` partitions, which no user's key can be (a sub never holds ``#``).
"""

from __future__ import annotations

from typing import Any

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
# On an item or profile record: the region that accepted its last write (Settings.aws_region), which the change
# stream carries, so that in two regions only that region forwards the change (tasks/outbox.py ``owned``).
# Never part of a response.
REGION_ATTRIBUTE = "written_in"
USER_PREFIX = "USER#"
# The dead letters kept for replay: one partition, so listing them is one query (they are few).
DEAD_LETTERS = "OPS#DEADLETTER"
FAILURE_SK = "FAILURE"


def user_pk(sub: str) -> str:
    return f"{USER_PREFIX}{sub}"


def sub_of(partition: str) -> str | None:
    """The sub whose partition this is (``USER#<sub>``), or None for any other partition."""
    if not partition.startswith(USER_PREFIX) or "#" in partition[len(USER_PREFIX) :]:
        return None
    return partition[len(USER_PREFIX) :] or None


def profile_key(sub: str) -> Key:
    return Key(user_pk(sub), PROFILE_SK)


def item_key(sub: str, item_id: str) -> Key:
    return Key(user_pk(sub), ITEM_PREFIX + item_id)


def status_partition(sub: str, status: str) -> str:
    return f"{user_pk(sub)}#STATUS#{status}"


def item_index_key(sub: str, item_id: str, status: str) -> IndexKey:
    return IndexKey(status_partition(sub, status), ITEM_PREFIX + item_id)


def stats_key(sub: str, region: str | None = None) -> Key:
    """``STATS``, or with ``region`` the shard ``STATS#<region>`` that only that region's consumer writes (two
    regions: docs/DESIGN.md). A user's counters are the sum of every record whose sort key begins ``STATS``."""
    return Key(user_pk(sub), STATS_SK if region is None else f"{STATS_SK}#{region}")


def stamped(values: dict[str, Any], request_id: str | None, region: str | None) -> dict[str, Any]:
    """``values`` with what a captured write records about itself beside the data: the request that made it and
    the region that accepted it (each when known)."""
    if request_id is not None:
        values = {**values, REQUEST_ATTRIBUTE: request_id}
    if region is not None:
        values = {**values, REGION_ATTRIBUTE: region}
    return values


def activity_key(sub: str, at: str, event_id: str) -> Key:
    """``ACTIVITY#<at>#<event id>``: newest first by the time of the change; the event id makes a
    redelivered event land on the same key (its conditional put is then a no-op)."""
    return Key(user_pk(sub), f"{ACTIVITY_PREFIX}{at}#{event_id}")


def idempotency_record_key(sub: str, key: str) -> Key:
    """Where the outcome of a create sent with the Idempotency-Key ``key`` is kept (the header's parser is
    protocol/requests.idempotency_key)."""
    return Key(user_pk(sub), f"IDEMPOTENCY#{key}")


def dead_letter_key(message_id: str) -> Key:
    """A dead-lettered activity message, by its queue message id (the id SQS keeps when it moves a
    message to the dead-letter queue)."""
    return Key(DEAD_LETTERS, message_id)


def failure_key(message_id: str) -> Key:
    """Why the activity consumer failed a message (first and last reason). A partition per message: the
    consumer writes it when a message fails, and a burst of failures must not meet on one partition."""
    return Key(f"OPS#FAILURE#{message_id}", FAILURE_SK)


def slack_signature_key(signature: str) -> Key:
    """A Slack request signature already accepted (chalicelib/operations/replay.py): a partition per
    signature, so the puts of a burst of commands never meet on one partition."""
    return Key(f"OPS#SLACKSIG#{signature}", "SEEN")
