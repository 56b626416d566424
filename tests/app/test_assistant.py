"""POST /assistant and POST /assistant/stream as the API function serves them (the stream buffered),
on both store adapters: answers about the caller's own items, API.md's validation and event shapes,
failures before and after the stream began, and the assistant's metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.assistant.base import Token
from chalicelib.assistant.base import Usage
from chalicelib.errors import ProviderThrottled
from chalicelib.errors import ProviderUnavailable
from tests.support.api import assert_problem
from tests.support.output import Output


def events_of(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    parsed = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


class ScriptedProvider:
    """A provider whose answer and failure point a test chooses."""

    name, model = "scripted", "scripted-1"

    def __init__(self, words: list[str], fail_at: int | None = None, error: Exception | None = None) -> None:
        self.words, self.fail_at, self.error = words, fail_at, error

    def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Any]:
        for position, word in enumerate(self.words):
            if position == self.fail_at:
                assert self.error is not None  # fail_at comes with an error
                raise self.error
            yield Token(word)
        if self.fail_at == len(self.words):
            assert self.error is not None
            raise self.error
        yield Usage(7, len(self.words))


@pytest.fixture
def provider(env):
    def install(provider: Any) -> None:
        env.install(provider=provider)

    return install


def test_the_answer_is_about_the_callers_own_items(adapter, api):
    api.create("Renew passport", due="2020-01-01")
    api.create("Water the plants")
    api.create("Bob's secret plan", user="bob")
    reply = api.post("/assistant", {"prompt": "  what should I do first today?  "})
    assert reply.status == 200, reply.json
    answer = reply.json
    assert set(answer) == {"text", "provider", "model", "usage"}
    assert answer["provider"] == "offline" and answer["model"]
    assert "Renew passport" in answer["text"] and "Bob's secret plan" not in answer["text"]
    assert answer["usage"]["input_tokens"] > 0 and answer["usage"]["output_tokens"] > 0


def test_the_stream_carries_the_same_answer_as_token_events_then_one_done(adapter, api):
    api.create("Renew passport", due="2020-01-01")
    prompt = {"prompt": "what should I do first today?"}
    buffered = api.post("/assistant", prompt).json
    reply = api.post("/assistant/stream", prompt)
    assert reply.status == 200
    assert reply.header("Content-Type").startswith("text/event-stream")
    assert reply.header("Cache-Control") == "no-cache"
    events = events_of(reply.body)
    names = [name for name, _ in events]
    assert names[-1] == "done" and names.count("done") == 1 and set(names[:-1]) == {"token"}
    assert "".join(data["text"] for name, data in events if name == "token") == buffered["text"]
    assert events[-1][1] == {"usage": buffered["usage"], "provider": "offline", "model": buffered["model"]}


@pytest.mark.parametrize("path", ["/assistant", "/assistant/stream"])
@pytest.mark.parametrize(
    "body,field",
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": "hi", "model": "big"}, "model"),
    ],
)
def test_a_bad_prompt_is_a_validation_problem(env, api, path, body, field):
    problem = assert_problem(api.post(path, body), 400, "validation_error")
    assert [error["field"] for error in problem["errors"]] == [field]


@pytest.mark.parametrize("path", ["/assistant", "/assistant/stream"])
def test_a_prompt_of_2000_characters_after_trimming_is_accepted(env, api, path):
    assert api.post(path, {"prompt": "  " + "x" * 2000 + "\n"}).status == 200


@pytest.mark.parametrize("path", ["/assistant", "/assistant/stream"])
def test_not_json_no_token_and_switched_off_are_problems(env, api, path):
    assert_problem(api.post(path, raw=b"{nope"), 400, "invalid_json")
    assert_problem(api.post(path, {"prompt": "hi"}, user=None), 401, "unauthorized")
    env(ASSISTANT_PROVIDER="off")
    assert_problem(api.post(path, {"prompt": "hi"}), 503, "feature_disabled")


@pytest.mark.parametrize("path", ["/assistant", "/assistant/stream"])
def test_a_provider_failing_before_the_first_token_is_a_problem(env, api, provider, path):
    provider(ScriptedProvider(["never"], fail_at=0, error=ProviderThrottled("slow down")))
    assert_problem(api.post(path, {"prompt": "hi"}), 503, "provider_throttled")
    provider(ScriptedProvider(["never"], fail_at=0, error=ProviderUnavailable("down")))
    assert_problem(api.post(path, {"prompt": "hi"}), 503, "provider_unavailable")


def test_a_provider_failing_after_the_stream_began_ends_it_with_one_error_event(env, api, provider):
    provider(ScriptedProvider(["one ", "two "], fail_at=1, error=ProviderUnavailable("went away")))
    reply = api.post("/assistant/stream", {"prompt": "hi"})
    assert reply.status == 200
    assert events_of(reply.body) == [
        ("token", {"text": "one "}),
        ("error", {"code": "provider_unavailable", "detail": "went away"}),
    ]


def test_a_bug_after_the_stream_began_is_an_error_event_and_one_unhandled_log_line(env, api, provider, capsys):
    env(LOG_FORMAT="json", METRICS="emf")
    provider(ScriptedProvider(["one "], fail_at=1, error=ZeroDivisionError("secret detail")))
    capsys.readouterr()
    reply = api.post("/assistant/stream", {"prompt": "hi"}, headers={"X-Request-Id": "stream-bug-1"})
    events = events_of(reply.body)
    assert events[-1][0] == "error" and events[-1][1]["code"] == "internal_error"
    assert "secret detail" not in reply.body.decode()
    out = Output.parse(capsys.readouterr().out)
    [error] = out.at("ERROR")
    assert error["error"] == "unhandled" and error["request_id"] == "stream-bug-1"
    assert out.access()[0]["UnhandledExceptions"] == 1


def test_tokens_and_throttles_are_counted_by_provider(env, api, provider, capsys):
    env(LOG_FORMAT="json", METRICS="emf")
    provider(ScriptedProvider(["a ", "b ", "c "]))
    capsys.readouterr()
    assert api.post("/assistant", {"prompt": "hi"}).status == 200
    [line] = Output.parse(capsys.readouterr().out).access()
    assert (line["Provider"], line["AssistantInputTokens"], line["AssistantOutputTokens"]) == ("scripted", 7, 3)
    provider(ScriptedProvider([], fail_at=0, error=ProviderThrottled("busy")))
    env(LOG_FORMAT="json", METRICS="emf")
    throttled = api.post("/assistant", {"prompt": "hi"})
    assert throttled.status == 503
    [line] = Output.parse(capsys.readouterr().out).access()
    assert line["ProviderThrottles"] == 1 and line["Provider"] == "offline"
