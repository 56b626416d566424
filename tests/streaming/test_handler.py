"""The streaming handler on its own: API Gateway's streaming format, server-sent events, problems before
the stream began, one error event after, and what it logs and measures (never the prompt, answer or token)."""

from __future__ import annotations

import json

import pytest

from chalicelib.errors import AppError
from chalicelib.errors import ProviderThrottled
from chalicelib.errors import ProviderUnavailable
from chalicelib.settings import LOCAL_CLIENT_ID
from chalicelib.settings import LOCAL_ISSUER
from tests.support.runtime_api import DELIMITER
from tests.support.streaming import PROMPT
from tests.support.streaming import Recorder
from tests.support.streaming import stream_event

ANSWER = ("Water ", "the ", "plants.")


def _emf(output) -> dict:
    assert len(output.emf) == 1, "exactly one EMF document per invocation"
    return output.emf[0]


def _metric_names(document: dict) -> set[str]:
    return {m["Name"] for directive in document["_aws"]["CloudWatchMetrics"] for m in directive["Metrics"]}


# --- the stream ----------------------------------------------------------------------------------------


def test_a_stream_is_a_prelude_eight_nul_bytes_then_the_tokens_and_one_done(streaming, token_for, assistant, invoke):
    fake = assistant(ANSWER)
    streamed, _ = invoke(stream_event(token=token_for("alice")))
    assert streamed.status == 200
    assert streamed.headers["Content-Type"] == "text/event-stream"
    assert streamed.headers["Cache-Control"] == "no-cache"
    assert streamed.headers["X-Accel-Buffering"] == "no"  # the same headers as the buffered route's
    assert streamed.prelude["cookies"] == []
    assert streamed.events() == [
        ("token", {"text": "Water "}),
        ("token", {"text": "the "}),
        ("token", {"text": "plants."}),
        ("done", {"usage": {"input_tokens": 42, "output_tokens": 7}, "provider": "offline", "model": "fake-model"}),
    ]
    from chalicelib.auth.local_issuer import sub_for

    assert fake.calls == [(sub_for("alice"), PROMPT)]
    assert fake.finished


def test_the_prelude_and_each_event_are_written_as_chunks_of_their_own(streaming, token_for, assistant, invoke):
    assistant(ANSWER)
    streamed, _ = invoke(stream_event(token=token_for()))
    first, *events = streamed.chunks
    assert first.endswith(DELIMITER) and first.count(b"\x00") == 8
    assert json.loads(first[:-8])["statusCode"] == 200
    assert events[0] == b'event: token\ndata: {"text":"Water "}\n\n'
    assert len(events) == len(ANSWER) + 1 and all(chunk.endswith(b"\n\n") for chunk in events)


def test_event_data_is_compact_utf8_json_on_one_line(streaming, token_for, assistant, invoke):
    assistant(("line one\nline two ", "café ☕"))
    streamed, _ = invoke(stream_event(token=token_for()))
    assert streamed.chunks[1] == b'event: token\ndata: {"text":"line one\\nline two "}\n\n'
    assert streamed.chunks[2] == 'event: token\ndata: {"text":"café ☕"}\n\n'.encode()


def test_the_prompt_is_trimmed_and_2000_characters_are_enough(streaming, token_for, assistant, invoke):
    fake = assistant()
    prompt = "x" * 2000
    streamed, _ = invoke(stream_event(token=token_for(), body={"prompt": f"  {prompt}\n"}))
    assert streamed.status == 200
    assert fake.calls[0][1] == prompt


def test_a_base64_encoded_body_is_decoded(streaming, token_for, assistant, invoke):
    import base64

    fake = assistant()
    event = stream_event(token=token_for())
    event["body"], event["isBase64Encoded"] = base64.b64encode(b'{"prompt": "hello"}').decode(), True
    streamed, _ = invoke(event)
    assert streamed.status == 200 and fake.calls[0][1] == "hello"


def test_inside_lambda_the_gateways_verified_claims_identify_the_caller(streaming, assistant, invoke):
    streaming(AWS_LAMBDA_FUNCTION_NAME="tasks-api-AssistantStreamHandler")
    fake = assistant()
    claims = {
        "iss": LOCAL_ISSUER,
        "sub": "gateway-verified-sub",
        "token_use": "access",
        "client_id": LOCAL_CLIENT_ID,
        "username": "alice",
    }
    streamed, _ = invoke(stream_event(claims=claims))
    assert streamed.status == 200
    assert fake.calls[0][0] == "gateway-verified-sub"


def test_allowed_origins_get_cors_headers_on_the_stream(streaming, token_for, assistant, invoke):
    streaming(CORS_ALLOW_ORIGINS="https://app.example")
    assistant()
    streamed, _ = invoke(stream_event(token=token_for(), headers={"Origin": "https://app.example"}))
    assert streamed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-Id" in streamed.headers["Access-Control-Expose-Headers"]


