"""The DynamoDB Streams record shape of a Lambda event: what the forwarder reads (``change_of``), and what the
local feed builds from the SQLite change log (``lambda_record``), so the forwarder sees one shape everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.store.base import KEY_ATTRIBUTES
from chalicelib.store.base import Key
from chalicelib.store.base import Record
from chalicelib.store.dynamodb import STREAM_VIEW
from chalicelib.store.dynamodb import record_of
from chalicelib.store.dynamodb import serialize
from chalicelib.tasks.outbox import Change

PK, SK = KEY_ATTRIBUTES[:2]
# Lambda's partial batch response names a stream record by its sequence number.
SEQUENCE = "SequenceNumber"


def lambda_record(
    key: Key, old: Record | None, new: Record | None, at: float, sequence: str, stream_arn: str
) -> dict[str, Any]:
    """One record of a Lambda DynamoDB Streams event, as Lambda hands it over for this change."""
    keys = {PK: {"S": key.pk}, SK: {"S": key.sk}}
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": at,
        "Keys": keys,
        SEQUENCE: sequence,
        "StreamViewType": STREAM_VIEW,
    }
    for name, image in (("OldImage", old), ("NewImage", new)):
        if image is not None:
            change[name] = {**{field: serialize(value) for field, value in image.items()}, **keys}
    change["SizeBytes"] = len(repr(change))  # informative only; nothing reads it
    return {
        "eventID": sequence,
        "eventName": "INSERT" if old is None else "REMOVE" if new is None else "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": stream_arn.split(":")[3],
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def change_of(record: Mapping[str, Any]) -> Change:
    """The change one stream record describes (KeyError/ValueError when it is not such a record)."""
    change = record["dynamodb"]
    keys = change["Keys"]
    old, new = change.get("OldImage"), change.get("NewImage")
    return Change(
        key=Key(keys[PK]["S"], keys[SK]["S"]),
        old=None if old is None else record_of(old),
        new=None if new is None else record_of(new),
        at=float(change["ApproximateCreationDateTime"]),
    )


def sequence_of(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"][SEQUENCE])
