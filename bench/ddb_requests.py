"""Figure 3, in its own process: DynamoDB requests and consumed capacity per route (deployed configuration,
DynamoDB Local); ReturnConsumedCapacity is added by a botocore hook here, never by the app.

The write routes are measured as built: their activity events come from the table's change stream, which
costs a write nothing. Beside them, the design not chosen: the same writes each putting its event as an
``OUTBOX#`` record in one ``TransactWriteItems`` (a read first where the event needs the record as it was),
issued once here on the same table so that DynamoDB Local reports what they would consume."""

from __future__ import annotations

import json
import time
from typing import Any

from app import app
from bench.harness import figure_main
from bench.harness import rest_event
from bench.workload import gateway_auth
from chalicelib import keys
from chalicelib import wiring
from chalicelib.store.dynamodb import PK
from chalicelib.store.dynamodb import SK
from chalicelib.store.dynamodb import DynamoDBStore
from chalicelib.store.dynamodb import serialize
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.activity import sign_in_event
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import DEFAULT_STATUS
from chalicelib.vocabulary import ITEM_CREATED
from chalicelib.vocabulary import ITEM_DELETED
from chalicelib.vocabulary import ITEM_UPDATED
from chalicelib.vocabulary import USER_SIGNED_IN

USER = "bench-counter"
# The alternative's event records: a key of the bench only, since the app has no such record.
OUTBOX_PREFIX = "OUTBOX#"


