"""The cloud store adapter: the single-table port on DynamoDB, one request per port call
(conditional writes return the stored record on failure, so no call needs a second read).

Its operations go through one of two transports (DYNAMODB_TRANSPORT): botocore's client, or the lean one in
dynamodb_http.py that needs no botocore; the table's schema always goes through botocore's. boto3 and botocore
load where they are used, with the client (chalicelib/aws.py): importing this costs neither.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from chalicelib import aws
from chalicelib.errors import STORE_THROTTLED
from chalicelib.errors import ConditionFailed
from chalicelib.errors import StoreUnavailable
from chalicelib.errors import TransactionConflict
from chalicelib.keys import TTL_ATTRIBUTE
from chalicelib.settings import DYNAMODB_TRANSPORTS
from chalicelib.store.base import KEY_ATTRIBUTES
from chalicelib.store.base import Absent
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import AttributeIs
from chalicelib.store.base import BaseStore
from chalicelib.store.base import Condition
from chalicelib.store.base import Delete
from chalicelib.store.base import Exists
from chalicelib.store.base import IndexKey
from chalicelib.store.base import Key
from chalicelib.store.base import Page
from chalicelib.store.base import Put
from chalicelib.store.base import Record
from chalicelib.store.base import Update
from chalicelib.store.dynamodb_json import deserialize
from chalicelib.store.dynamodb_json import serialize

PK, SK, GSI1PK, GSI1SK = KEY_ATTRIBUTES
TIMEOUTS: dict[str, Any] = {"connect_timeout": 2, "read_timeout": 5}
GSI1 = "GSI1"
# The table's stream carries both images of each change: the forwarder needs the status before and after.
STREAM_VIEW = "NEW_AND_OLD_IMAGES"

# Error codes meaning "throttled or briefly unable": the request changed nothing and may be retried.
_UNAVAILABLE_CODES = frozenset(
    (
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    )
)
_UNAVAILABLE_REASONS = frozenset(("ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"))


class DynamoDBStore(BaseStore, aws.ClientOwner):
    """The store port on one DynamoDB table (``PK``/``SK``, GSI ``GSI1``, TTL on ``expires_at``)."""

    def __init__(
        self,
        table_name: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        transport: str = "boto3",
        tracer: Any = None,
        transactions: bool = True,
    ) -> None:
        if transport not in DYNAMODB_TRANSPORTS:
            raise ValueError(f"transport: one of {', '.join(DYNAMODB_TRANSPORTS)}, not {transport!r}")
        self.table_name = table_name
        self.endpoint_url = endpoint_url
        self.transport = transport
        # False on a table in multi-Region strong consistency, which refuses TransactWriteItems.
        self.transactions = transactions
        self._lean: Any = None
        self._tracer = tracer  # the lean transport's own subsegments (botocore's come from the SDK's patch)
        self._lean_lock = threading.Lock()
        super().__init__(region=region, endpoint_url=endpoint_url)

    # Timeouts well inside API Gateway's 29 s, even after the retries.
    client = aws.lazy_client("dynamodb", **TIMEOUTS)

    @property
    def requests(self) -> Any:
        """What the port's operations are sent through: botocore's client or the lean one (``transport``)."""
        if self.transport == "boto3":
            return self.client
        if self._lean is None:
            with self._lean_lock:
                if self._lean is None:
                    from chalicelib.store.dynamodb_http import DynamoDBClient  # lazy: only with this transport

                    self._lean = DynamoDBClient(**{**TIMEOUTS, **self._client_options}, tracer=self._tracer)
        return self._lean

    # --- reads ---------------------------------------------------------------------------------

    def _get(self, key: Key) -> Record | None:
        response = self._call("get_item", TableName=self.table_name, Key=_key(key), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else record_of(item)

    def _query(self, partition: str, prefix: str, *, limit: int, index: bool, after: str | None) -> Page:
        pk, sk = (GSI1PK, GSI1SK) if index else (PK, SK)
        names = {"#pk": pk}
        values: dict[str, Any] = {":pk": {"S": partition}}
        if after is not None and not after.startswith(prefix) and after > prefix:
            after = None  # above every string with the prefix: no bound at all
        if after is not None:
            # "SK < after" reads newest first from just below ``after``; the first record without the
            # prefix means the prefix's range is exhausted, so at most one extra record is read.
            condition = "#pk = :pk AND #sk < :after"
            names["#sk"] = sk
            values[":after"] = {"S": after}
        elif prefix:
            condition = "#pk = :pk AND begins_with(#sk, :prefix)"
            names["#sk"] = sk
            values[":prefix"] = {"S": prefix}
        else:
            condition = "#pk = :pk"
        params: dict[str, Any] = dict(
            TableName=self.table_name,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        if index:
            params["IndexName"] = GSI1  # a GSI offers eventual consistency only
        else:
            params["ConsistentRead"] = True
        response = self._call("query", **params)
        items = response.get("Items", [])
        matching: list[dict[str, Any]] = []
        for item in items:
            if not item[sk]["S"].startswith(prefix):
                return Page([record_of(i) for i in matching[:limit]], more=len(matching) > limit)
            matching.append(item)
        # A response cut short by DynamoDB's 1 MB page size carries LastEvaluatedKey: more may follow.
        more = len(matching) > limit or "LastEvaluatedKey" in response
        return Page([record_of(i) for i in matching[:limit]], more=more)

    # --- writes --------------------------------------------------------------------------------

    def _put(self, op: Put) -> None:
        self._call("put_item", **self._put_params(op))

    def _update(self, op: Update) -> Record | None:
        params = self._update_params(op)
        params["ReturnValues"] = "ALL_NEW" if op.returns == "new" else "ALL_OLD"
        attributes = self._call("update_item", **params).get("Attributes")
        if op.returns == "old":
            return None if not attributes else record_of(attributes)  # no old attributes: an upsert
        return record_of(attributes or {})

    def _update_params(self, op: Update) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        assignments: list[str] = []
        for n, (name, value) in enumerate(op.set.items()):
            names[f"#s{n}"] = name
            values[f":s{n}"] = serialize(value)
            assignments.append(f"#s{n} = :s{n}")
        for n, (name, value) in enumerate(op.set_if_absent.items()):
            names[f"#d{n}"] = name
            values[f":d{n}"] = serialize(value)
            assignments.append(f"#d{n} = if_not_exists(#d{n}, :d{n})")
        if op.index_key is not None:
            names.update({"#gpk": GSI1PK, "#gsk": GSI1SK})
            values.update({":gpk": {"S": op.index_key.pk}, ":gsk": {"S": op.index_key.sk}})
            assignments.append("#gpk = :gpk, #gsk = :gsk")
        increments: list[str] = []
        for n, (name, amount) in enumerate(op.add.items()):
            names[f"#a{n}"] = name
            values[f":a{n}"] = serialize(amount)
            increments.append(f"#a{n} :a{n}")  # ADD treats a missing number as 0
        for n, (name, strings) in enumerate(op.add_to_set.items()):
            names[f"#t{n}"] = name
            values[f":t{n}"] = {"SS": sorted(strings)}
            increments.append(f"#t{n} :t{n}")  # ADD treats a missing set as empty
        removals: list[str] = []
        for n, (name, strings) in enumerate(op.delete_from_set.items()):
            names[f"#r{n}"] = name
            values[f":r{n}"] = {"SS": sorted(strings)}
            removals.append(f"#r{n} :r{n}")
        clauses = []
        if assignments:
            clauses.append("SET " + ", ".join(assignments))
        if increments:
            clauses.append("ADD " + ", ".join(increments))
        if removals:
            clauses.append("DELETE " + ", ".join(removals))
        params: dict[str, Any] = dict(TableName=self.table_name, Key=_key(op.key))
        if clauses:
            params["UpdateExpression"] = " ".join(clauses)
        _add_condition(params, op.condition, names, values)
        return params

    def _delete(self, op: Delete) -> Record | None:
        params: dict[str, Any] = dict(TableName=self.table_name, Key=_key(op.key), ReturnValues="ALL_OLD")
        _add_condition(params, op.condition, {}, {})
        response = self._call("delete_item", **params)
        old = response.get("Attributes")
        return None if not old else record_of(old)

    def _transact(self, ops: Sequence[Put | Update]) -> None:
        items = [
            {"Update": self._update_params(op)} if isinstance(op, Update) else {"Put": self._put_params(op)}
            for op in ops
        ]
        self._call("transact_write_items", TransactItems=items)

    def _put_params(self, op: Put) -> dict[str, Any]:
        item = {name: serialize(value) for name, value in op.attrs.items()}
        item.update(_key(op.key))
        if op.index_key is not None:
            item.update(_index_key(op.index_key))
        params: dict[str, Any] = dict(TableName=self.table_name, Item=item)
        _add_condition(params, op.condition, {}, {})
        return params

    def _scan_partitions(self, prefix: str) -> Iterator[str]:
        seen: set[str] = set()
        params: dict[str, Any] = dict(
            TableName=self.table_name,
            ProjectionExpression="#pk",
            FilterExpression="begins_with(#pk, :prefix)",
            ExpressionAttributeNames={"#pk": PK},
            ExpressionAttributeValues={":prefix": {"S": prefix}},
            ConsistentRead=True,
        )
        while True:
            response = self._call("scan", **params)
            for item in response.get("Items", []):
                partition = item[PK]["S"]
                if partition not in seen:
                    seen.add(partition)
                    yield partition
            start = response.get("LastEvaluatedKey")
            if not start:
                return
            params["ExclusiveStartKey"] = start

    # --- schema --------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the table on a local endpoint (DynamoDB Local). Against AWS the stack owns it."""
        if not self.endpoint_url:
            return
        client = self.client
        try:
            state = client.describe_table(TableName=self.table_name)["Table"]["TableStatus"]
        except client.exceptions.ResourceNotFoundException:
            state = "MISSING"
            try:  # noqa: SIM105 - the except clause names the race it tolerates
                client.create_table(
                    TableName=self.table_name,
                    BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[
                        {"AttributeName": name, "AttributeType": "S"} for name in (PK, SK, GSI1PK, GSI1SK)
                    ],
                    KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
                    # As the stack makes it: the change stream is the activity outbox (tasks/outbox.py).
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
                    GlobalSecondaryIndexes=[
                        {
                            "IndexName": GSI1,
                            "KeySchema": [
                                {"AttributeName": GSI1PK, "KeyType": "HASH"},
                                {"AttributeName": GSI1SK, "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ],
                )
            except client.exceptions.ResourceInUseException:
                pass  # another process created it first
        if state != "ACTIVE":
            client.get_waiter("table_exists").wait(
                TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        from botocore.exceptions import ClientError

        try:
            client.update_time_to_live(
                TableName=self.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
        except ClientError as exc:
            if "already enabled" not in str(exc):
                raise

    # --- errors --------------------------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        requests = self.requests
        answered, unreachable = _errors(self.transport)
        try:
            return getattr(requests, operation)(**params)
        except answered as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            raise translated from exc
        except unreachable as exc:
            raise StoreUnavailable("the database is unreachable; retry the request") from exc


@lru_cache(maxsize=2)
def _errors(transport: str) -> tuple[type[Exception], tuple[type[Exception], ...]]:
    """A transport's error for DynamoDB's error replies (with botocore's ``.response``), and its errors for
    no reply at all."""
    if transport == "lean":
        from chalicelib.store.dynamodb_http import ClientError as LeanClientError
        from chalicelib.store.dynamodb_http import Unreachable

        return LeanClientError, (Unreachable,)
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError
    from botocore.exceptions import HTTPClientError

    return ClientError, (ConnectionError, HTTPClientError)


def _translate(exc: Any) -> Exception | None:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    if code == "ConditionalCheckFailedException":
        item = exc.response.get("Item")
        return ConditionFailed(existing=record_of(item) if item else None)
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        codes = [reason.get("Code") for reason in reasons]
        for position, reason in enumerate(reasons):
            if reason.get("Code") == "ConditionalCheckFailed":
                item = reason.get("Item")
                return ConditionFailed(existing=record_of(item) if item else None, index=position)
        if "TransactionConflict" in codes:
            return TransactionConflict("another request is changing the same records")
        if _UNAVAILABLE_REASONS.intersection(codes):
            return StoreUnavailable(STORE_THROTTLED)
        return None
    if code == "TransactionConflictException":
        return TransactionConflict("another request is changing the same records")
    if code in _UNAVAILABLE_CODES:
        return StoreUnavailable(STORE_THROTTLED)
    return None


# --- conditions and serialization -----------------------------------------------------------


def _add_condition(
    params: dict[str, Any], condition: Condition | None, names: dict[str, str], values: dict[str, Any]
) -> None:
    if condition is not None:
        names = {**names, "#cpk": PK}
        if isinstance(condition, Absent):
            expression = "attribute_not_exists(#cpk)"
        elif isinstance(condition, AbsentOrExpired):
            expression = "attribute_not_exists(#cpk) OR #cttl < :cnow"
            names["#cttl"] = TTL_ATTRIBUTE
            values = {**values, ":cnow": {"N": str(condition.now)}}
        elif isinstance(condition, Exists):
            expression = "attribute_exists(#cpk)"
        elif isinstance(condition, AttributeIs):
            del names["#cpk"]  # DynamoDB refuses a name the expression does not use
            names["#cattr"] = condition.name
            if condition.value is None:
                expression = "attribute_not_exists(#cattr)"
            else:
                expression = "#cattr = :cattr"
                values = {**values, ":cattr": serialize(condition.value)}
        else:  # VersionIs (the port refused any other condition)
            expression = "attribute_exists(#cpk) AND #cversion = :cversion"
            names["#cversion"] = "version"
            values = {**values, ":cversion": {"N": str(condition.version)}}
        params["ConditionExpression"] = expression
        # The stored record comes back with the failure: callers never need a second read.
        params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = values


def _key(key: Key) -> dict[str, Any]:
    return {PK: {"S": key.pk}, SK: {"S": key.sk}}


def _index_key(index: IndexKey) -> dict[str, Any]:
    return {GSI1PK: {"S": index.pk}, GSI1SK: {"S": index.sk}}


def record_of(item: dict[str, Any]) -> Record:
    """The record an item in DynamoDB's wire format holds (key attributes left out, numbers as ints)."""
    return {name: deserialize(value) for name, value in item.items() if name not in KEY_ATTRIBUTES}
