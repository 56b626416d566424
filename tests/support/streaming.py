"""Streaming helpers: a stand-in assistant service (and its events), the request the streaming function receives, a
recording ``write`` and Lambda's context (the fake Runtime API is in tests/support/runtime_api.py)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import KW_ONLY
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from chalicelib.assistant.base import DONE
from chalicelib.assistant.base import TOKEN
from chalicelib.errors import AppError
from tests.support.invoke import rest_event
from tests.support.runtime_api import Streamed

PROMPT = "what should I do first today?"


@dataclass(eq=False)
class FakeEvents:
    """The events of AssistantService.stream, as a double: ``tokens`` (``delay`` seconds apart), then done;
    ``fail_at`` raises ``error`` instead of the event with that index. Records whether it was closed
    before it finished."""

    tokens: tuple[str, ...] = ("Water ", "the ", "plants.")
    _: KW_ONLY
    delay: float = 0.0
    fail_at: int | None = None
    error: BaseException | None = None
    provider: str | None = "offline"
    usage: tuple[int, int] = (42, 7)
    model: str = "fake-model"
    closed: bool = field(default=False, init=False)
    finished: bool = field(default=False, init=False)

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = [(TOKEN, {"text": text}) for text in self.tokens]
        usage = {"input_tokens": self.usage[0], "output_tokens": self.usage[1]}
        events.append((DONE, {"usage": usage, "provider": self.provider, "model": self.model}))
        try:
            for index, event in enumerate(events):
                if index and self.delay:
                    time.sleep(self.delay)
                if index == self.fail_at:
                    raise self.error or AppError()
                yield event
            self.finished = True
        except GeneratorExit:
            self.closed = True
            raise


@dataclass(eq=False)
class FakeAssistant(FakeEvents):
    """An AssistantService double: ``stream(sub, prompt)`` records the call (and the trace id the
    environment held then) and yields its events (FakeEvents)."""

    calls: list[tuple[str, str]] = field(default_factory=list, init=False)
    environ_at_call: dict[str, str | None] = field(default_factory=dict, init=False)

    def stream(self, sub: str, prompt: str) -> Iterator[tuple[str, dict[str, Any]]]:
        self.calls.append((sub, prompt))
        self.environ_at_call = {"_X_AMZN_TRACE_ID": os.environ.get("_X_AMZN_TRACE_ID")}
        yield from self


def stream_event(
    *,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return rest_event(
        "POST", "/assistant/stream", headers=sent, claims=claims, body={"prompt": PROMPT} if body is None else body
    )


# --- a recording write ------------------------------------------------------------------------------


class Recorder:
    """A ``write`` that keeps each chunk; ``fail_after`` chunks it raises BrokenPipeError (client gone)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.chunks: list[bytes] = []
        self.fail_after = fail_after

    def __call__(self, data: bytes) -> None:
        assert isinstance(data, bytes) and data
        if self.fail_after is not None and len(self.chunks) >= self.fail_after:
            raise BrokenPipeError(32, "Broken pipe")
        self.chunks.append(data)

    def streamed(self) -> Streamed:
        return Streamed.parse(self.chunks)


class LambdaContext:
    aws_request_id = "lambda-request-1"
    function_name = "tasks-api-AssistantStreamHandler"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tasks-api-AssistantStreamHandler"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def url_event(
    *,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/assistant/stream",
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Lambda function URL's request event (payload format 2.0, as lambda/latest/dg/urls-invocation.html
    shows it): lower-case headers, ``rawPath``, ``requestContext.http``; AuthType NONE puts no authorizer
    in it (``authorizer`` forges one)."""
    sent = {
        "host": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
        "x-forwarded-proto": "https",
        "content-type": "application/json",
        **{name.lower(): value for name, value in (headers or {}).items()},
    }
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    if body is None:
        body = {"prompt": PROMPT}
    request_context: dict[str, Any] = {
        "accountId": "anonymous",
        "apiId": "abcdefghijklmnop",
        "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
        "domainPrefix": "abcdefghijklmnop",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": "test",
        },
        "requestId": "url-request-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "01/Dec/2025:12:00:00 +0000",
        "timeEpoch": 1764590400000,
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": sent,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if method != "OPTIONS":
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event
