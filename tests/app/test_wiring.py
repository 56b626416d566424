"""The composition root (chalicelib/wiring.py): services built from Settings on first use and once, any of
them handed in instead, the consumers app.py declares handed to the embedded queue, and a route loading
only what it uses."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.consumers import forward
from chalicelib.events.base import ACTIVITY
from chalicelib.events.base import TABLE_STREAM
from chalicelib.events.local import WORKER_THREAD_NAME
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from chalicelib.tasks.items import NewItem

PROJECT = Path(__file__).resolve().parents[2]


def _settings(tmp_path, **variables: str) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path / ".data"), **variables})


def test_each_service_is_built_on_first_use_and_only_once_even_from_many_threads(tmp_path):
    services = wiring.Services(_settings(tmp_path))
    barrier = threading.Barrier(8)
    seen = []

    def first_use() -> None:
        barrier.wait()
        seen.append(services.items)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(items is seen[0] for items in seen)
    assert services.store is services.store and services.profiles is services.profiles


def test_a_replacement_handed_in_is_what_the_routes_use(env, api):
    env.install(clock=lambda: 1_800_000_000.0)
    created = api.create("on a fixed clock")
    assert created["created_at"] == "2027-01-15T08:00:00.000Z"


def test_the_process_services_are_replaced_by_bootstrap_and_built_anew_after_reset(env):
    from tests.support.queues import RecordingQueue

    queue = RecordingQueue()
    installed = wiring.bootstrap(queue=queue)
    assert wiring.services() is installed and installed.queue is queue
    wiring.reset()
    assert wiring.services() is not installed and wiring.services() is wiring.services()
    assert wiring.services().queue is not queue


def test_a_deployment_without_a_queue_logs_no_change_and_forwards_nothing_even_with_a_queue_at_hand(tmp_path):
    from tests.support.queues import RecordingQueue

    queue = RecordingQueue()
    services = wiring.Services(_settings(tmp_path, QUEUE="off"), queue=queue, consumers={TABLE_STREAM: forward})
    services.items.create("sub-1", NewItem("quiet"))
    assert services.change_feed is None
    assert services.store.changes(10) == [] and queue.sent == []


def test_with_a_queue_the_store_logs_each_change_and_the_feed_forwards_it(tmp_path):
    from tests.support.queues import RecordingQueue

    queue = RecordingQueue()
    services = wiring.Services(_settings(tmp_path), queue=queue, consumers={TABLE_STREAM: forward})
    try:
        services.items.create("sub-1", NewItem("logged"))
        assert services.change_feed is not None and services.change_feed.drain(10)
        assert [body["type"] for body, _ in queue.sent] == ["item.created"]
        assert services.store.changes(10) == []  # forgotten once forwarded
    finally:
        services.close()


def test_the_embedded_queue_hands_each_batch_and_its_services_to_the_declared_consumer(tmp_path):
    delivered = []

    def consumer(services, event, lambda_context):
        delivered.append((services, [record["body"] for record in event["Records"]], lambda_context))
        return {"batchItemFailures": []}

    services = wiring.Services(_settings(tmp_path), consumers={ACTIVITY: consumer})
    try:
        services.queue.send('{"n": 1}', {})
        assert services.queue.drain(timeout=10)
    finally:
        services.close()
    assert delivered == [(services, ['{"n": 1}'], None)]


def test_closing_the_services_stops_the_embedded_queues_worker_but_not_a_queue_handed_in(tmp_path):
    built = wiring.Services(_settings(tmp_path), consumers={ACTIVITY: lambda services, event, context: None})
    built.queue.send("{}", {})
    assert built.queue.drain(timeout=10)
    assert any(thread.name == WORKER_THREAD_NAME for thread in threading.enumerate())
    built.close()
    assert not any(thread.name == WORKER_THREAD_NAME for thread in threading.enumerate())

    class Handed:
        closed = False

        def close(self):
            self.closed = True

    handed = Handed()
    wiring.Services(_settings(tmp_path), queue=handed).close()
    assert not handed.closed


def test_switched_off_features_are_503_problems_unless_a_replacement_is_handed_in(tmp_path):
    from chalicelib.errors import FeatureDisabled

    off = wiring.Services(_settings(tmp_path, STORE="off", ASSISTANT_PROVIDER="off"))
    with pytest.raises(FeatureDisabled):
        _ = off.store
    with pytest.raises(FeatureDisabled):
        _ = off.assistant
    fake_store = object()
    assert wiring.Services(_settings(tmp_path, STORE="off"), store=fake_store).store is fake_store


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_composition_root_and_the_consumers_do_not_import_each_other():
    assert not {"chalicelib.consumers"} & _imports(PROJECT / "chalicelib" / "wiring.py")
    assert not {"chalicelib.wiring"} & _imports(PROJECT / "chalicelib" / "consumers.py")


def test_xray_is_activated_in_one_place_the_composition_root():
    callers = []
    for path in sorted((PROJECT / "chalicelib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "activate":
                callers.append(path.relative_to(PROJECT).as_posix())
    assert callers == ["chalicelib/wiring.py"]


LOADED = """
import json, sys
from app import app

