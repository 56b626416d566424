"""The streaming function's process: Lambda's Runtime API spoken directly (stdlib only), one invocation
at a time, each response posted in streaming mode and flushed chunk by chunk as the handler writes it.

The base image's runtime interface client only buffers a Python handler's response, hence this loop.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from http.client import HTTPConnection
from http.client import HTTPException
from typing import Any
from typing import NamedTuple

from chalicelib.settings import Settings
from chalicelib.vocabulary import UNHANDLED

API = "/2018-06-01/runtime"
# Lambda's response streaming (lambda/latest/dg/runtimes-custom.html, "Implementing response streaming
# in a custom runtime"): this mode header, a chunked body, errors after the first byte as trailers.
RESPONSE_MODE = ("Lambda-Runtime-Function-Response-Mode", "streaming")
# The body is API Gateway's format: metadata JSON, eight NUL bytes, the payload (chalicelib/streaming/handler.py).
HTTP_INTEGRATION_RESPONSE = "application/vnd.awslambda.http-integration-response"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
LAMBDA_ERROR = "application/vnd.aws.lambda.error+json"

log = logging.getLogger("tasks.streaming.runtime")

Handler = Callable[[dict, Any, Callable[[bytes], None]], None]


class LambdaContext:
    """What a Python handler's context offers that this app reads (request id, function, deadline)."""

    __slots__ = ("aws_request_id", "invoked_function_arn", "function_name", "deadline_ms")

    def __init__(
        self, aws_request_id: str, invoked_function_arn: str | None, function_name: str | None, deadline_ms: int
    ) -> None:
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = function_name
        self.deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


class Invocation(NamedTuple):
    request_id: str
    deadline_ms: int
    function_arn: str | None
    trace_id: str | None
    body: bytes


class RuntimeApiError(RuntimeError):
    """The Runtime API answered something a runtime cannot go on from."""


class RuntimeClient:
    """The Runtime API at ``address`` (host:port): one kept-alive connection for next and errors, a
    fresh one per streamed response (its body stays open while the handler runs)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = (host, int(port)) if host else (address, 80)
        # No timeout: /next blocks until Lambda has an invocation (the environment is frozen meanwhile).
        self._connection = HTTPConnection(self.host, self.port, timeout=None)

    def next(self) -> Invocation:
        status, headers, body = self._request("GET", f"{API}/invocation/next")
        if status != 200:
            raise RuntimeApiError(f"GET invocation/next answered {status}")
        request_id = headers.get("lambda-runtime-aws-request-id")
        if not request_id:
            raise RuntimeApiError("GET invocation/next answered without Lambda-Runtime-Aws-Request-Id")
        deadline = headers.get("lambda-runtime-deadline-ms") or ""
        return Invocation(
            request_id,
            int(deadline) if deadline.isdigit() else 0,
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-trace-id"),
            body,
        )

    def invocation_error(self, request_id: str, error_type: str, message: str) -> None:
        self._error(f"{API}/invocation/{request_id}/error", error_type, message, [])

    def init_error(self, exc: BaseException) -> None:
        self._error(
            f"{API}/init/error", "Runtime.InitError", f"{type(exc).__name__}: {exc}", traceback.format_exception(exc)
        )

    def respond(self, request_id: str) -> ResponseStream:
        return ResponseStream(self.host, self.port, f"{API}/invocation/{request_id}/response")

    def _error(self, path: str, error_type: str, message: str, stack: list[str]) -> None:
        body = json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": stack}).encode()
        status, _, _ = self._request("POST", path, body, {"Content-Type": LAMBDA_ERROR, ERROR_TYPE: error_type})
        if status >= 300:
            log.warning("the Runtime API refused an error report", extra={"status": status})

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        # Once more on a fresh connection if the kept-alive one was closed in between.
        for attempt in (1, 2):
            try:
                self._connection.request(method, path, body=body, headers=headers or {})
                response = self._connection.getresponse()
                data = response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (ConnectionError, HTTPException):
                self._connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class ResponseStream:
    """One streamed response: the POST starts with the first ``write`` (so an invocation that wrote
    nothing can still report an error instead), each write is one chunk sent at once, ``finish`` ends
    the body (with the error trailers when the handler failed after the first byte)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self._host, self._port, self._path = host, port, path
        self._connection: HTTPConnection | None = None
        self.broken = False  # a write failed: the reader is gone, the connection unusable

    @property
    def started(self) -> bool:
        return self._connection is not None

    def write(self, data: bytes) -> None:
        """Send ``data`` as one chunk now; OSError when the other end is gone."""
        if not data:
            return  # a zero-length chunk would end the body
        if self.broken:
            raise BrokenPipeError("the response stream is already broken")
        try:
            if self._connection is None:
                self._open()
            assert self._connection is not None
            self._connection.send(b"%X\r\n%s\r\n" % (len(data), data))
        except OSError:
            self.broken = True
            raise

    def _open(self) -> None:
        connection = HTTPConnection(self._host, self._port, timeout=None)
        self._connection = connection
        connection.putrequest("POST", self._path, skip_accept_encoding=True)
        connection.putheader(*RESPONSE_MODE)
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Content-Type", HTTP_INTEGRATION_RESPONSE)
        connection.putheader("Trailer", f"{ERROR_TYPE}, {ERROR_BODY}")
        # http.client sets TCP_NODELAY on connect: each chunk leaves without waiting for the next.
        connection.endheaders()

    def finish(self, error: BaseException | None = None) -> int | None:
        """End the body and read Lambda's answer (its status; None when the stream broke)."""
        connection = self._connection
        if connection is None:
            return None
        try:
            if self.broken:
                return None
            trailers = b""
            if error is not None:
                payload = json.dumps(
                    {"errorMessage": f"{type(error).__name__}", "errorType": "Runtime.StreamError", "stackTrace": []}
                ).encode()
                trailers = (
                    f"{ERROR_TYPE}: Runtime.StreamError\r\n{ERROR_BODY}: {base64.b64encode(payload).decode()}\r\n"
                ).encode()
            try:
                connection.send(b"0\r\n" + trailers + b"\r\n")
                response = connection.getresponse()
                response.read()
            except (OSError, HTTPException):
                self.broken = True
                log.warning("the response stream broke while it was ending")
                return None
            if response.status >= 300:
                log.warning("the Runtime API refused a streamed response", extra={"status": response.status})
            return response.status
        finally:
            connection.close()


