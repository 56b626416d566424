"""The streaming runtime against a fake Lambda Runtime API (a real HTTP server): the headers Lambda
requires, the framing, chunks that arrive as they are written, error endpoints, and the real entrypoint."""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from pathlib import Path

import pytest

from chalicelib.streaming import runtime
from tests.support.output import Output
from tests.support.runtime_api import StreamingFunction
from tests.support.streaming import PROMPT
from tests.support.streaming import stream_event

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lambda_env(streaming, runtime_api, monkeypatch):
    """The runtime pointed at the fake Runtime API (tokens still verified here: no gateway claims)."""
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", runtime_api.address)
    return runtime_api


def _serve(count: int) -> int:
    return runtime.main(max_invocations=count)


def test_a_response_is_posted_in_streaming_mode_with_the_headers_lambda_requires(lambda_env, token_for, assistant):
    assistant(("Water ", "the ", "plants."))
    request_id = lambda_env.add(stream_event(token=token_for()))
    assert _serve(1) == 0
    posted = lambda_env.wait(lambda_env.responses, request_id)
    assert posted.path == f"/2018-06-01/runtime/invocation/{request_id}/response"
    assert posted.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert posted.headers["Transfer-Encoding"] == "chunked"
    assert posted.headers["Content-Type"] == "application/vnd.awslambda.http-integration-response"
    assert "Content-Length" not in posted.headers
    streamed = posted.streamed()
    assert streamed.status == 200 and streamed.headers["Content-Type"] == "text/event-stream"
    assert [name for name, _ in streamed.events()] == ["token", "token", "token", "done"]
    assert len(posted.chunks) == 5  # the prelude and its delimiter, then one chunk per event
    assert posted.trailers == {}
    assert not lambda_env.errors


def test_chunks_arrive_as_they_are_written_not_when_the_stream_ends(lambda_env, token_for, assistant):
    assistant(tuple(f"t{i} " for i in range(6)), delay=0.05)
    request_id = lambda_env.add(stream_event(token=token_for()))
    _serve(1)
    posted = lambda_env.wait(lambda_env.responses, request_id)
    served = lambda_env.served[request_id]
    arrivals = [at - served for at, _ in posted.chunks]
    first_event, last_event = arrivals[1], arrivals[-1]
    assert last_event >= 0.25  # six 50 ms gaps
    assert first_event < last_event / 2, arrivals
    assert all(later > earlier for earlier, later in itertools.pairwise(arrivals[1:]))


def test_a_problem_goes_through_the_same_streaming_response(lambda_env, assistant):
    assistant()
    request_id = lambda_env.add(stream_event(headers={"X-Request-Id": "req-runtime-401"}))
    _serve(1)
    streamed = lambda_env.wait(lambda_env.responses, request_id).streamed()
    assert streamed.status == 401 and streamed.headers["X-Request-Id"] == "req-runtime-401"
    assert streamed.problem()["code"] == "unauthorized"