# --- failures before the stream began: ordinary problems ------------------------------------------------


@pytest.mark.parametrize(
    "error, code",
    [
        (ProviderThrottled("slow down"), "provider_throttled"),
        (ProviderUnavailable("no answer"), "provider_unavailable"),
    ],
)
def test_a_provider_failing_before_the_first_event_is_an_ordinary_problem(
    streaming, token_for, assistant, invoke, error, code
):
    assistant(fail_at=0, error=error)
    streamed, output = invoke(stream_event(token=token_for(), headers={"X-Request-Id": "req-problem-1"}))
    assert streamed.status == 503
    assert streamed.headers["Content-Type"] == "application/problem+json"
    assert streamed.headers["X-Request-Id"] == "req-problem-1"
    assert streamed.problem() == {
        "type": "about:blank",
        "title": type(error).title,
        "status": 503,
        "code": code,
        "detail": error.detail,
        "request_id": "req-problem-1",
    }
    assert [line["message"] for line in output.access()] == ["POST /assistant/stream 503"]
    assert not output.at("ERROR")


def test_a_throttled_provider_counts_provider_throttles(streaming, token_for, assistant, invoke):
    assistant(fail_at=0, error=ProviderThrottled())
    _, output = invoke(stream_event(token=token_for()))
    document = _emf(output)
    assert document["ProviderThrottles"] == 1 and document["Provider"] == "offline"
    assert document["UnhandledExceptions"] == 0


def test_an_unhandled_exception_before_the_first_event_is_a_500_problem_logged_once(
    streaming, token_for, assistant, invoke
):
    assistant(fail_at=0, error=KeyError("secret-internal-detail"))
    streamed, output = invoke(stream_event(token=token_for(), headers={"X-Request-Id": "req-500"}))
    assert streamed.status == 500
    problem = streamed.problem()
    assert problem["code"] == "internal_error" and problem["request_id"] == "req-500"
    assert "secret-internal-detail" not in streamed.body.decode()
    [error] = output.at("ERROR")
    assert error["error"] == "unhandled" and error["request_id"] == "req-500" and "KeyError" in error["stack"]
    assert _emf(output)["UnhandledExceptions"] == 1


@pytest.mark.parametrize(
    "authorization, reason",
    [
        (None, "missing_token"),
        ("Bearer garbage", "malformed_token"),
        ("Bearer a.b.c", "malformed_token"),
        ("Basic YWxpY2U6cHc=", "malformed_token"),
    ],
)
def test_a_missing_or_garbage_token_is_a_401_problem_counted_by_reason(
    streaming, assistant, invoke, authorization, reason
):
    fake = assistant()
    headers = {"X-Request-Id": "req-401"}
    if authorization:
        headers["Authorization"] = authorization
    streamed, output = invoke(stream_event(headers=headers))
    assert streamed.status == 401
    assert streamed.headers["WWW-Authenticate"].startswith("Bearer")
    assert streamed.headers["X-Request-Id"] == "req-401"
    problem = streamed.problem()
    assert problem["code"] == "unauthorized" and problem["request_id"] == "req-401"
    assert fake.calls == []
    document = _emf(output)
    assert "ProviderThrottles" not in document  # the provider was never asked
    assert (document["SignInFailures"], document["Reason"], document["Service"]) == (1, reason, "assistant-stream")
    [refused] = [line for line in output.logs if line["message"] == "token refused"]
    assert refused["reason"] == reason and "user" not in refused
    assert all(secret not in output.text for secret in ("garbage", "a.b.c", "YWxpY2U6cHc="))


def test_outside_lambda_gateway_claims_are_not_trusted(streaming, assistant, invoke):
    assistant()
    claims = {"iss": LOCAL_ISSUER, "sub": "forged", "token_use": "access", "client_id": LOCAL_CLIENT_ID}
    streamed, _ = invoke(stream_event(claims=claims))
    assert streamed.status == 401


@pytest.mark.parametrize(
    "body, code, field",
    [
        ("{not json", "invalid_json", None),
        ("", "invalid_json", None),
        ("NaN", "invalid_json", None),
        ({"prompt": ""}, "validation_error", "prompt"),
        ({"prompt": "   \n\t"}, "validation_error", "prompt"),
        ({"prompt": "x" * 2001}, "validation_error", "prompt"),
        ({"prompt": 42}, "validation_error", "prompt"),
        ({}, "validation_error", "prompt"),
        ({"prompt": "hi", "model": "big"}, "validation_error", "model"),
        (["prompt"], "validation_error", "body"),
    ],
)
def test_bad_bodies_are_400_problems_as_on_the_rest_of_the_api(
    streaming, token_for, assistant, invoke, body, code, field
):
    fake = assistant()
    streamed, _ = invoke(stream_event(token=token_for(), body=body, headers={"Content-Type": "application/json"}))
    assert streamed.status == 400
    problem = streamed.problem()
    assert problem["code"] == code
    if field:
        assert field in [error["field"] for error in problem["errors"]]
    assert fake.calls == []


