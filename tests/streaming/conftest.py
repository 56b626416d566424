"""Fixtures for the streaming runtime: a stand-in assistant service, a recording ``write``, the streaming
wire format taken apart, and a fake Lambda Runtime API (a real HTTP server reading chunked bodies)."""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest

from chalicelib import compose
from chalicelib.errors import AppError
from tests.observability.conftest import Output, rest_event

DELIMITER = b"\x00" * 8
PROMPT = "what should I do first today?"


# --- a stand-in for compose.get_assistant() ---------------------------------------------------------


class FakeAssistant:
    """An AssistantService double: ``events(sub, prompt)`` yields tokens (``delay`` seconds apart), then
    done; ``fail_at`` raises ``error`` instead of the event with that index."""

    def __init__(self, tokens: tuple[str, ...] = ("Water ", "the ", "plants."), *, delay: float = 0.0,
                 fail_at: int | None = None, error: BaseException | None = None, provider: str = "offline",
                 usage: tuple[int, int] = (42, 7)) -> None:
        self.tokens = tokens
        self.delay = delay
        self.fail_at = fail_at
        self.error = error
        self.provider = provider
        self.usage = usage
        self.calls: list[tuple[str, str]] = []
        self.environ_at_call: dict[str, str | None] = {}
        self.closed = False
        self.finished = False

    def events(self, sub: str, prompt: str) -> Iterator[tuple[str, dict[str, Any]]]:
        import os

        self.calls.append((sub, prompt))
        self.environ_at_call = {"_X_AMZN_TRACE_ID": os.environ.get("_X_AMZN_TRACE_ID")}
        events: list[tuple[str, dict[str, Any]]] = [("token", {"text": text}) for text in self.tokens]
        events.append(("done", {"usage": {"input_tokens": self.usage[0], "output_tokens": self.usage[1]},
                                "provider": self.provider, "model": "fake-model"}))
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


@pytest.fixture
def assistant(monkeypatch) -> Callable[..., FakeAssistant]:
    """Call it to install a FakeAssistant as compose.get_assistant()'s answer."""

    def install(*args: Any, **kwargs: Any) -> FakeAssistant:
        fake = FakeAssistant(*args, **kwargs)
        monkeypatch.setattr(compose, "get_assistant", lambda: fake)
        return fake

    return install


@pytest.fixture
def streaming(env):
    """JSON logs and EMF metrics, as deployed (outside Lambda: tokens are verified here)."""
    env(LOG_FORMAT="json", METRICS="emf")
    return env


def stream_event(*, token: str | None = None, body: Any = None, headers: dict[str, str] | None = None,
                 claims: dict[str, str] | None = None) -> dict[str, Any]:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return rest_event("POST", "/assistant/stream", headers=sent, claims=claims,
                      body={"prompt": PROMPT} if body is None else body)


# --- the wire format ---------------------------------------------------------------------------------


@dataclass
class Streamed:
    """One response in API Gateway's streaming format, taken apart."""

    chunks: list[bytes]
    prelude: dict[str, Any]
    body: bytes

    @classmethod
    def parse(cls, chunks: list[bytes]) -> "Streamed":
        data = b"".join(chunks)
        end = data.index(b"\x00")
        assert data[end:end + 8] == DELIMITER, "the prelude must be followed by eight NUL bytes"
        body = data[end + 8:]
        assert not body.startswith(b"\x00"), "exactly eight NUL bytes, not more"
        return cls(chunks, json.loads(data[:end]), body)

    @property
    def status(self) -> int:
        return self.prelude["statusCode"]

    @property
    def headers(self) -> dict[str, str]:
        return self.prelude["headers"]

    def problem(self) -> dict[str, Any]:
        assert self.headers["Content-Type"] == "application/problem+json"
        return json.loads(self.body)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.headers["Content-Type"] == "text/event-stream"
        text = self.body.decode("utf-8")
        assert text.endswith("\n\n")
        out = []
        for block in text[:-2].split("\n\n"):
            name_line, data_line = block.split("\n")
            assert name_line.startswith("event: ") and data_line.startswith("data: ")
            out.append((name_line[len("event: "):], json.loads(data_line[len("data: "):])))
        return out


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


@pytest.fixture
def invoke(capsys) -> Callable[..., tuple[Streamed, Output]]:
    """Run the handler on one event: (the response taken apart, what it logged)."""
    from chalicelib.streaming import handler

    def run(event: dict[str, Any], write: Recorder | None = None) -> tuple[Streamed, Output]:
        capsys.readouterr()
        write = write or Recorder()
        handler.handle(event, LambdaContext(), write)
        got = capsys.readouterr()
        return write.streamed(), Output.parse(got.out, got.err)

    return run


# --- a fake Lambda Runtime API -----------------------------------------------------------------------