def test_each_invocations_trace_id_is_exported_for_xray(lambda_env, token_for, assistant):
    fake = assistant()
    lambda_env.add(stream_event(token=token_for()), trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    _serve(1)
    assert fake.environ_at_call["_X_AMZN_TRACE_ID"] == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    lambda_env.add(stream_event(token=token_for()))
    _serve(1)
    assert fake.environ_at_call["_X_AMZN_TRACE_ID"] is None  # never the previous invocation's


def test_an_event_that_is_not_a_json_object_goes_to_the_error_endpoint_and_the_loop_goes_on(
    lambda_env, token_for, assistant
):
    assistant()
    broken = lambda_env.add(b"this is not json")
    fine = lambda_env.add(stream_event(token=token_for()))
    _serve(2)
    error = lambda_env.wait(lambda_env.errors, broken)
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.InvalidEvent"
    assert json.loads(error.body)["errorType"] == "Runtime.InvalidEvent"
    assert broken not in lambda_env.responses
    assert lambda_env.wait(lambda_env.responses, fine).streamed().status == 200


def test_a_client_gone_mid_stream_is_a_warning_and_the_next_invocation_is_served(
    lambda_env, token_for, assistant, capsys
):
    fake = assistant(tuple(f"t{i} " for i in range(8)), delay=0.02)
    gone = lambda_env.add(stream_event(token=token_for(), headers={"X-Request-Id": "req-gone"}))
    lambda_env.hang_up_after[gone] = 2  # the prelude and the first token, then the connection closes
    fine = lambda_env.add(stream_event(token=token_for()))
    capsys.readouterr()
    assert _serve(2) == 0
    output = Output.parse(capsys.readouterr().out)
    assert fake.closed  # the first generation was stopped
    assert lambda_env.wait(lambda_env.responses, fine).streamed().events()[-1][0] == "done"
    warnings = [line for line in output.at("WARNING") if line["logger"] == "tasks.streaming"]
    assert len(warnings) == 1 and warnings[0]["request_id"] == "req-gone"
    assert not output.at("ERROR")


def test_a_handler_bug_after_the_first_byte_ends_the_body_with_the_error_trailers(lambda_env):
    def broken(event, context, write):
        write(b'{"statusCode":200}' + b"\x00" * 8)
        raise RuntimeError("a bug")

    request_id = lambda_env.add(stream_event())
    runtime.main(max_invocations=1, handler=broken)
    posted = lambda_env.wait(lambda_env.responses, request_id)
    assert posted.trailers["Lambda-Runtime-Function-Error-Type"] == "Runtime.StreamError"
    assert (
        json.loads(base64.b64decode(posted.trailers["Lambda-Runtime-Function-Error-Body"]))["errorType"]
        == "Runtime.StreamError"
    )


def test_a_handler_bug_before_any_byte_goes_to_the_error_endpoint(lambda_env):
    def broken(event, context, write):
        raise RuntimeError("a bug")

    request_id = lambda_env.add(stream_event())
    runtime.main(max_invocations=1, handler=broken)
    error = lambda_env.wait(lambda_env.errors, request_id)
    assert json.loads(error.body)["errorType"] == "Runtime.HandlerError"
    assert request_id not in lambda_env.responses


def test_a_handler_bug_is_logged_once_with_the_marker_the_unhandled_metric_filter_counts(lambda_env, capsys):
    from chalicelib.observability import logs
    from chalicelib.settings import get_settings
    from tests.observability.filter_pattern import matches

    def broken(event, context, write):
        raise RuntimeError("a bug")

    logs.configure(get_settings())
    request_id = lambda_env.add(stream_event())
    capsys.readouterr()
    runtime.serve_one(runtime.RuntimeClient(lambda_env.address), broken, "tasks-api-AssistantStreamHandler")
    lambda_env.wait(lambda_env.errors, request_id)
    [line] = Output.parse(capsys.readouterr().out).at("ERROR")
    assert matches(logs.UNHANDLED_FILTER_PATTERN, json.dumps(line))
    assert line["exc_type"] == "RuntimeError" and "a bug" in line["stack"]


def test_a_configuration_error_is_reported_as_an_init_error(lambda_env, streaming):
    streaming(LOG_LEVEL="LOUD")
    assert runtime.main(max_invocations=1) == 1
    deadline = time.monotonic() + 5
    while not lambda_env.init_errors and time.monotonic() < deadline:
        time.sleep(0.01)
    [posted] = lambda_env.init_errors
    assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.InitError"
    assert "LOG_LEVEL" in json.loads(posted.body)["errorMessage"]


# --- the real entrypoint ------------------------------------------------------------------------------------


def test_python_dash_m_chalicelib_streaming_serves_an_invocation(env, tmp_path, runtime_api):
    """``python -m chalicelib.streaming`` in a fresh interpreter with Lambda's variables, the real
    offline assistant and the local issuer's token (no gateway claims: the handler verifies it)."""
    from chalicelib.auth.local_issuer import mint

    data_dir = tmp_path / ".data"
    env(DATA_DIR=str(data_dir))
    token = mint("alice")  # the issuer's key pair under DATA_DIR, which the child trusts too
    request_id = runtime_api.add(stream_event(token=token, headers={"X-Request-Id": "req-entrypoint"}))
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": runtime_api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "tasks-api-AssistantStreamHandler",
        "AWS_REGION": "us-east-1",
        "DATA_DIR": str(data_dir),
        "STORE": "sqlite",
        "QUEUE": "off",
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(PROJECT),
    }
    with StreamingFunction(tmp_path, child_env) as function:
        posted = runtime_api.wait(runtime_api.responses, request_id, timeout=15)
    stdout, stderr = function.stdout, function.stderr
    streamed = posted.streamed()
    assert streamed.status == 200, (streamed.body, stderr[-3000:])
    events = streamed.events()
    assert events[0][0] == "token" and events[-1][0] == "done"
    assert [name for name, _ in events[1:-1]] == ["token"] * (len(events) - 2)
    assert events[-1][1]["provider"] == "offline"
    assert posted.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    output = Output.parse(stdout)
    [access] = output.access()
    assert access["request_id"] == "req-entrypoint" and access["status"] == 200
    assert access["lambda_request_id"] == request_id
    assert access["function_name"] == "tasks-api-AssistantStreamHandler"
    assert len(output.emf) == 1 and output.emf[0]["Service"] == "assistant-stream"
    assert PROMPT not in stdout and token not in stdout
    assert not output.at("ERROR"), stderr[-3000:]