def test_the_same_body_gets_the_same_problem_from_the_buffered_api(streaming, token_for, assistant, invoke):
    """The schema is the API's own (chalicelib/protocol/schemas.py AssistantPrompt), so the errors match."""
    from chalicelib.errors import ValidationFailed
    from chalicelib.protocol import schemas

    assistant()
    body = {"prompt": "  ", "extra": 1}
    streamed, _ = invoke(stream_event(token=token_for(), body=body))
    with pytest.raises(ValidationFailed) as raised:
        schemas.validate(schemas.AssistantPrompt, body)
    problem = streamed.problem()
    assert (problem["detail"], problem["errors"]) == (raised.value.detail, raised.value.errors)


def test_a_body_over_64_kib_is_413(streaming, token_for, assistant, invoke):
    assistant()
    streamed, _ = invoke(stream_event(token=token_for(), body={"prompt": "x" * (64 * 1024)}))
    assert streamed.status == 413 and streamed.problem()["code"] == "payload_too_large"


def test_the_content_type_does_not_matter_as_on_the_apis_assistant_routes(streaming, token_for, assistant, invoke):
    assistant()
    streamed, _ = invoke(
        stream_event(token=token_for(), body='{"prompt": "hi"}', headers={"Content-Type": "text/plain"})
    )
    assert streamed.status == 200


def test_the_assistant_switched_off_is_503_feature_disabled(streaming, token_for, invoke):
    # The composition root decides it, for both entry points (chalicelib/wiring.py).
    streaming(ASSISTANT_PROVIDER="off")
    streamed, output = invoke(stream_event(token=token_for()))
    assert streamed.status == 503 and streamed.problem()["code"] == "feature_disabled"
    assert output.emf[-1].get("ProviderThrottles") is None  # the provider was never called


# --- failures after the stream began: one error event ---------------------------------------------------


def test_a_provider_failure_mid_stream_ends_it_with_one_error_event(streaming, token_for, assistant, invoke):
    assistant(ANSWER, fail_at=2, error=ProviderUnavailable("the model stopped answering"))
    streamed, output = invoke(stream_event(token=token_for()))
    assert streamed.status == 200
    assert streamed.events() == [
        ("token", {"text": "Water "}),
        ("token", {"text": "the "}),
        ("error", {"code": "provider_unavailable", "detail": "the model stopped answering"}),
    ]
    assert not output.at("ERROR")
    [access] = output.access()
    assert access["level"] == "WARNING" and access["status"] == 200
    assert access["stream_error"] == "provider_unavailable" and access["events"] == 3


def test_a_throttle_mid_stream_is_an_error_event_and_counted(streaming, token_for, assistant, invoke):
    assistant(ANSWER, fail_at=1, error=ProviderThrottled())
    streamed, output = invoke(stream_event(token=token_for()))
    assert streamed.events()[-1] == ("error", {"code": "provider_throttled", "detail": "The assistant is busy"})
    assert _emf(output)["ProviderThrottles"] == 1


def test_an_unhandled_exception_mid_stream_is_one_internal_error_event_one_error_line_and_one_count(
    streaming, token_for, assistant, invoke
):
    assistant(ANSWER, fail_at=2, error=RuntimeError("secret-internal-detail"))
    streamed, output = invoke(stream_event(token=token_for(), headers={"X-Request-Id": "req-mid-500"}))
    events = streamed.events()
    assert [name for name, _ in events] == ["token", "token", "error"]
    assert events[-1][1]["code"] == "internal_error"
    assert set(events[-1][1]) == {"code", "detail"}
    assert "secret-internal-detail" not in streamed.body.decode()
    [error] = output.at("ERROR")
    assert error["error"] == "unhandled" and error["request_id"] == "req-mid-500"
    assert error["exc_type"] == "RuntimeError" and "secret-internal-detail" in error["stack"]
    assert [line for line in output.logs if line.get("error") == "unhandled"] == [error]
    assert _emf(output)["UnhandledExceptions"] == 1


def test_a_client_gone_mid_stream_stops_the_generation_and_is_a_warning(streaming, token_for, assistant, invoke):
    fake = assistant(("a", "b", "c", "d"))
    write = Recorder(fail_after=2)  # the prelude and one token got out, then the pipe broke
    streamed, output = invoke(stream_event(token=token_for(), headers={"X-Request-Id": "req-gone"}), write)
    assert streamed.events() == [("token", {"text": "a"})]
    assert fake.closed and not fake.finished
    warnings = output.at("WARNING")
    assert [line["logger"] for line in warnings] == ["tasks.streaming", "tasks.access"]
    assert all(line["request_id"] == "req-gone" for line in warnings)
    assert warnings[1]["client_gone"] is True and warnings[1]["status"] == 200
    assert not output.at("ERROR")


