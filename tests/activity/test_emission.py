"""Every accepted change to an item announces one event, made from the table's change stream (the outbox);
a rejected request or an idempotent replay announces none (API.md "Activity and stats")."""

from __future__ import annotations

from chalicelib import keys
from chalicelib import wiring
from chalicelib.events.base import TABLE_STREAM


def _create(api, **fields):
    reply = api.post("/items", {"title": "write tests", **fields})
    assert reply.status == 201, reply.json
    return reply.json


def test_a_created_item_announces_item_created_with_its_status(adapter, api, sink):
    item = _create(api, status="in_progress")
    [event] = sink.events
    assert {k: event[k] for k in ("type", "item_id", "at", "status_before", "status_after")} == {
        "type": "item.created",
        "item_id": item["id"],
        "at": item["created_at"],
        "status_before": None,
        "status_after": "in_progress",
    }


def test_a_patch_announces_the_status_before_and_after(adapter, api, sink):
    item = _create(api)
    reply = api.patch(f"/items/{item['id']}", {"status": "done"})
    assert reply.status == 200
    assert reply.json["status"] == "done" and reply.json["version"] == 2  # the item as stored now
    assert api.get(f"/items/{item['id']}").json == reply.json
    event = sink.events[-1]
    assert (event["type"], event["status_before"], event["status_after"], event["at"]) == (
        "item.updated",
        "todo",
        "done",
        reply.json["updated_at"],
    )


def test_a_patch_of_other_fields_announces_an_unchanged_status(adapter, api, sink):
    item = _create(api)
    api.patch(f"/items/{item['id']}", {"title": "renamed"})
    assert (sink.events[-1]["status_before"], sink.events[-1]["status_after"]) == ("todo", "todo")


def test_a_delete_announces_the_status_the_item_had(adapter, api, sink):
    item = _create(api, status="done")
    assert api.delete(f"/items/{item['id']}").status == 204
    event = sink.events[-1]
    assert (event["type"], event["item_id"], event["status_before"], event["status_after"]) == (
        "item.deleted",
        item["id"],
        "done",
        None,
    )


def test_rejected_changes_and_replays_announce_nothing(adapter, api, sink):
    item = _create(api)
    key = {"Idempotency-Key": "k-1"}
    assert api.post("/items", {"title": "once"}, headers=key).status == 201
    announced = len(sink.events)
    assert api.post("/items", {"title": "once"}, headers=key).header("Idempotent-Replayed") == "true"
    assert api.post("/items", {"title": ""}).status == 400
    assert api.patch(f"/items/{item['id']}", {"status": "done"}, headers={"If-Match": '"9"'}).status == 412
    assert api.patch("/items/01JD0000000000000000000000", {"status": "done"}).status == 404
    assert api.delete("/items/01JD0000000000000000000000").status == 404
    assert len(sink.events) == announced


def test_events_carry_the_owner_so_the_consumer_writes_to_their_partition(adapter, api, sink):
    _create(api)
    assert api.post("/items", {"title": "bob's"}, user="bob").status == 201
    subs = [event["sub"] for event in sink.events]
    assert len(set(subs)) == 2


def test_without_a_queue_writes_still_work_and_no_change_is_logged(env, api):
    env(QUEUE="off")
    assert api.post("/items", {"title": "quiet"}).status == 201
    services = wiring.services()
    assert services.change_feed is None
    assert services.store.changes(10) == []


def test_events_carry_the_request_id_of_the_change(adapter, api, sink, recording_queue):
    reply = api.post("/items", {"title": "traced"}, headers={"X-Request-Id": "req-create-1"})
    assert reply.status == 201
    api.patch(f"/items/{reply.json['id']}", {"status": "done"}, headers={"X-Request-Id": "req-patch-1"})
    sink.events  # noqa: B018 - settles the pipeline
    assert [attributes.get("request_id") for _, attributes in recording_queue.sent] == ["req-create-1", "req-patch-1"]
    assert [body.get("request_id") for body, _ in recording_queue.sent] == ["req-create-1", "req-patch-1"]


def test_a_change_forwarded_twice_is_the_same_event(env, api, sink):
    from chalicelib import consumers
    from chalicelib.events.stream import lambda_record
    from tests.support.queues import RecordingQueue

    _create(api)
    [event] = sink.events
    store = wiring.services().store
    sub = event["sub"]
    record = store.get(keys.item_key(sub, event["item_id"]))
    again = RecordingQueue()
    stream_record = lambda_record(keys.item_key(sub, event["item_id"]), None, record, 1.0, "7", TABLE_STREAM)
    services = wiring.Services(queue=again)
    assert consumers.forward(services, {"Records": [stream_record]}) == {"batchItemFailures": []}
    [(body, _)] = again.sent
    assert body["id"] == event["id"] and body == {**event}