@dataclass
class Posted:
    """A request to the Runtime API: headers, and for a streamed response each chunk with its arrival."""

    path: str
    headers: dict[str, str]
    started: float
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    done: threading.Event = field(default_factory=threading.Event)

    def streamed(self) -> Streamed:
        return Streamed.parse([data for _, data in self.chunks])


class FakeRuntimeApi:
    """The Runtime API's four endpoints on 127.0.0.1: ``/invocation/next`` serves queued events (and
    blocks when there are none), ``/response`` reads the chunked body as it arrives."""

    def __init__(self) -> None:
        self.pending: queue.Queue[tuple[str, dict[str, str], bytes] | None] = queue.Queue()
        self.served: dict[str, float] = {}
        self.responses: dict[str, Posted] = {}
        self.errors: dict[str, Posted] = {}
        self.init_errors: list[Posted] = []
        self.hang_up_after: dict[str, int] = {}  # request id -> close the connection after n chunks
        self._lock = threading.Lock()
        self._posted = threading.Condition(self._lock)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def add(self, event: dict[str, Any] | bytes, *, trace_id: str | None = None) -> str:
        request_id = str(uuid.uuid4())
        headers = {"Lambda-Runtime-Aws-Request-Id": request_id,
                   "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 300_000),
                   "Lambda-Runtime-Invoked-Function-Arn":
                       "arn:aws:lambda:us-east-1:123456789012:function:tasks-api-AssistantStreamHandler"}
        if trace_id:
            headers["Lambda-Runtime-Trace-Id"] = trace_id
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.pending.put((request_id, headers, body))
        return request_id

    def wait(self, kind: dict[str, Posted], request_id: str, timeout: float = 10) -> Posted:
        deadline = time.monotonic() + timeout
        with self._posted:
            while request_id not in kind:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"nothing posted for {request_id}"
                self._posted.wait(remaining)
            posted = kind[request_id]
        assert posted.done.wait(max(0.0, deadline - time.monotonic())), "the body never ended"
        return posted

    def _record(self, kind: dict[str, Posted] | list[Posted], key: str, posted: Posted) -> None:
        with self._posted:
            if isinstance(kind, list):
                kind.append(posted)
            else:
                kind[key] = posted
            self._posted.notify_all()

    def __enter__(self) -> "FakeRuntimeApi":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for _ in range(4):
            self.pending.put(None)  # releases any /next still waiting
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept alive, as Lambda's Runtime API does

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self._answer(404)
                item = api.pending.get()
                if item is None:
                    return self._answer(503, b'{"errorMessage": "shutting down"}')
                request_id, headers, body = item
                api.served[request_id] = time.perf_counter()
                self._answer(200, body, {"Content-Type": "application/json", **headers})

            def do_POST(self) -> None:
                parts = self.path.split("/")
                posted = Posted(self.path, dict(self.headers.items()), time.perf_counter())
                if self.path == "/2018-06-01/runtime/init/error":
                    posted.body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    posted.done.set()
                    api._record(api.init_errors, "", posted)
                    return self._answer(202, b'{"status":"OK"}')
                if len(parts) != 6 or parts[:4] != ["", "2018-06-01", "runtime", "invocation"]:
                    return self._answer(404)
                request_id, kind = parts[4], parts[5]
                if kind == "error":
                    posted.body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    posted.done.set()
                    api._record(api.errors, request_id, posted)
                    return self._answer(202, b'{"status":"OK"}')
                if kind != "response":
                    return self._answer(404)
                api._record(api.responses, request_id, posted)
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    posted.body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    posted.done.set()
                    return self._answer(202, b'{"status":"OK"}')
                if self._read_chunks(posted, api.hang_up_after.get(request_id)):
                    posted.done.set()
                    self._answer(202, b'{"status":"OK"}')
                else:
                    posted.done.set()
                    self.close_connection = True
                    import socket

                    self.connection.shutdown(socket.SHUT_RDWR)

            def _read_chunks(self, posted: Posted, hang_up_after: int | None) -> bool:
                """Read the chunked body chunk by chunk, noting when each arrived; False after hanging up."""
                while True:
                    size_line = self.rfile.readline()
                    if not size_line:
                        return False
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while True:  # trailers, then the blank line
                            line = self.rfile.readline()
                            if line in (b"\r\n", b"\n", b""):
                                return True
                            name, _, value = line.decode("latin-1").partition(":")
                            posted.trailers[name.strip()] = value.strip()
                    data = self.rfile.read(size)
                    assert self.rfile.read(2) == b"\r\n"
                    posted.chunks.append((time.perf_counter(), data))
                    if hang_up_after is not None and len(posted.chunks) >= hang_up_after:
                        return False

        return Handler


@pytest.fixture
def runtime_api() -> Iterator[FakeRuntimeApi]:
    with FakeRuntimeApi() as api:
        yield api
