"""What only the DynamoDB adapter can show: one request per call, consistent reads, its schema,
its errors translated."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.errors import ConditionFailed
from chalicelib.errors import StoreUnavailable
from chalicelib.store.base import Absent
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import Delete
from chalicelib.store.base import Exists
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from chalicelib.store.base import VersionIs
from tests.support.dynamodb_local import count_requests
from tests.support.dynamodb_local import unique_table_name
from tests.support.store import NOW
from tests.support.store import item
from tests.support.store import put_items
from tests.support.store import record_activity
from tests.support.store import status


def one_request(dynamodb_store, operation: str, call: Callable[[], object]) -> object:
    with count_requests(dynamodb_store.requests) as requests:
        try:
            result = call()
        except ConditionFailed as failed:
            result = failed
    assert (requests.total, dict(requests.by_operation)) == (1, {operation: 1})
    return result


def test_dynamodb_reads_are_one_request_each(dynamodb_store, pk):
    put_items(dynamodb_store, pk, 12, index_status="open")
    open_partition = status(pk, "open")

    assert one_request(dynamodb_store, "GetItem", lambda: dynamodb_store.get(item(pk, 1))) == {"n": 1}
    assert one_request(dynamodb_store, "GetItem", lambda: dynamodb_store.get(item(pk, 99))) is None
    page = one_request(dynamodb_store, "Query", lambda: dynamodb_store.query(pk, "ITEM#", limit=5))
    assert page.more and len(page.records) == 5
    page = one_request(dynamodb_store, "Query", lambda: dynamodb_store.query(pk, "ITEM#", limit=5, after="ITEM#0003"))
    assert page.records == [{"n": 2}, {"n": 1}] and not page.more
    page = one_request(
        dynamodb_store, "Query", lambda: dynamodb_store.query(open_partition, "ITEM#", limit=5, index=True)
    )
    assert page.more and len(page.records) == 5
    page = one_request(
        dynamodb_store,
        "Query",
        lambda: dynamodb_store.query(open_partition, "ITEM#", limit=5, index=True, after="ITEM#0006"),
    )
    assert [r["n"] for r in page.records] == [5, 4, 3, 2, 1] and page.more is False


def test_dynamodb_writes_are_one_request_each_even_when_a_condition_fails(dynamodb_store, pk):
    s = dynamodb_store
    one_request(s, "PutItem", lambda: s.put(Put(item(pk, 1), {"version": 1}, condition=Absent())))
    failed = one_request(s, "PutItem", lambda: s.put(Put(item(pk, 1), {"version": 9}, condition=Absent())))
    assert failed.existing == {"version": 1}

    after = one_request(
        s,
        "UpdateItem",
        lambda: s.update(
            Update(
                item(pk, 1),
                set={"t": "x"},
                set_if_absent={"c": 0},
                add={"version": 1},
                index_key=IndexKey(status(pk, "open"), "ITEM#0001"),
                condition=VersionIs(1),
            )
        ),
    )
    assert after == {"version": 2, "t": "x", "c": 0}
    failed = one_request(s, "UpdateItem", lambda: s.update(Update(item(pk, 1), set={"t": "y"}, condition=VersionIs(1))))
    assert failed.existing == after

    failed = one_request(s, "DeleteItem", lambda: s.delete(Delete(item(pk, 1), condition=VersionIs(7))))
    assert failed.existing == after
    assert one_request(s, "DeleteItem", lambda: s.delete(Delete(item(pk, 1), condition=Exists()))) == after
    failed = one_request(s, "DeleteItem", lambda: s.delete(Delete(item(pk, 1), condition=Exists())))
    assert failed.existing is None

    ops = [
        Put(Key(pk, "IDEMPOTENCY#k"), {"f": 1}, condition=AbsentOrExpired(NOW)),
        Put(item(pk, 2), {"n": 2}, condition=Absent()),
    ]
    one_request(s, "TransactWriteItems", lambda: s.transact(ops))
    failed = one_request(s, "TransactWriteItems", lambda: s.transact(ops))
    assert (failed.index, failed.existing) == (0, {"f": 1})


def test_dynamodb_transact_with_an_update_and_update_returning_old_are_one_request_each(dynamodb_store, pk):
    s = dynamodb_store
    one_request(s, "TransactWriteItems", lambda: s.transact(record_activity(pk, "e1", at="t1")))
    failed = one_request(
        s,
        "TransactWriteItems",
        lambda: s.transact(
            [
                Put(item(pk, 1), {"title": "a"}, condition=Absent()),
                Update(Key(pk, "STATS"), add={"total": 1}, condition=VersionIs(1)),
            ]
        ),
    )
    assert (failed.index, failed.existing) == (1, {"todo": 1, "total": 1, "updated_at": "t1"})

    old = one_request(s, "UpdateItem", lambda: s.update(Update(Key(pk, "STATS"), add={"total": 1}, returns="old")))
    assert old == {"todo": 1, "total": 1, "updated_at": "t1"}


def test_dynamodb_reads_of_the_table_are_strongly_consistent_and_index_reads_use_gsi1(dynamodb_store, pk):
    sent: list[tuple[str, dict]] = []

    def record(event_name: str, params: dict, **_: object) -> None:
        sent.append((event_name.rsplit(".", 1)[-1], dict(params)))

    events = dynamodb_store.client.meta.events
    events.register("before-parameter-build.dynamodb", record, unique_id="consistency-probe")
    try:
        dynamodb_store.get(item(pk, 1))
        dynamodb_store.query(pk, "ITEM#", limit=1)
        dynamodb_store.query(status(pk, "open"), "ITEM#", limit=1, index=True)
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="consistency-probe")

    (_, get), (_, table_query), (_, index_query) = sent
    assert get["ConsistentRead"] is True and table_query["ConsistentRead"] is True
    assert "IndexName" not in table_query
    # A GSI cannot be read consistently; asking would be a ValidationException.
    assert index_query["IndexName"] == "GSI1" and "ConsistentRead" not in index_query


def test_dynamodb_ensure_schema_creates_table_index_and_ttl_and_can_run_again(dynamodb_endpoint, fake_aws):
    from chalicelib.store.dynamodb import DynamoDBStore

    store = DynamoDBStore(unique_table_name(), endpoint_url=dynamodb_endpoint)
    store.ensure_schema()
    store.ensure_schema()

    table = store.client.describe_table(TableName=store.table_name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"PK": "HASH", "SK": "RANGE"}
    [gsi] = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1" and gsi["Projection"]["ProjectionType"] == "ALL"
    ttl = store.client.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    store.client.delete_table(TableName=store.table_name)
    store.client.close()


def test_dynamodb_ensure_schema_without_a_local_endpoint_sends_nothing():
    from chalicelib.store.dynamodb import DynamoDBStore

    store = DynamoDBStore("tasks-prod")
    store.ensure_schema()
    assert store._client is None  # never even built a client: tables on AWS belong to the stack


def test_dynamodb_unreachable_endpoint_raises_store_unavailable(fake_aws, monkeypatch):
    import socket

    from chalicelib.store.dynamodb import DynamoDBStore

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = DynamoDBStore("tasks", endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(StoreUnavailable) as raised:
        store.get(Key("USER#a", "METADATA"))
    assert raised.value.__cause__ is not None


def test_dynamodb_throttling_raises_store_unavailable(dynamodb_endpoint, fake_aws, monkeypatch, pk):
    from botocore.awsrequest import AWSResponse

    from chalicelib.store.dynamodb import DynamoDBStore

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = DynamoDBStore("tasks", endpoint_url=dynamodb_endpoint)
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"throttled"}'

    def throttle(**_: object) -> AWSResponse:
        # Fault injection in front of the real endpoint: DynamoDB Local never throttles.
        return AWSResponse("http://local", 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))

    store.client.meta.events.register("before-send.dynamodb.GetItem", throttle)
    with pytest.raises(StoreUnavailable):
        store.get(Key(pk, "METADATA"))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object):
        yield self._body
