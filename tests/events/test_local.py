"""The embedded activity queue on a real SQLite file: delivery in Lambda SQS batches, partial failures,
retries, the dead-letter queue, durability, and exactly-once delivery under contention."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter

import pytest

from chalicelib.errors import QueueUnavailable
from chalicelib.events import local
from chalicelib.events.base import ACTIVITY
from chalicelib.events.base import DEAD_LETTERS
from chalicelib.events.local import LocalQueue
from tests.support.queues import Recorder

REQUEST_ID = {"request_id": "req-123"}


def send_all(queue: LocalQueue, bodies: list[str]) -> list[str]:
    return [queue.send(body, REQUEST_ID) for body in bodies]


def enqueue_without_consumers(make_queue, bodies: list[str]) -> list[str]:
    """Send with no handler registered, then close: the messages wait, all visible, for the next
    instance, so its first claim sees every one of them at once."""
    producer = make_queue()
    ids = send_all(producer, bodies)
    producer.close()
    return ids


# --- delivery --------------------------------------------------------------------------------


def test_a_sent_message_reaches_the_activity_handler_as_a_lambda_sqs_record(make_queue):
    handler = Recorder()
    queue = make_queue({ACTIVITY: handler})
    body = json.dumps({"type": "item.created", "item_id": "i-1"})

    message_id = queue.send(body, REQUEST_ID)

    assert queue.drain(timeout=5)
    [record] = handler.records
    assert record["messageId"] == message_id
    assert record["body"] == body
    assert record["messageAttributes"]["request_id"]["stringValue"] == "req-123"
    assert record["messageAttributes"]["request_id"]["dataType"] == "String"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:local:000000000000:activity"
    assert queue.pending() == 0


def test_messages_are_delivered_in_batches_of_at_most_batch_size(make_queue):
    ids = enqueue_without_consumers(make_queue, [f"m{n}" for n in range(25)])
    handler = Recorder()
    queue = make_queue({ACTIVITY: handler}, batch_size=10)

    assert queue.drain(timeout=5)
    assert [len(event["Records"]) for event in handler.events] == [10, 10, 5]
    assert [record["messageId"] for record in handler.records] == ids  # oldest first


def test_constructing_a_queue_touches_no_file_and_starts_no_thread(make_queue, queue_path):
    queue = make_queue({ACTIVITY: Recorder()})

    assert not os.path.exists(os.path.dirname(queue_path))
    assert queue.worker.thread is None

    queue.send("{}", {})

    assert queue.worker.thread is not None and queue.worker.thread.daemon
    assert queue.worker.thread.name == local.WORKER_THREAD_NAME


# --- failures and retries --------------------------------------------------------------------


def test_a_partial_failure_redelivers_only_the_failed_message(make_queue):
    enqueue_without_consumers(make_queue, ["a", "b", "c"])
    handler = Recorder(fail=lambda record, call: record["body"] == "b" and call == 1)
    queue = make_queue({ACTIVITY: handler})

    assert queue.drain(timeout=5)
    first, second = handler.events
    assert [r["body"] for r in first["Records"]] == ["a", "b", "c"]
    [retried] = second["Records"]
    assert retried["body"] == "b"
    assert retried["messageId"] == first["Records"][1]["messageId"]
    assert retried["attributes"]["ApproximateReceiveCount"] == "2"
    assert Counter(handler.bodies()) == {"a": 1, "b": 2, "c": 1}


def test_a_raising_handler_gets_the_whole_batch_again(make_queue):
    enqueue_without_consumers(make_queue, ["a", "b"])
    handler = Recorder(raises=lambda event, call: call == 1)
    queue = make_queue({ACTIVITY: handler})

    assert queue.drain(timeout=5)
    first, second = handler.events
    assert [r["messageId"] for r in second["Records"]] == [r["messageId"] for r in first["Records"]]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second["Records"]} == {"2"}


def test_a_malformed_batch_response_fails_the_whole_batch(make_queue):
    enqueue_without_consumers(make_queue, ["a", "b"])
    calls = []

    def handler(event):
        calls.append([r["body"] for r in event["Records"]])
        return {"batchItemFailures": ["not-an-object"]} if len(calls) == 1 else None

    queue = make_queue({ACTIVITY: handler})

    assert queue.drain(timeout=5)
    assert calls == [["a", "b"], ["a", "b"]]


def test_an_unknown_item_identifier_fails_the_whole_batch_as_lambda_does(make_queue, caplog):
    caplog.set_level(logging.WARNING, logger="tasks.events")
    bodies = []

    def handler(event):
        bodies.extend(r["body"] for r in event["Records"])
        if len(bodies) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}
        return None

    queue = make_queue({ACTIVITY: handler})

    queue.send("a", {})

    assert queue.drain(timeout=5)
    assert bodies == ["a", "a"]  # retried, not lost
    warning = next(r for r in caplog.records if r.name == "tasks.events")
    assert warning.message_ids == ["no-such-message"]


def test_failed_messages_back_off_exponentially(make_queue):
    seen: list[float] = []

    def handler(event):
        seen.append(time.monotonic())
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]] if len(seen) < 3 else []
        }

    queue = make_queue({ACTIVITY: handler}, retry_delay=0.15)
    queue.send("a", {})

    assert queue.drain(timeout=5)
    assert len(seen) == 3
    assert seen[1] - seen[0] >= 0.15 - 0.005  # retry_delay * 2**0
    assert seen[2] - seen[1] >= 0.30 - 0.005  # retry_delay * 2**1


# --- the dead-letter queue -------------------------------------------------------------------


def test_after_max_receives_a_message_reaches_the_dead_letter_handler_exactly_once(make_queue):
    activity = Recorder(fail=lambda record, call: record["body"] == "poison")
    dead_letters = Recorder()
    queue = make_queue({ACTIVITY: activity, DEAD_LETTERS: dead_letters}, max_receives=3)

    poison_id = queue.send("poison", REQUEST_ID)
    queue.send("fine", REQUEST_ID)

    assert queue.drain(timeout=5)
    time.sleep(0.1)  # a few more polls: nothing may come back
    assert Counter(activity.bodies()) == {"poison": 3, "fine": 1}
    [dead] = dead_letters.records
    assert dead["messageId"] == poison_id
    assert dead["body"] == "poison"
    assert dead["messageAttributes"]["request_id"]["stringValue"] == "req-123"
    assert dead["attributes"]["ApproximateReceiveCount"] == "1"
    assert dead["eventSourceARN"] == "arn:aws:sqs:local:000000000000:activity-dlq"
    assert queue.pending(ACTIVITY) == queue.pending(DEAD_LETTERS) == 0


def test_dead_letters_wait_in_their_queue_when_nothing_consumes_them(make_queue):
    queue = make_queue({ACTIVITY: Recorder(fail=lambda record, call: True)}, max_receives=2)

    queue.send("poison", {})

    assert queue.drain(timeout=5)  # drain does not wait for a queue nobody consumes
    assert queue.pending(ACTIVITY) == 0
    assert queue.pending(DEAD_LETTERS) == 1


def test_a_failing_dead_letter_keeps_retrying_in_its_queue_and_never_moves_on(make_queue):
    dead_letters = Recorder(fail=lambda record, call: call <= 3)
    queue = make_queue({ACTIVITY: Recorder(fail=lambda record, call: True), DEAD_LETTERS: dead_letters}, max_receives=1)

    queue.send("poison", {})

    assert queue.drain(timeout=5)
    counts = [r["attributes"]["ApproximateReceiveCount"] for r in dead_letters.records]
    assert counts == ["1", "2", "3", "4"]  # past max_receives, still in the dead-letter queue


# --- durability and contention ---------------------------------------------------------------


def test_messages_survive_close_and_are_delivered_by_a_new_instance(make_queue, queue_path):
    ids = enqueue_without_consumers(make_queue, ["one", "two"])
    handler = Recorder()
    reopened = make_queue({ACTIVITY: handler})

    assert reopened.pending() == 2
    assert reopened.drain(timeout=5)
    assert [r["messageId"] for r in handler.records] == ids
    assert [r["body"] for r in handler.records] == ["one", "two"]


def test_two_instances_on_one_file_never_deliver_a_message_concurrently(make_queue):
    lock = threading.Lock()
    in_flight: set[str] = set()
    overlaps: list[str] = []
    deliveries: Counter[str] = Counter()
    by_instance: Counter[str] = Counter()

    def slow(name):
        def handler(event):
            ids = [r["messageId"] for r in event["Records"]]
            with lock:
                overlaps.extend(i for i in ids if i in in_flight)
                in_flight.update(ids)
                deliveries.update(ids)
                by_instance[name] += len(ids)
            time.sleep(0.01)
            with lock:
                in_flight.difference_update(ids)

        return handler

    first = make_queue({ACTIVITY: slow("first")}, batch_size=2)
    second = make_queue({ACTIVITY: slow("second")}, batch_size=2)
    second.drain(timeout=0)  # start its worker: it polls the shared file
    ids = send_all(first, [f"m{n}" for n in range(40)])

    assert first.drain(timeout=10) and second.drain(timeout=10)
    assert overlaps == []
    assert deliveries == Counter(dict.fromkeys(ids, 1))
    assert by_instance["first"] > 0 and by_instance["second"] > 0


def test_sends_from_many_threads_are_each_delivered_exactly_once(make_queue):
    handler = Recorder()
    queue = make_queue({ACTIVITY: handler})
    sent: list[str] = []
    lock = threading.Lock()

    def producer(worker: int) -> None:
        for n in range(25):
            message_id = queue.send(json.dumps({"worker": worker, "n": n}), REQUEST_ID)
            with lock:
                sent.append(message_id)

    threads = [threading.Thread(target=producer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert queue.drain(timeout=10)
    assert len(sent) == len(set(sent)) == 200
    assert Counter(r["messageId"] for r in handler.records) == Counter(dict.fromkeys(sent, 1))


# --- drain, close, errors --------------------------------------------------------------------


def test_drain_returns_true_at_once_when_the_queue_is_empty(make_queue):
    queue = make_queue({ACTIVITY: Recorder()})

    started = time.monotonic()
    assert queue.drain(timeout=5)
    assert time.monotonic() - started < 1


def test_drain_returns_false_on_timeout_while_a_message_keeps_failing(make_queue):
    handler = Recorder(fail=lambda record, call: True)
    queue = make_queue({ACTIVITY: handler}, max_receives=1000)
    queue.send("a", {})

    started = time.monotonic()
    assert queue.drain(timeout=0.3) is False
    assert 0.3 <= time.monotonic() - started < 2
    assert queue.pending() == 1
    assert len(handler.events) >= 2


def test_close_is_idempotent_and_the_queue_works_again_after_it(make_queue):
    handler = Recorder()
    queue = make_queue({ACTIVITY: handler})
    queue.send("before", {})
    assert queue.drain(timeout=5)

    queue.close()
    queue.close()
    assert queue.worker.thread is None

    queue.send("after", {})
    assert queue.drain(timeout=5)
    assert handler.bodies() == ["before", "after"]


def test_send_on_an_unwritable_path_raises_queue_unavailable(make_queue, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    queue = make_queue({ACTIVITY: Recorder()}, path=str(blocker / "events.db"))

    with pytest.raises(QueueUnavailable) as raised:
        queue.send("{}", REQUEST_ID)
    assert isinstance(raised.value.__cause__, (OSError, sqlite3.Error))


def test_an_error_in_the_worker_loop_is_logged_and_the_worker_goes_on(make_queue, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="tasks.events")
    monkeypatch.setattr(local, "ERROR_PAUSE_SECONDS", 0.01)
    handler = Recorder()
    queue = make_queue({ACTIVITY: handler})
    real_claim = queue._claim
    failures = iter([True])

    def flaky_claim(name):
        if next(failures, False):
            raise RuntimeError("disk hiccup")
        return real_claim(name)

    monkeypatch.setattr(queue, "_claim", flaky_claim)
    queue.send("a", {})

    assert queue.drain(timeout=5)
    assert handler.bodies() == ["a"]
    assert any(r.error_type == "RuntimeError" for r in caplog.records if r.name == "tasks.events")


def test_a_raising_handler_is_logged_once_by_type_and_ids_never_with_the_body(make_queue, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "buy milk for alice@example.com"

    def handler(event):
        if event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1":
            raise ValueError(f"cannot handle {event['Records'][0]['body']}")

    queue = make_queue({ACTIVITY: handler})
    message_id = queue.send(json.dumps({"title": secret}), REQUEST_ID)

    assert queue.drain(timeout=5)
    [warning] = [r for r in caplog.records if r.name == "tasks.events"]
    assert warning.levelno == logging.WARNING
    assert warning.error_type == "ValueError"
    assert warning.message_ids == [message_id]
    assert warning.exc_info is None
    assert secret not in caplog.text
    assert all(secret not in repr(vars(r)) for r in caplog.records)