# --- what it logs and measures ----------------------------------------------------------------------------


def test_the_callers_request_id_is_in_the_headers_and_every_log_line(streaming, token_for, assistant, invoke):
    assistant(fail_at=1, error=RuntimeError("boom"))
    streamed, output = invoke(stream_event(token=token_for(), headers={"X-Request-Id": "req-abc.123"}))
    assert streamed.headers["X-Request-Id"] == "req-abc.123"
    assert output.logs and all(line["request_id"] == "req-abc.123" for line in output.logs)
    assert _emf(output)["request_id"] == "req-abc.123"


def test_a_malformed_request_id_is_replaced_by_a_fresh_one(streaming, assistant, invoke):
    assistant()
    streamed, output = invoke(stream_event(headers={"X-Request-Id": "bad id\nwith newline"}))
    given = streamed.headers["X-Request-Id"]
    assert given != "bad id\nwith newline" and len(given) == 32
    assert streamed.problem()["request_id"] == given
    assert output.access()[0]["request_id"] == given


def test_the_access_line_and_metrics_report_the_stream(streaming, token_for, assistant, invoke):
    assistant(ANSWER, provider="bedrock", usage=(120, 30))
    _, output = invoke(stream_event(token=token_for(), headers={"X-Request-Id": "req-metrics"}))
    [access] = output.access()
    assert access["message"] == "POST /assistant/stream 200" and access["level"] == "INFO"
    assert access["status"] == 200 and access["events"] == 4
    assert 0 <= access["ttft_ms"] <= access["latency_ms"]
    assert access["route"] == "/assistant/stream" and access["method"] == "POST"
    assert access["apigw_request_id"] == "apigw-request-1" and access["lambda_request_id"] == "lambda-request-1"
    assert len(access["user"]) == 16  # the pseudonym, never the sub
    document = _emf(output)
    assert document["Service"] == "assistant-stream" and document["Provider"] == "bedrock"
    assert document["TimeToFirstToken"] == access["ttft_ms"]
    assert (document["AssistantInputTokens"], document["AssistantOutputTokens"]) == (120, 30)
    assert document["UnhandledExceptions"] == 0 and document["ProviderThrottles"] == 0
    assert "SignInFailures" not in document and "Reason" not in document
    assert {
        "TimeToFirstToken",
        "AssistantInputTokens",
        "AssistantOutputTokens",
        "ProviderThrottles",
        "UnhandledExceptions",
    } <= _metric_names(document)


def test_logs_never_carry_the_token_the_prompt_or_the_answer(streaming, token_for, assistant, invoke):
    token = token_for("alice")
    prompt = "my secret prompt about the surprise party"
    assistant(("the-secret-answer",), fail_at=1, error=RuntimeError("boom"))
    _, output = invoke(stream_event(token=token, body={"prompt": prompt}))
    assert output.logs
    for text in (token, token.split(".")[2], prompt, "surprise party", "the-secret-answer", "Bearer"):
        assert text not in output.text


def test_with_observability_off_it_streams_and_writes_nothing(env, token_for, assistant, invoke):
    env(OBSERVABILITY="off", METRICS="emf", LOG_FORMAT="json")
    assistant()
    streamed, output = invoke(stream_event(token=token_for()))
    assert streamed.status == 200 and [name for name, _ in streamed.events()][-1] == "done"
    assert output.lines() == []


def test_an_app_error_subclass_keeps_its_own_problem(streaming, token_for, assistant, invoke):
    class Teapot(AppError):
        status, code, title = 418, "teapot", "I'm a teapot"

    assistant(fail_at=0, error=Teapot("short and stout"))
    streamed, _ = invoke(stream_event(token=token_for()))
    assert streamed.status == 418 and streamed.problem()["detail"] == "short and stout"


# --- what it is built from -----------------------------------------------------------------------------


def test_the_streaming_function_uses_the_assistants_core_and_never_the_chalice_edge():
    """What it streams is chalicelib/assistant/stream.py's; the HTTP contract it shares with the API function
    (parsing, CORS, the request state, problem documents) is chalicelib/protocol's, and nothing of
    chalicelib/web (the Chalice edge) or chalice itself is imported."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "chalicelib" / "streaming"
    imported: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert not {name for name in imported if name.startswith(("chalicelib.web", "chalice."))}, imported
    assert {"chalicelib.protocol.requests", "chalicelib.protocol.problems"} <= imported
    assert "chalicelib.assistant.stream" in imported
