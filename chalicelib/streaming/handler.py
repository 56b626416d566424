"""``POST /assistant/stream``: one event in, the streaming response out through ``write`` (a JSON prelude,
eight NUL bytes, then the body: server-sent events or a problem).

Two callers send the event. API Gateway's REST API (its Cognito authorizer has verified the token and hands
over the claims) and, in the HTTP API flavour, a Lambda function URL with AuthType NONE (payload format 2.0:
``rawPath``, ``requestContext.http.method``, lower-case headers). Nothing stands in front of the URL, so its
events never count as verified: the token is verified here, with the required scope (AUTH_REQUIRED_SCOPE).
Both read the same response format: API Gateway's (apigateway/latest/developerguide/
response-transfer-mode-lambda.html) is the one function URLs in RESPONSE_STREAM mode read, the prelude
AWS's own runtimes write (``awslambda.HttpResponseStream.from`` of aws-lambda-nodejs-runtime-interface-client).

Pure of the Runtime API (chalicelib/streaming/runtime.py speaks it), so tests drive it with any ``write``.
What the answer streams is chalicelib/assistant/stream.py's, as on the API function's route.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.assistant import sse
from chalicelib.assistant.base import TOKEN
from chalicelib.assistant.stream import Answer
from chalicelib.assistant.stream import open_answer
from chalicelib.auth import authenticate
from chalicelib.auth import refused
from chalicelib.errors import AppError
from chalicelib.errors import InvalidJson
from chalicelib.errors import MethodNotAllowed
from chalicelib.errors import NotFound
from chalicelib.errors import Unauthorized
from chalicelib.observability import invocation
from chalicelib.observability import logs
from chalicelib.observability import metrics
from chalicelib.protocol import context
from chalicelib.protocol import cors
from chalicelib.protocol import problems
from chalicelib.protocol import requests
from chalicelib.settings import Settings
from chalicelib.settings import get_settings
from chalicelib.vocabulary import ASSISTANT_STREAM_PATH

ROUTE = ASSISTANT_STREAM_PATH
METHOD = "POST"
# API Gateway's streaming format (developerguide/response-transfer-mode-lambda.html): the metadata JSON,
# then exactly eight NUL bytes, then the body exactly as written.
DELIMITER = b"\x00" * 8

log = logging.getLogger("tasks.streaming")
access_log = logging.getLogger(logs.ACCESS_LOGGER)

Write = Callable[[bytes], None]


class _Disconnected(Exception):
    """``write`` failed: whoever reads the stream is gone, so nothing more can be said to them."""


def handle(event: Mapping[str, Any], lambda_context: Any, write: Write) -> None:
    """Answer one invocation through ``write`` (each call one chunk, sent at once). Returns normally
    whatever happens, also when ``write`` raises OSError (the client went away: logged at WARNING)."""
    started = time.perf_counter()
    headers = _headers(event.get("headers"))
    request_id = requests.request_id(headers)
    context.begin(request_id)  # problems.document() takes the request id from here
    settings = get_settings()
    request_context = event.get("requestContext")
    request_context = request_context if isinstance(request_context, Mapping) else {}
    via_url = is_function_url_event(event)
    observed = None
    if settings.observability:
        observed = invocation.begin(
            settings,
            service=metrics.ASSISTANT_STREAM,
            request_id=request_id,
            lambda_context=lambda_context,
            route=ROUTE,
            method=METHOD,
            apigw_request_id=request_context.get("requestId"),
        )
    out = _Response(
        write, started, {"X-Request-Id": request_id, **cors.response_headers(headers, settings.cors_allow_origins)}
    )
    try:
        if via_url:
            # No authorizer in front of a function URL: whatever its request context says, nothing in
            # it was verified, so the token is (chalicelib/auth.authenticate without gateway claims).
            _serve_url(event, headers, settings, observed, out)
        else:
            _serve(event, headers, request_context, settings, observed, out)
    finally:
        _finish(out, settings, observed)


def is_function_url_event(event: Mapping[str, Any]) -> bool:
    """A Lambda function URL's request (payload format 2.0: lambda/latest/dg/urls-invocation.html), not
    API Gateway REST's (``httpMethod``, ``resource``)."""
    request_context = event.get("requestContext")
    return (
        event.get("version") == "2.0"
        and isinstance(request_context, Mapping)
        and isinstance(request_context.get("http"), Mapping)
        and "httpMethod" not in event
    )


def _serve_url(
    event: Mapping[str, Any], headers: Mapping[str, str], settings: Settings, observed: Any, out: _Response
) -> None:
    """A function URL serves only ``POST /assistant/stream``, the operation's path under the URL's origin
    (openapi.json's ``servers`` entry for it)."""
    http = event["requestContext"]["http"]
    method, path = http.get("method"), event.get("rawPath")
    if method == "OPTIONS":
        # The URL's own CORS configuration answers preflights and its headers take precedence
        # (lambda/latest/dg/urls-configuration.html, CORS); should one reach the function, it is a
        # body-less success, so the URL's headers decide it.
        out.start(204, {"Allow": f"OPTIONS, {METHOD}"})
        return
    error: AppError | None = None
    if path != ROUTE:
        error = NotFound(f"the function URL serves only {METHOD} {ROUTE}")
    elif method != METHOD:
        error = MethodNotAllowed(f"{ROUTE} accepts {METHOD} only", headers={"Allow": METHOD})
    if error is not None:
        out.problem(problems.document(error))
        return
    _serve(event, headers, None, settings, observed, out)


