"""X-Ray: inside Lambda with tracing active the SDK patches botocore and store calls become subsegments
sent to the daemon; anywhere else the SDK (and, at import, any observability code) is never loaded."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.settings import Settings
from tests.support.invoke import PROJECT
from tests.support.invoke import ChildRun
from tests.support.invoke import claims
from tests.support.invoke import item_event
from tests.support.invoke import lambda_environment
from tests.support.invoke import rest_event
from tests.support.invoke import run_in_lambda
from tests.support.invoke import run_python

TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
TRACE_HEADER = f"Root={TRACE_ROOT};Parent={PARENT};Sampled=1"
MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

# Events are recorded, not consumed: the consumer's store calls would add subsegments of their own.
pytestmark = pytest.mark.usefixtures("recording_queue")


def _python(code: str, env: dict[str, str]) -> str:
    result = run_python("-c", code, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def _local_env(tmp_path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / ".data"), **extra}


def _documents(daemon: socket.socket, quiet_for: float = 0.5) -> list[dict[str, Any]]:
    """The segment documents the stand-in daemon received until it was quiet for ``quiet_for`` seconds
    (each packet a JSON header line, then the document)."""
    daemon.settimeout(quiet_for)
    documents: list[dict[str, Any]] = []
    while True:
        try:
            packet = daemon.recv(65535)
        except TimeoutError:
            return documents
        header, _, body = packet.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def _traced_run(
    tmp_path, events: list[dict[str, Any]], handler: str | None = None, **variables: str
) -> tuple[ChildRun, list[dict[str, Any]]]:
    """``events`` through a fresh Lambda process (app.py's ``handler``, default the API) with tracing active
    under TRACE_HEADER: the run, and the segment documents a stand-in X-Ray daemon received."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        env = lambda_environment(
            tmp_path,
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
            _X_AMZN_TRACE_ID=TRACE_HEADER,
            LAMBDA_TASK_ROOT=str(PROJECT),
            **variables,
        )
        run = run_in_lambda(tmp_path, events, env=env, handler=handler)
        documents = _documents(daemon)
    return run, documents


def _create_event() -> dict[str, Any]:
    return rest_event("POST", "/items", body={"title": "traced"}, claims=claims())


@contextmanager
def _unreachable_endpoint() -> Iterator[str]:
    """An http:// endpoint on a bound port nothing listens on: every request to it fails at once."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{closed.getsockname()[1]}"


def test_in_lambda_with_tracing_active_store_calls_are_subsegments_sent_to_the_daemon(tmp_path):
    run, documents = _traced_run(
        tmp_path,
        [
            rest_event(
                "POST", "/items", body={"title": "traced"}, claims=claims(), headers={"X-Request-Id": "trace-me-1"}
            ),
            rest_event("GET", "/items", claims=claims()),
            item_event("DELETE", MISSING_ID, claims=claims()),
        ],
        AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
    )
    assert [r["statusCode"] for r in run.responses] == [201, 200, 404]
    assert "botocore" in run.patched
    by_name = {document["name"]: document for document in documents}
    assert {"store.put", "store.query", "store.delete"} <= set(by_name), documents
    for name in ("store.put", "store.query"):
        subsegment = by_name[name]
        # Sent on its own (streamed) under the function's segment of this trace.
        assert subsegment["type"] == "subsegment"
        assert subsegment["trace_id"] == TRACE_ROOT and subsegment["parent_id"] == PARENT
        assert subsegment["end_time"] >= subsegment["start_time"]
        assert subsegment["annotations"]["operation"] == name.split(".")[1]
    assert by_name["store.put"]["annotations"]["request_id"] == "trace-me-1"
    assert "fault" not in by_name["store.put"] and "error" not in by_name["store.put"]
    # A failed condition is how the domain tells 404 / 412 / a replay apart: annotated, not a fault.
    assert by_name["store.delete"]["annotations"]["condition_failed"] is True
    assert "fault" not in by_name["store.delete"] and "cause" not in by_name["store.delete"]


def test_outside_lambda_the_xray_sdk_is_never_imported_even_with_its_variables_set(tmp_path):
    code = """
import sys
from chalice.test import Client
from app import app
from chalicelib.auth.local_issuer import mint
with Client(app) as client:
    headers = {"Authorization": "Bearer " + mint("alice"), "Content-Type": "application/json"}
    assert client.http.post("/items", headers=headers, body=b'{"title": "x"}').status_code == 201
    assert client.http.get("/items", headers=headers).status_code == 200
print("loaded:", sorted(m for m in sys.modules
                        if m.startswith("aws_xray_sdk") or m == "chalicelib.observability.tracing"))
