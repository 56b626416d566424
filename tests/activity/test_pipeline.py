"""The whole activity path on embedded defaults: item changes through the API, the store's change log and
the feed, the forwarder, the embedded queue and its worker thread, the consumer, and the caller's STATS and
ACTIVITY# records (both store adapters)."""

from __future__ import annotations

import json

from chalicelib import consumers
from chalicelib import wiring
from chalicelib.events.base import ACTIVITY
from chalicelib.events.base import DEAD_LETTERS
from chalicelib.events.local import LocalQueue
from tests.support.activity import activity_of
from tests.support.activity import counters
from tests.support.activity import settle
from tests.support.activity import sign_ins
from tests.support.output import Output


def test_item_changes_reach_stats_and_activity_through_the_embedded_queue(adapter, table_consistency, api):
    created = [api.post("/items", {"title": f"task {n}"}).json for n in range(3)]
    assert api.patch(f"/items/{created[0]['id']}", {"status": "done"}).status == 200
    assert api.delete(f"/items/{created[1]['id']}").status == 204
    sub = api.get("/me").json["sub"]
    settle()
    assert counters(sub) == {"todo": 1, "in_progress": 0, "done": 1, "total": 2}
    kinds = sorted(record["type"] for record in activity_of(sub))
    assert kinds == ["item.created"] * 3 + ["item.deleted", "item.updated", "user.signed_in"]
    assert sign_ins(sub) == 1


def test_a_message_delivered_twice_is_applied_once(env, table_consistency, api):
    item = api.post("/items", {"title": "once"}).json
    queue = wiring.services().queue
    sub = api.get("/me").json["sub"]
    settle()
    [record] = [record for record in activity_of(sub) if record["type"] == "item.created"]
    # At-least-once delivery: the same event arrives again as a new message.
    event = {
        "v": 1,
        "id": record["id"],
        "type": "item.created",
        "sub": sub,
        "item_id": item["id"],
        "at": record["at"],
        "status_before": None,
        "status_after": "todo",
    }
    queue.send(json.dumps(event), {})
    assert queue.drain(timeout=20)
    assert len(activity_of(sub)) == 2 and counters(sub)["total"] == 1  # the item's event and the sign-in


def test_a_poison_message_ends_in_the_dead_letter_consumer_which_logs_and_counts_it(env, tmp_path, capsys):
    env(LOG_FORMAT="json", METRICS="emf")
    services = wiring.services()
    queue = LocalQueue(
        str(tmp_path / "queue.db"),
        {
            ACTIVITY: lambda event: consumers.activity(services, event),
            DEAD_LETTERS: lambda event: consumers.dead_letters(services, event),
        },
        max_receives=3,
        retry_delay=0.01,
    )
    capsys.readouterr()
    try:
        queue.send("{not an event", {"request_id": "poisoned-1"})
        assert queue.drain(timeout=20)
    finally:
        queue.close()
    out = Output.parse(capsys.readouterr().out)
    failures = [line for line in out.logs if line.get("code") == "invalid_event"]
    assert len(failures) == 3 and {line["request_id"] for line in failures} == {"poisoned-1"}
    [dead] = out.at("ERROR")
    assert (dead["error"], dead["request_id"]) == ("dead_letter", "poisoned-1")
    assert sum(doc.get("DeadLetterMessages", 0) for doc in out.emf) == 1
    assert queue.pending(ACTIVITY) == 0 and queue.pending(DEAD_LETTERS) == 0
