"""Figure 3, in its own process: DynamoDB requests and consumed capacity per route (deployed configuration,
DynamoDB Local); ReturnConsumedCapacity is added by a botocore hook here, never by the app."""

from __future__ import annotations

import json
import time
from typing import Any

from app import app
from bench.harness import figure_main
from bench.harness import rest_event
from bench.workload import gateway_auth
from chalicelib import wiring
from chalicelib.store.dynamodb import DynamoDBStore
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import DEFAULT_STATUS
from chalicelib.vocabulary import ITEM_CREATED

USER = "bench-counter"


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
    return {"rows": rows}


if __name__ == "__main__":
    figure_main(run)