"""
    out = _python(
        code,
        _local_env(
            tmp_path,
            AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
            _X_AMZN_TRACE_ID=TRACE_HEADER,
            LAMBDA_TASK_ROOT=str(PROJECT),
            METRICS="emf",
        ),
    )
    # The embedded queue's worker may still write its consumer's lines around this one.
    [loaded] = [line for line in out.splitlines() if line.startswith("loaded: ")]
    assert loaded == "loaded: []"


def test_in_lambda_without_tracing_the_sdk_is_not_imported(tmp_path):
    run = run_in_lambda(tmp_path, [rest_event("GET", "/items", claims=claims())])
    assert run.responses[0]["statusCode"] == 200
    assert not [name for name in run.loaded if name.startswith("aws_xray_sdk")]


def test_tracing_off_keeps_the_sdk_out_even_in_a_traced_lambda(tmp_path):
    env = lambda_environment(
        tmp_path,
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:9",
        _X_AMZN_TRACE_ID=TRACE_HEADER,
        LAMBDA_TASK_ROOT=str(PROJECT),
        TRACING="off",
    )
    run = run_in_lambda(tmp_path, [rest_event("GET", "/items", claims=claims())], env=env)
    assert run.responses[0]["statusCode"] == 200
    assert not [name for name in run.loaded if name.startswith("aws_xray_sdk")]


@pytest.mark.parametrize(
    "variables,active",
    [
        ({}, False),
        ({"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000", "_X_AMZN_TRACE_ID": TRACE_HEADER}, False),  # not Lambda
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "_X_AMZN_TRACE_ID": TRACE_HEADER}, False),  # no daemon
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}, False),  # no trace
        (
            {
                "AWS_LAMBDA_FUNCTION_NAME": "f",
                "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
                "_X_AMZN_TRACE_ID": TRACE_HEADER,
            },
            True,
        ),
        (
            {
                "AWS_LAMBDA_FUNCTION_NAME": "f",
                "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
                "_X_AMZN_TRACE_ID": TRACE_HEADER,
                "TRACING": "off",
            },
            False,
        ),
        (
            {
                "AWS_LAMBDA_FUNCTION_NAME": "f",
                "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
                "_X_AMZN_TRACE_ID": TRACE_HEADER,
                "OBSERVABILITY": "off",
            },
            False,
        ),
    ],
)
def test_tracing_is_active_only_in_lambda_with_a_daemon_and_a_trace_header(variables, active):
    assert Settings.from_env(variables).tracing is active


def test_import_app_loads_no_observability_code(tmp_path):
    code = "import sys, app; print(sorted(m for m in sys.modules if m.startswith('chalicelib.observability')))"
    assert _python(code, _local_env(tmp_path)).strip() == "[]"


def test_with_observability_off_a_request_loads_none_of_it_and_writes_no_line(tmp_path):
    env = lambda_environment(
        tmp_path,
        OBSERVABILITY="off",
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:9",
        _X_AMZN_TRACE_ID=TRACE_HEADER,
        LAMBDA_TASK_ROOT=str(PROJECT),
    )
    run = run_in_lambda(tmp_path, [rest_event("GET", "/health")], env=env, runtime_handler=False)
    assert run.responses[0]["statusCode"] == 200
    assert run.loaded == []
    assert run.invocations[0].lines() == []


def test_a_traced_store_passes_everything_but_the_operations_through():
    from chalicelib.observability.tracing import STORE_OPERATIONS
    from chalicelib.observability.tracing import TracedStore

    class Recorder:
        def __init__(self):
            self.opened = []

        def begin_subsegment(self, name):
            self.opened.append(name)
            return None  # what the SDK returns when there is no segment (context missing)

        def end_subsegment(self):
            raise AssertionError("nothing to end")

    class Store:
        table_name = "t"

        def get(self, key):
            return {"key": key}

        def ensure_schema(self):
            return "schema"

    recorder = Recorder()
    traced = TracedStore(Store(), recorder)
    assert traced.get("k") == {"key": "k"} and traced.table_name == "t" and traced.ensure_schema() == "schema"
    assert recorder.opened == ["store.get"]
    assert {"get", "query", "put", "update", "delete", "transact"} == STORE_OPERATIONS


@pytest.mark.parametrize("transport", ["boto3", "lean"])
def test_each_dynamodb_request_is_an_aws_subsegment_under_its_store_subsegment(tmp_path, dynamodb_endpoint, transport):
    # boto3's from the SDK's botocore patch, the lean transport's from tracing.aws_call: the same record.
    table = {"STORE": "dynamodb", "TABLE_NAME": f"traced-{os.urandom(4).hex()}", "DYNAMODB_TRANSPORT": transport}
    run, documents = _traced_run(tmp_path, [_create_event()], DYNAMODB_ENDPOINT_URL=dynamodb_endpoint, **table)
    assert run.responses[0]["statusCode"] == 201
    store_put = next(d for d in documents if d["name"] == "store.put")
    calls = [d for d in documents if d.get("namespace") == "aws" and d["parent_id"] == store_put["id"]]
    assert [(d["name"], d["aws"]["operation"]) for d in calls] == [("dynamodb", "PutItem")], documents
    assert calls[0]["trace_id"] == TRACE_ROOT
    assert calls[0]["aws"]["table_name"] == table["TABLE_NAME"] and calls[0]["aws"]["region"] == "us-east-1"
    assert calls[0]["http"]["response"]["status"] == 200 and calls[0]["aws"]["request_id"]


def test_the_lean_transport_records_each_request_as_an_aws_subsegment_and_sends_its_trace_header(tmp_path):
    """DYNAMODB_TRANSPORT=lean sends no request through botocore: its own subsegments are those the SDK's
    botocore patch writes (namespace aws, the operation, table, region, request id, retries, status; an
    error reply a remote fault), and each request carries that subsegment's X-Amzn-Trace-Id, as botocore's
    patched requests do."""
    from tests.support.dynamodb_stub import REQUEST_ID
    from tests.support.dynamodb_stub import running_stub

    with running_stub() as dynamodb:
        dynamodb.replies.extend(
            [
                (200, {"Items": [], "Count": 0, "ScannedCount": 0}),
                (400, {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "no"}),
            ]
        )
        run, documents = _traced_run(
            tmp_path,
            [rest_event("GET", "/items", claims=claims()), item_event("DELETE", MISSING_ID, claims=claims())],
            STORE="dynamodb",
            TABLE_NAME="tasks",
            DYNAMODB_TRANSPORT="lean",
            AWS_ENDPOINT_URL_DYNAMODB=dynamodb.url,
            AWS_MAX_ATTEMPTS="1",
        )
        requests = list(dynamodb.requests)
    assert [r["statusCode"] for r in run.responses] == [200, 404], run.responses
    by_name = {d["name"]: d for d in documents if d["name"].startswith("store.")}
    calls = [d for d in documents if d.get("namespace") == "aws"]
    assert [(d["name"], d["aws"]["operation"]) for d in calls] == [("dynamodb", "Query"), ("dynamodb", "DeleteItem")]
    query, delete = calls
    assert query["type"] == "subsegment" and query["trace_id"] == TRACE_ROOT
    assert query["parent_id"] == by_name["store.query"]["id"] and delete["parent_id"] == by_name["store.delete"]["id"]
    assert query["aws"] == {
        "operation": "Query",
        "region": "us-east-1",
        "request_id": REQUEST_ID,
        "retries": 0,
        # The parameters the SDK's whitelist records for a Query, as the botocore patch records them.
        "table_name": "tasks",
        "consistent_read": True,
        "limit": query["aws"]["limit"],
        "scan_index_forward": False,
    }
    assert query["http"] == {"response": {"status": 200}} and "fault" not in query and "error" not in query
    # An error reply: its status, and the exception as a remote one, as the botocore patch records it.
    assert delete["http"] == {"response": {"status": 400}} and delete["error"] is True
    assert delete["aws"]["table_name"] == "tasks" and delete["aws"]["request_id"] == REQUEST_ID
    [exception] = delete["cause"]["exceptions"]
    assert exception["remote"] is True and "ConditionalCheckFailedException" in exception["message"]
    # Each request carried its own subsegment's trace header (unsigned, as botocore leaves it).
    sent = [headers["x-amzn-trace-id"] for headers, _ in requests]
    assert sent == [f"Root={TRACE_ROOT};Parent={d['id']};Sampled=1" for d in calls]
    assert all("x-amzn-trace-id" not in headers["authorization"] for headers, _ in requests)
    assert "botocore" in run.patched  # for SQS and Bedrock; the lean requests never went through it


def test_a_failing_store_call_is_recorded_as_a_fault_on_its_subsegment():
    from chalicelib.errors import StoreUnavailable
    from chalicelib.observability.tracing import TracedStore

    class Subsegment:
        def __init__(self):
            self.annotations, self.exceptions = {}, []

        def put_annotation(self, key, value):
            self.annotations[key] = value

        def add_exception(self, exception, stack):
            self.exceptions.append((exception, stack))

    class Recorder:
        def __init__(self):
            self.subsegment, self.ended = Subsegment(), 0

        def begin_subsegment(self, name):
            return self.subsegment

        def end_subsegment(self):
            self.ended += 1

    class Store:
        def put(self, op):
            raise StoreUnavailable("throttled")

    recorder = Recorder()
    with pytest.raises(StoreUnavailable):
        TracedStore(Store(), recorder).put("op")
    [(exception, stack)] = recorder.subsegment.exceptions
    assert isinstance(exception, StoreUnavailable) and stack
    assert recorder.subsegment.annotations["operation"] == "put" and recorder.ended == 1


def test_patched_botocore_records_the_forwarders_sqs_send_in_its_invocations_trace(tmp_path):
    # Nothing listens on the queue's endpoint: the send fails (the forwarder reports the change, which the
    # stream hands over again), and its SendMessage subsegment is in the invocation's trace all the same.
    from chalicelib.events.base import TABLE_STREAM
    from chalicelib.events.stream import lambda_record
    from chalicelib.keys import item_key

    item = {"id": MISSING_ID, "status": "todo", "version": 1, "created_at": "2026-11-28T10:00:00.000Z"}
    record = lambda_record(item_key("sub-1", MISSING_ID), None, item, 1796000000.0, "4200", TABLE_STREAM)
    with _unreachable_endpoint() as endpoint:
        run, documents = _traced_run(
            tmp_path,
            [{"Records": [record]}],
            handler="on_table_change",
            QUEUE="sqs",
            ACTIVITY_QUEUE_URL=f"{endpoint}/123456789012/activity",
            AWS_ENDPOINT_URL_SQS=endpoint,
            AWS_MAX_ATTEMPTS="1",
        )
    assert run.responses[0] == {"batchItemFailures": [{"itemIdentifier": "4200"}]}
    sends = [d for d in documents if d.get("namespace") == "aws" and d.get("aws", {}).get("operation") == "SendMessage"]
    assert len(sends) == 1, documents
    assert sends[0]["trace_id"] == TRACE_ROOT and sends[0]["name"] == "sqs"
    [retried] = [line for line in run.invocations[0].logs if line["message"].startswith("change not forwarded")]
    assert retried["level"] == "WARNING"


def test_patched_botocore_records_the_assistants_bedrock_call_in_the_requests_trace(tmp_path):
    # Nothing listens on Bedrock's endpoint: the caller gets 503 provider_unavailable, and the
    # ConverseStream subsegment is in the request's trace.
    with _unreachable_endpoint() as endpoint:
        run, documents = _traced_run(
            tmp_path,
            [rest_event("POST", "/assistant", body={"prompt": "what first?"}, claims=claims())],
            ASSISTANT_PROVIDER="bedrock",
            AWS_ENDPOINT_URL_BEDROCK_RUNTIME=endpoint,
            AWS_MAX_ATTEMPTS="1",
        )
    assert run.responses[0]["statusCode"] == 503
    assert json.loads(run.responses[0]["body"])["code"] == "provider_unavailable"
    calls = [
        d for d in documents if d.get("namespace") == "aws" and d.get("aws", {}).get("operation") == "ConverseStream"
    ]
    assert len(calls) == 1, documents
    assert calls[0]["trace_id"] == TRACE_ROOT
    assert {"store.query"} <= {d["name"] for d in documents}  # the context read, traced as well


def test_the_streaming_function_traces_each_invocation_under_that_invocations_trace_id(tmp_path):
    """``python -m chalicelib.streaming`` starts before any trace id exists (Lambda hands one over with
    each invocation): every invocation's store calls are subsegments of its own trace all the same."""
    from tests.support.runtime_api import FakeRuntimeApi
    from tests.support.runtime_api import StreamingFunction
    from tests.support.streaming import stream_event

    other_root = "1-5759e988-0123456789abcdef01234567"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon, FakeRuntimeApi() as runtime_api:
        daemon.bind(("127.0.0.1", 0))
        env = lambda_environment(
            tmp_path,
            AWS_LAMBDA_FUNCTION_NAME="tasks-api-AssistantStreamHandler",
            AWS_LAMBDA_RUNTIME_API=runtime_api.address,
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
            LAMBDA_TASK_ROOT=str(PROJECT),
            AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
            PYTHONPATH=str(PROJECT),
        )
        assert "_X_AMZN_TRACE_ID" not in env
        first = runtime_api.add(stream_event(claims=claims()), trace_id=TRACE_HEADER)
        second = runtime_api.add(stream_event(claims=claims()), trace_id=f"Root={other_root};Parent={PARENT};Sampled=1")
        with StreamingFunction(tmp_path, env) as function:
            statuses = [
                runtime_api.wait(runtime_api.responses, request_id, timeout=30).streamed().status
                for request_id in (first, second)
            ]
            documents = _documents(daemon)
    assert statuses == [200, 200], function.stderr[-3000:]
    reads = [d for d in documents if d["name"] == "store.query"]
    assert [(d["trace_id"], d["parent_id"]) for d in reads] == [(TRACE_ROOT, PARENT), (other_root, PARENT)], documents