def serve_one(client: RuntimeClient, handler: Handler, function_name: str | None) -> None:
    """Take the next invocation, answer it and report how it ended."""
    invocation = client.next()
    # The Runtime API's own protocol, not app configuration (chalicelib/settings.py reads that): X-Ray's
    # SDK reads the trace header of the invocation in progress from this variable.
    if invocation.trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = invocation.trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        event = json.loads(invocation.body)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        # Not an API Gateway event at all: nothing to answer over HTTP, Lambda reports the error.
        log.error("the invocation's event is not a JSON object")
        client.invocation_error(invocation.request_id, "Runtime.InvalidEvent", "the event is not a JSON object")
        return
    context = LambdaContext(invocation.request_id, invocation.function_arn, function_name, invocation.deadline_ms)
    stream = client.respond(invocation.request_id)
    try:
        handler(event, context, stream.write)
    except Exception as exc:
        # The handler answers every failure itself; reaching here is a bug in it. The marker makes the
        # unhandled-exception filter count it.
        log.error("the streaming handler failed", exc_info=True, extra=UNHANDLED)
        if stream.broken:
            return
        if stream.started:
            stream.finish(error=exc)
        else:
            client.invocation_error(invocation.request_id, "Runtime.HandlerError", type(exc).__name__)
        return
    if stream.broken:
        # The client went away mid-stream (the handler logged it with its request id): the next
        # invocation is served as usual.
        stream.finish()
        return
    if not stream.started:
        client.invocation_error(invocation.request_id, "Runtime.NoResponse", "the handler wrote nothing")
        return
    stream.finish()


def main(max_invocations: int | None = None, handler: Handler | None = None) -> int:
    """Serve invocations until the environment ends (or ``max_invocations``, for tests) with ``handler``
    (default: chalicelib/streaming/handler.py's); the exit status."""
    # The Runtime API's own protocol, not app configuration: the one variable read here.
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        # The init phase's own copy. The process's settings, and with them whether to trace, are read
        # during the first invocation, once serve_one has exported its trace header (before any exists,
        # Settings.tracing is always off, and no invocation would ever be traced), as in the API function.
        settings = Settings.from_env()
        if settings.observability:
            from chalicelib.observability import logs

            logs.configure(settings)
        if handler is None:
            # Imported during init (Lambda's init phase), not on the first request.
            from chalicelib.streaming.handler import handle

            handler = handle
    except Exception as exc:
        log.error("the streaming runtime could not start", exc_info=True)
        client.init_error(exc)
        return 1
    served = 0
    while max_invocations is None or served < max_invocations:
        serve_one(client, handler, settings.function_name)
        served += 1
    return 0