class Meter:
    """Counts requests (per attempt, so retries show) and sums the capacity DynamoDB reports."""

    def __init__(self, client: Any) -> None:
        self.requests = 0
        self.capacity = 0.0
        self.reported = False
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._ask_capacity, unique_id="bench-capacity-ask")
        events.register("before-send.dynamodb", self._sent, unique_id="bench-capacity-send")
        events.register("after-call.dynamodb", self._answered, unique_id="bench-capacity-read")

    def reset(self) -> None:
        self.requests, self.capacity, self.reported = 0, 0.0, False

    def _ask_capacity(self, params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _sent(self, **_: Any) -> None:
        self.requests += 1

    def _answered(self, parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            self.capacity += float(entry.get("CapacityUnits", 0))
            self.reported = True


def run(spec: dict[str, Any]) -> dict[str, Any]:
    headers, claims = gateway_auth(USER)

    def call(
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
        resource: str | None = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
    ) -> dict[str, Any]:
        event = rest_event(
            method,
            path,
            resource=resource,
            path_parameters=params,
            query=query,
            body=body,
            headers={**(headers if auth else {}), **(extra or {})},
            claims=claims if auth else None,
        )
        return app(event, None)

    # Not per-request work: the first call builds the store and its client.
    call("GET", "/items")
    store = wiring.services().store
    assert isinstance(store, DynamoDBStore), "this figure counts DynamoDB requests: run it with STORE=dynamodb"
    meter = Meter(store.client)
    rows: list[dict[str, Any]] = []

    def measure(label: str, kind: str, expect: int, **kw: Any) -> dict[str, Any]:
        meter.reset()
        response = call(label.split()[0], kw.pop("path"), **kw)
        if response["statusCode"] != expect:
            raise RuntimeError(f"{label} answered {response['statusCode']}: {response.get('body')}")
        rows.append(
            {
                "route": label,
                "kind": kind,
                "requests": meter.requests,
                "capacity": meter.capacity if meter.reported else None,
            }
        )
        return json.loads(response["body"]) if response.get("body") else {}

    measure("GET /health", "none", 200, path="/health", auth=False)
    measure("GET /me (first: creates the profile)", "read", 200, path="/me")
    measure("GET /me", "read", 200, path="/me")
    measure("PATCH /me", "write", 200, path="/me", body={"display_name": "Counter"})
    for n in range(3):
        measure("POST /items", "write", 201, path="/items", body={"title": f"item {n}", "status": "done"})
    once = {"path": "/items", "body": {"title": "once"}, "extra": {"Idempotency-Key": "bench-key-1"}}
    created = measure("POST /items (Idempotency-Key)", "write", 201, **once)
    measure("POST /items (Idempotency-Key replay)", "write", 201, **once)
    page = measure("GET /items", "read", 200, path="/items", query={"limit": "2"})
    measure("GET /items?cursor=", "read", 200, path="/items", query={"limit": "2", "cursor": page["next_cursor"]})
    measure("GET /items?status=done", "read", 200, path="/items", query={"status": "done"})
    item_path = {
        "path": f"/items/{created['id']}",
        "resource": "/items/{item_id}",
        "params": {"item_id": created["id"]},
    }
    measure("GET /items/{id}", "read", 200, **item_path)
    measure(
        "PATCH /items/{id} (If-Match)", "write", 200, **item_path, body={"status": "done"}, extra={"If-Match": '"1"'}
    )
    measure(
        "PATCH /items/{id} (stale If-Match: 412)",
        "write",
        412,
        **item_path,
        body={"status": "todo"},
        extra={"If-Match": '"1"'},
    )
    measure("DELETE /items/{id}", "write", 204, **item_path, extra={"If-Match": '"2"'})
    created = call("POST", "/items", body={"title": "outbox"})  # not measured: the alternative's own item
    outbox = outbox_alternative(store, meter, claims["sub"], json.loads(created["body"])["id"])
    # The activity reads answer 503 without the activity pipeline, and this environment has none (QUEUE=off,
    # so that no consumer writes inside a route's count): the same store, with the queue setting on, serves
    # them. Read routes never touch the queue. The records are the consumer's, written before the meter runs.
    wiring.bootstrap(wiring.services().settings._replace(queue="local"), store=store)
    recorder = ActivityRecorder(store)
    for n in range(3):
        at = rfc3339(time.time() - n)
        recorder.record(item_event(ITEM_CREATED, claims["sub"], new_id(), at, before=None, after=DEFAULT_STATUS))
    measure("GET /stats", "read", 200, path="/stats")
    feed = measure("GET /activity", "read", 200, path="/activity", query={"limit": "2"})
    measure("GET /activity?cursor=", "read", 200, path="/activity", query={"limit": "2", "cursor": feed["next_cursor"]})
    return {"rows": rows, "outbox": outbox}


def outbox_alternative(store: DynamoDBStore, meter: Meter, sub: str, item_id: str) -> list[dict[str, Any]]:
    """The write routes as a separate-outbox design would issue them, on records shaped like the app's
    (copied from the table): each write and its OUTBOX# event record in one TransactWriteItems, preceded
    by a strongly consistent GetItem where the event needs the record as it was (PATCH and DELETE: the
    status before; GET /me: whether the token's sign-in session is new)."""
    client, table = store.client, store.table_name
    item_key = {PK: {"S": keys.user_pk(sub)}, SK: {"S": keys.ITEM_PREFIX + item_id}}
    profile_key = {PK: {"S": keys.user_pk(sub)}, SK: {"S": keys.PROFILE_SK}}
    item = client.get_item(TableName=table, Key=item_key, ConsistentRead=True)["Item"]
    rows: list[dict[str, Any]] = []

    def outbox_put(kind: str, subject: str | None, before: str | None, after: str | None) -> dict[str, Any]:
        at = rfc3339(time.time())
        if subject is None:
            event = sign_in_event(sub, "bench-session", at)
        else:
            event = item_event(kind, sub, subject, at, before=before, after=after)
        event["request_id"] = "req-bench-outbox"
        attrs = {name: serialize(value) for name, value in event.items()}
        attrs[keys.TTL_ATTRIBUTE] = serialize(int(time.time()) + 86400)
        record = {**attrs, PK: {"S": keys.user_pk(sub)}, SK: {"S": OUTBOX_PREFIX + event["id"]}}
        return {"Put": {"TableName": table, "Item": record, "ConditionExpression": "attribute_not_exists(PK)"}}

    def step(label: str, built: str | None, rule: dict[str, Any], *calls: Any) -> None:
        reads = writes = 0.0
        requests = 0
        for issue, kind in calls:
            meter.reset()
            issue()
            requests += meter.requests
            if kind == "read":
                reads += meter.capacity
            else:
                writes += meter.capacity
        rows.append({"route": label, "built": built, "requests": requests, "reads": reads, "writes": writes, **rule})

    def read(key: dict[str, Any]) -> tuple[Any, str]:
        return (lambda: client.get_item(TableName=table, Key=key, ConsistentRead=True), "read")

    def transact(*actions: dict[str, Any]) -> tuple[Any, str]:
        return (lambda: client.transact_write_items(TransactItems=list(actions)), "write")

    new_item = dict(item)
    fresh = new_id()
    new_item.update({SK: {"S": keys.ITEM_PREFIX + fresh}, "id": {"S": fresh}})
    new_item["GSI1SK"] = {"S": keys.ITEM_PREFIX + fresh}
    put_item = {"Put": {"TableName": table, "Item": new_item, "ConditionExpression": "attribute_not_exists(PK)"}}
    step(
        "POST /items",
        "POST /items",
        by_rule(0, ("item", 1), ("GSI1 entry", 1), ("outbox", 1)),
        transact(put_item, outbox_put(ITEM_CREATED, fresh, None, DEFAULT_STATUS)),
    )
    again = new_id()
    idempotent_item = {**new_item, SK: {"S": keys.ITEM_PREFIX + again}, "id": {"S": again}}
    idempotent_item["GSI1SK"] = {"S": keys.ITEM_PREFIX + again}
    record_key = keys.idempotency_record_key(sub, "bench-key-1")
    record = client.get_item(
        TableName=table, Key={PK: {"S": record_key.pk}, SK: {"S": record_key.sk}}, ConsistentRead=True
    )["Item"]
    record = {**record, SK: {"S": keys.idempotency_record_key(sub, "bench-key-2").sk}}
    step(
        "POST /items (Idempotency-Key)",
        "POST /items (Idempotency-Key)",
        by_rule(0, ("record", 1), ("item", 1), ("GSI1 entry", 1), ("outbox", 1)),
        transact(
            {"Put": {"TableName": table, "Item": record, "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Put": {**put_item["Put"], "Item": idempotent_item}},
            outbox_put(ITEM_CREATED, again, None, DEFAULT_STATUS),
        ),
    )
    status = item["status"]["S"]
    moved = "done" if status != "done" else "todo"
    step(
        "PATCH /items/{id} (status change)",
        "PATCH /items/{id} (If-Match)",
        by_rule(1, ("item", 1), ("GSI1 entry moved", 2), ("outbox", 1)),
        read(item_key),
        transact(
            {
                "Update": {
                    "TableName": table,
                    "Key": item_key,
                    "UpdateExpression": "SET #s = :s, updated_at = :u, GSI1PK = :g ADD version :one",
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":s": {"S": moved},
                        ":u": {"S": rfc3339(time.time())},
                        ":g": {"S": keys.status_partition(sub, moved)},
                        ":one": {"N": "1"},
                        ":v": item["version"],
                    },
                }
            },
            outbox_put(ITEM_UPDATED, item_id, status, moved),
        ),
    )
    step(
        "DELETE /items/{id}",
        "DELETE /items/{id}",
        by_rule(1, ("item", 1), ("GSI1 entry", 1), ("outbox", 1)),
        read(item_key),
        transact(
            {"Delete": {"TableName": table, "Key": item_key, "ConditionExpression": "attribute_exists(PK)"}},
            outbox_put(ITEM_DELETED, item_id, moved, None),
        ),
    )
    touch = {
        "TableName": table,
        "Key": profile_key,
        "UpdateExpression": "SET last_seen_at = :t, #session = :s",
        "ExpressionAttributeNames": {"#session": "session"},
        "ExpressionAttributeValues": {":t": {"S": rfc3339(time.time())}, ":s": {"S": "bench-session"}},
    }
    sign_in = outbox_put(USER_SIGNED_IN, None, None, None)
    step(
        "GET /me (a new sign-in session)",
        "GET /me",
        by_rule(1, ("profile", 1), ("outbox", 1)),
        read(profile_key),
        transact({"Update": touch}, sign_in),
    )
    step(
        "GET /me (the same session)",
        "GET /me",
        by_rule(1, ("profile", 1), transaction=False),
        read(profile_key),
        (lambda: client.update_item(**touch), "write"),
    )
    # DynamoDB Local's report of a transaction of several items is not the rule's (it is of a single
    # item write, doubled): shown on two records that touch no index, each under 1 KB.
    step(
        "(probe) two OUTBOX# records, nothing else",
        None,
        by_rule(0, ("outbox", 1), ("outbox", 1)),
        transact(outbox_put(USER_SIGNED_IN, None, None, None), outbox_put(ITEM_CREATED, new_id(), None, "todo")),
    )
    return rows


def by_rule(read: int, *writes: tuple[str, int], transaction: bool = True) -> dict[str, Any]:
    """What DynamoDB bills for a strongly consistent read of ``read`` items under 4 KB and ``writes``
    (what, write units: 1 per KB, an index entry moved 2), doubled in a transaction."""
    units = sum(n for _, n in writes) * (2 if transaction else 1)
    parts = " + ".join(f"{name} {n}" for name, n in writes)
    text = f"2 x ({parts}) = {units}" if transaction else f"{parts} = {units}"
    return {"rule_reads": read, "rule_writes": units, "rule": (f"read {read}; " if read else "") + text}


if __name__ == "__main__":
    figure_main(run)
