"""The Bedrock provider up to the wire: its request checked against botocore's own ConverseStream
model and serialized by botocore, synthetic binary event streams parsed by botocore, failures
translated. Nothing here talks to Bedrock."""

from __future__ import annotations

import json
import socket

import pytest

from chalicelib.assistant.base import Token
from chalicelib.assistant.base import Usage
from chalicelib.errors import ProviderThrottled
from chalicelib.errors import ProviderUnavailable
from tests.support.assistant import answer_events
from tests.support.assistant import event
from tests.support.assistant import exception
from tests.support.invoke import run_python

SYSTEM = 'You answer about these items.\n<items>\n{"title":"Pay rent"}\n</items>'
PROMPT = "what should I do first today?"
REALISTIC_USAGE = {"inputTokens": 812, "outputTokens": 9, "totalTokens": 821}


def _run(provider, *, prompt: str = PROMPT, max_tokens: int = 400) -> list:
    return list(provider.stream(SYSTEM, prompt, max_tokens=max_tokens))


def test_the_request_is_valid_for_botocores_converse_stream_model(bedrock, aws):
    from botocore.validate import validate_parameters

    aws.streams(answer_events(["Hi"], usage=REALISTIC_USAGE))
    _run(bedrock, max_tokens=123)
    [sent] = aws.params
    assert sent == bedrock.request(SYSTEM, PROMPT, max_tokens=123)
    assert sent == {
        "modelId": "amazon.nova-micro-v1:0",
        "system": [{"text": SYSTEM}],
        "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
        "inferenceConfig": {"maxTokens": 123},
    }
    shape = bedrock.client.meta.service_model.operation_model("ConverseStream").input_shape
    validate_parameters(sent, shape)  # raises ParamValidationError on any mismatch


def test_the_request_goes_to_the_regional_converse_stream_uri_as_json(bedrock, aws):
    aws.streams(answer_events(["Hi"], usage=REALISTIC_USAGE))
    _run(bedrock)
    [request] = aws.requests
    assert request.method == "POST"
    assert request.url == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-micro-v1%3A0/converse-stream"
    )
    signature = request.headers["Authorization"].decode()  # signed with the dummy key for Bedrock's scope
    assert signature.startswith("AWS4-HMAC-SHA256 Credential=testing/") and "/us-east-1/bedrock/" in signature
    assert json.loads(request.body) == {
        "system": [{"text": SYSTEM}],
        "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
        "inferenceConfig": {"maxTokens": 400},
    }


def test_a_streamed_answer_becomes_tokens_then_one_usage(bedrock, aws):
    aws.streams(answer_events(["Start with", " “Pay rent”", ":\n1. it is", " overdue."], usage=REALISTIC_USAGE))
    chunks = _run(bedrock)
    assert chunks == [
        Token("Start with"),
        Token(" “Pay rent”"),
        Token(":\n1. it is"),
        Token(" overdue."),
        Usage(input_tokens=812, output_tokens=9),
    ]
    assert aws.bodies[0].closed


def test_empty_and_non_text_deltas_are_not_tokens(bedrock, aws):
    messages = answer_events(["", "Hello"], usage=REALISTIC_USAGE)
    messages.insert(
        1, event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "thinking"}}})
    )
    aws.streams(messages)
    assert _run(bedrock) == [Token("Hello"), Usage(812, 9)]


def test_without_metadata_usage_is_estimated_from_words_in_and_deltas_out(bedrock, aws):
    aws.streams(answer_events(["One", " two", " three"]))
    *tokens, usage = _run(bedrock)
    assert len(tokens) == 3
    assert usage == Usage(input_tokens=len(SYSTEM.split()) + len(PROMPT.split()), output_tokens=3)


def test_throttling_before_the_stream_is_retried_once_then_provider_throttled(bedrock, aws, no_backoff):
    aws.fails(429, "ThrottlingException", "Too many requests, please wait before trying again.")
    aws.fails(429, "ThrottlingException", "Too many requests, please wait before trying again.")
    with pytest.raises(ProviderThrottled) as raised:
        _run(bedrock)
    assert len(aws.requests) == 2  # total_max_attempts=2: one retry
    assert raised.value.code == "provider_throttled" and "ThrottlingException" in raised.value.detail
    assert raised.value.__cause__ is not None


def test_a_retried_throttle_that_then_succeeds_streams_normally(bedrock, aws, no_backoff):
    aws.fails(429, "ThrottlingException")
    aws.streams(answer_events(["Fine"], usage=REALISTIC_USAGE))
    assert _run(bedrock) == [Token("Fine"), Usage(812, 9)]


def test_service_quota_exceeded_is_throttling(bedrock, aws, no_backoff):
    aws.fails(400, "ServiceQuotaExceededException", "quota")
    aws.fails(400, "ServiceQuotaExceededException", "quota")
    with pytest.raises(ProviderThrottled):
        _run(bedrock)