def _serve(
    event: Mapping[str, Any],
    headers: Mapping[str, str],
    request_context: Mapping[str, Any] | None,
    settings: Settings,
    observed: Any,
    out: _Response,
) -> None:
    answer: Answer | None = None
    try:
        try:
            caller = authenticate(headers, request_context, settings)
            if observed is not None:
                observed.identify(caller.sub)
            prompt = requests.assistant_prompt(_raw_body(event))
            events = wiring.services().assistant.stream(caller.sub, prompt)
            out.provider_called = True
            # The first event decides the status: a provider that fails before answering is an
            # ordinary problem response, not a 200 whose stream only says "error".
            answer = open_answer(events, provider=settings.assistant_provider)
        except AppError as error:
            if isinstance(error, Unauthorized):
                refused(error)
            if error.reported_as_bug:
                out.unhandled()
            out.problem(problems.document(error))
            return
        except Exception:
            out.unhandled()
            out.problem(problems.internal_error())
            return
        out.start(200, sse.HEADERS)
        for name, data in answer:
            out.event(name, data)
    except _Disconnected:
        out.client_gone = True
        log.warning("the client went away; the stream was cut short", extra={"events": out.events})
    finally:
        if answer is not None:
            answer.close()
            out.answered(answer)


class _Response:
    """What has been written so far, and what the invocation's metrics and access line report."""

    __slots__ = (
        "_write",
        "started",
        "headers",
        "status",
        "events",
        "ttft_ms",
        "provider",
        "provider_called",
        "was_unhandled",
        "stream_error",
        "client_gone",
    )

    def __init__(self, write: Write, started: float, headers: dict[str, str]) -> None:
        self._write = write
        self.started = started
        self.headers = headers  # on every response: X-Request-Id, CORS
        self.status = 0
        self.events = 0
        self.ttft_ms: float | None = None
        self.provider: str | None = None
        self.provider_called = False
        self.was_unhandled = False
        self.stream_error: str | None = None
        self.client_gone = False

    def _send(self, data: bytes) -> None:
        try:
            self._write(data)
        except OSError as exc:
            raise _Disconnected() from exc

    def start(self, status: int, headers: Mapping[str, str]) -> None:
        self.status = status
        self._send(prelude(status, {**headers, **self.headers}) + DELIMITER)

    def problem(self, document: problems.Problem) -> None:
        """A problem response: the same document the API function answers (chalicelib/protocol/problems.py)."""
        self.start(document.status, document.headers)
        self._send(document.body.encode("utf-8"))

    def event(self, name: str, data: dict[str, Any]) -> None:
        self._send(sse.encode(name, data))
        self.events += 1
        if name == TOKEN and self.ttft_ms is None:
            self.ttft_ms = round((time.perf_counter() - self.started) * 1000, 2)
            metrics.observe(metrics.TIME_TO_FIRST_TOKEN, self.ttft_ms)

    def answered(self, answer: Answer) -> None:
        """What the answer reported (its tokens and throttles it counted itself)."""
        self.provider = answer.provider
        self.stream_error = answer.error
        self.was_unhandled = self.was_unhandled or answer.unhandled

    def unhandled(self) -> None:
        """Report the exception being handled: once, with its trace (call from an ``except`` block)."""
        logs.log_unhandled(log)
        self.was_unhandled = True


def _finish(out: _Response, settings: Settings, observed: Any) -> None:
    """The invocation's metrics, its access line, then its one EMF document."""
    metrics.dimension(metrics.PROVIDER, out.provider or settings.assistant_provider)
    # Explicit zeros: each counter's Average over a period is then a rate (a throttle counted its 1 already).
    metrics.count(metrics.UNHANDLED_EXCEPTIONS, 1 if out.was_unhandled else 0)
    if out.provider_called:
        metrics.count(metrics.PROVIDER_THROTTLES, 0)
    if observed is None:
        return
    status = out.status or 500
    level = logging.WARNING if status >= 500 or out.stream_error or out.client_gone else logging.INFO
    extra: dict[str, Any] = {
        "status": status,
        "latency_ms": round((time.perf_counter() - out.started) * 1000, 2),
        "ttft_ms": out.ttft_ms,
        "events": out.events,
        "stream_error": out.stream_error,
    }
    if out.client_gone:
        extra["client_gone"] = True
    access_log.log(level, "%s %s %s", METHOD, ROUTE, status, extra=extra)
    observed.end()


# --- the wire format -------------------------------------------------------------------------------


def prelude(status: int, headers: Mapping[str, str]) -> bytes:
    """The metadata API Gateway reads before the body. json.dumps escapes NUL, so the delimiter is
    the first NUL byte of the stream, as the format requires."""
    return json.dumps({"statusCode": status, "headers": dict(headers), "cookies": []}, separators=(",", ":")).encode(
        "ascii"
    )


# --- the request -----------------------------------------------------------------------------------


def _headers(raw: Any) -> dict[str, str]:
    """The request headers with lower-case names (API Gateway REST keeps the client's spelling; a function
    URL's are lower-case already)."""
    if not isinstance(raw, Mapping):
        return {}
    return {name.lower(): value for name, value in raw.items() if isinstance(name, str) and isinstance(value, str)}


def _raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes, whatever the Content-Type (as on the API function's assistant routes);
    requests.assistant_prompt then applies the API's own rules and problems."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidJson("the body is not valid UTF-8 JSON")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise InvalidJson("the body is not valid UTF-8 JSON") from exc
    # surrogatepass: a lone surrogate reaches json_body, which answers invalid_json for it.
    return body.encode("utf-8", "surrogatepass")
