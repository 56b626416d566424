"""The table's change stream on a local endpoint (DynamoDB Local), read like the SQLite store's change log,
so the embedded feed forwards it locally as Lambda's event source mapping does deployed (never used
against AWS, where Lambda reads the stream)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Unpack

from chalicelib import aws
from chalicelib.store.base import Key
from chalicelib.store.dynamodb import PK
from chalicelib.store.dynamodb import SK
from chalicelib.store.dynamodb import record_of
from chalicelib.store.sqlite import LoggedChange


class DynamoDBLocalStream(aws.ClientOwner):
    """The stream of ``table_name`` from its oldest record (TRIM_HORIZON): after a restart everything the
    stream still holds is forwarded again, which the consumer's exactly-once write makes harmless."""

    client = aws.lazy_client("dynamodbstreams", connect_timeout=2, read_timeout=5)

    def __init__(
        self, table_name: str, *, capture: Callable[[Key], bool], **client_options: Unpack[aws.ClientOptions]
    ) -> None:
        super().__init__(**client_options)
        self.table_name = table_name
        self._stream_arn: str | None = None
        self._capture = capture
        self._iterators: dict[str, str | None] = {}  # shard id -> next iterator (None: shard closed)
        self._buffer: list[LoggedChange] = []
        self._lock = threading.Lock()

    def changes(self, limit: int) -> list[LoggedChange]:
        with self._lock:
            if len(self._buffer) < limit:
                self._read()
            return self._buffer[:limit]

    def forget_changes(self, through: int) -> None:
        with self._lock:
            self._buffer = [change for change in self._buffer if change.seq > through]

    def _read(self) -> None:
        arn = self._stream_arn
        if arn is None:
            # A client of its own, not the store's: the feed's calls are not the app's store requests.
            table = aws.client("dynamodb", **self._client_options).describe_table(TableName=self.table_name)
            arn = self._stream_arn = table["Table"].get("LatestStreamArn")
            if arn is None:
                return
        for shard in self.client.describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            response = self.client.get_records(ShardIterator=iterator, Limit=100)
            self._iterators[shard_id] = response.get("NextShardIterator")
            for record in response.get("Records", []):
                change = record["dynamodb"]
                key = Key(change["Keys"][PK]["S"], change["Keys"][SK]["S"])
                if not self._capture(key):
                    continue
                old, new = change.get("OldImage"), change.get("NewImage")
                self._buffer.append(
                    LoggedChange(
                        int(change["SequenceNumber"]),
                        key,
                        None if old is None else record_of(old),
                        None if new is None else record_of(new),
                        change["ApproximateCreationDateTime"].timestamp(),  # botocore parses it to a datetime
                    )
                )