def test_a_throttling_event_mid_stream_is_provider_throttled_after_the_tokens_before_it(bedrock, aws):
    aws.streams(answer_events(["Start", " with"])[:3] + [exception("throttlingException", "Slow down")])
    stream = bedrock.stream(SYSTEM, PROMPT, max_tokens=50)
    assert [next(stream), next(stream)] == [Token("Start"), Token(" with")]
    with pytest.raises(ProviderThrottled) as raised:
        next(stream)
    assert "throttlingException" in raised.value.detail
    assert raised.value.__cause__ is not None
    assert aws.bodies[0].closed


@pytest.mark.parametrize(
    "status, code",
    [
        (500, "InternalServerException"),
        (400, "ValidationException"),
        (403, "AccessDeniedException"),
        (404, "ResourceNotFoundException"),
        (503, "ServiceUnavailableException"),
        (424, "ModelErrorException"),
    ],
)
def test_other_errors_before_the_stream_are_provider_unavailable(bedrock, aws, no_backoff, status, code):
    for _ in range(2):  # 5xx are retried once; the rest are not
        aws.fails(status, code)
    with pytest.raises(ProviderUnavailable) as raised:
        _run(bedrock)
    assert raised.value.code == "provider_unavailable" and code in raised.value.detail
    assert raised.value.__cause__ is not None


@pytest.mark.parametrize(
    "code",
    ["internalServerException", "modelStreamErrorException", "validationException", "serviceUnavailableException"],
)
def test_other_exception_events_mid_stream_are_provider_unavailable(bedrock, aws, code):
    aws.streams(answer_events(["Start"])[:2] + [exception(code)])
    stream = bedrock.stream(SYSTEM, PROMPT, max_tokens=50)
    assert next(stream) == Token("Start")
    with pytest.raises(ProviderUnavailable) as raised:
        next(stream)
    assert code in raised.value.detail


def test_error_messages_never_quote_the_prompt(bedrock, aws, no_backoff):
    secret = "my bank PIN is 4921"
    aws.fails(400, "ValidationException", f"Malformed input request: {secret}")
    with pytest.raises(ProviderUnavailable) as raised:
        _run(bedrock, prompt=secret)
    assert secret not in str(raised.value) and secret not in raised.value.detail
    aws.streams([exception("validationException", f"bad input: {secret}")])
    with pytest.raises(ProviderUnavailable) as raised:
        _run(bedrock, prompt=secret)
    assert secret not in str(raised.value)


def test_an_unreachable_endpoint_is_provider_unavailable(fake_aws):
    from chalicelib.assistant.bedrock import BedrockProvider

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = BedrockProvider("m", region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1)
    with pytest.raises(ProviderUnavailable) as raised:
        _run(provider)
    assert "EndpointConnectionError" in raised.value.detail


class _ParsedEvents:
    """An event stream already parsed, as a client stand-in hands it over."""

    def __init__(self, events):
        self.events = events
        self.closed = False

    def __iter__(self):
        return iter(self.events)

    def close(self):
        self.closed = True


@pytest.mark.parametrize(
    "code, error", [("throttlingException", ProviderThrottled), ("modelStreamErrorException", ProviderUnavailable)]
)
def test_modeled_exception_members_in_a_parsed_stream_are_translated_too(fake_aws, code, error):
    from chalicelib.assistant.bedrock import BedrockProvider

    events = _ParsedEvents(
        [{"contentBlockDelta": {"delta": {"text": "a"}, "contentBlockIndex": 0}}, {code: {"message": "x"}}]
    )

    class Client:
        def converse_stream(self, **params):
            return {"stream": events}

    provider = BedrockProvider("m")
    provider._client = Client()
    stream = provider.stream(SYSTEM, PROMPT, max_tokens=5)
    assert next(stream) == Token("a")
    with pytest.raises(error):
        next(stream)
    assert events.closed


def test_the_stream_is_closed_when_the_consumer_stops_early(bedrock, aws):
    aws.streams(answer_events(["a", "b", "c"], usage=REALISTIC_USAGE))
    stream = bedrock.stream(SYSTEM, PROMPT, max_tokens=50)
    assert next(stream) == Token("a")
    stream.close()
    assert aws.bodies[0].closed


def test_the_client_uses_standard_retries_two_attempts_and_short_connect_timeout(bedrock):
    config = bedrock.client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert (config.connect_timeout, config.read_timeout) == (3.0, 60.0)
    assert bedrock.client.meta.region_name == "us-east-1"
    assert (bedrock.name, bedrock.model) == ("bedrock", "amazon.nova-micro-v1:0")


def test_the_client_is_built_once(bedrock):
    assert bedrock.client is bedrock.client


def test_constructing_the_provider_and_the_service_imports_no_boto3_and_the_stream_core_no_chalice():
    code = (
        "import sys\n"
        "from chalicelib.assistant.bedrock import BedrockProvider\n"
        "from chalicelib.assistant import offline, service, sse, stream\n"
        "provider = BedrockProvider('amazon.nova-micro-v1:0', region='us-east-1')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'chalice', 'sqlite3'))\n"
        "print(','.join(loaded))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