WATCHED = ("boto3", "botocore", "jwt", "cryptography", "sqlite3", "msgspec", "aws_xray_sdk",
           "chalicelib.events.local", "chalicelib.events.sqs")


class Context:
    aws_request_id = "lambda-request-1"
    function_name = "tasks-api-APIHandler"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tasks-api-APIHandler"

    def get_remaining_time_in_millis(self):
        return 30_000


loaded = []
for event in json.loads(sys.argv[1]):
    status = app(event, Context())["statusCode"]
    loaded.append([event["httpMethod"] + " " + event["path"], status,
                   sorted(name for name in WATCHED if name in sys.modules)])
print("loaded: " + json.dumps(loaded))
"""


def test_health_loads_no_adapter_and_a_read_route_never_loads_the_queue_adapter(tmp_path):
    """In a Lambda of this app with the embedded queue (its adapter is the one that loads apart)."""
    from tests.support.invoke import claims
    from tests.support.invoke import lambda_environment
    from tests.support.invoke import rest_event

    events = [
        rest_event("GET", "/health"),
        rest_event("GET", "/items", claims=claims()),
        rest_event("POST", "/items", body={"title": "x"}, claims=claims()),
    ]
    result = subprocess.run(
        [sys.executable, "-c", LOADED, json.dumps(events)],
        cwd=str(PROJECT),
        capture_output=True,
        text=True,
        timeout=60,
        env=lambda_environment(tmp_path, QUEUE="local", OBSERVABILITY="off"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("loaded: ")]
    health, read, write = json.loads(line[len("loaded: ") :])
    assert health == ["GET /health", 200, []]
    assert read[:2] == ["GET /items", 200] and "sqlite3" in read[2]
    # The queue's adapter loads when the feed first forwards a change (after the write, on its own thread).
    assert not {"chalicelib.events.local", "chalicelib.events.sqs"} & set(read[2]), read
    assert write[:2] == ["POST /items", 201]


def test_services_built_before_app_py_is_imported_still_deliver_to_the_consumers_it_declares(tmp_path):
    code = (
        "from chalicelib import wiring\n"
        "services = wiring.services()\n"
        "import app\n"
        "print('queues:', sorted(services.queue.handlers))\n"
        "services.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(PROJECT),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "", "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / ".data")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "queues: ['activity', 'activity-dlq']" in result.stdout.splitlines()


def test_the_offline_assistant_paces_its_words_as_configured_and_not_at_all_by_default(tmp_path):
    assert wiring.Services(_settings(tmp_path)).provider.delay == 0
    assert wiring.Services(_settings(tmp_path, ASSISTANT_OFFLINE_DELAY_MS="40")).provider.delay == 0.04
    for bad in ("-1", "0.5", "1001", "soon"):
        with pytest.raises(ConfigError, match="ASSISTANT_OFFLINE_DELAY_MS"):
            _settings(tmp_path, ASSISTANT_OFFLINE_DELAY_MS=bad)


def test_a_strongly_consistent_table_gets_a_store_without_transactions_and_eventual_is_the_default(tmp_path):
    assert _settings(tmp_path).table_consistency == "eventual"
    assert wiring.Services(_settings(tmp_path, QUEUE="off")).store.transactions is True
    strong = wiring.Services(_settings(tmp_path, QUEUE="off", TABLE_CONSISTENCY="STRONG"))
    assert strong.settings.table_consistency == "strong"
    assert strong.store.transactions is False
    with pytest.raises(RuntimeError, match="no transactions"):
        strong.store.transact([])
    for bad in ("linearizable", "eventually"):
        with pytest.raises(ConfigError, match="TABLE_CONSISTENCY"):
            _settings(tmp_path, TABLE_CONSISTENCY=bad)
