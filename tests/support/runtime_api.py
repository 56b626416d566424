"""A fake Lambda Runtime API on 127.0.0.1 (a real HTTP server that reads streamed responses chunk by
chunk, noting when each arrives) and API Gateway's streaming format taken apart; tests and bench use it."""

from __future__ import annotations

import http.server
import json
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

DELIMITER = b"\x00" * 8
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:tasks-api-AssistantStreamHandler"


class Streamed:
    """One response in API Gateway's streaming format, taken apart."""

    def __init__(self, chunks: list[bytes], prelude: dict[str, Any], body: bytes) -> None:
        self.chunks = chunks
        self.prelude = prelude
        self.body = body

    @classmethod
    def parse(cls, chunks: list[bytes]) -> Streamed:
        data = b"".join(chunks)
        end = data.index(b"\x00")
        assert data[end : end + 8] == DELIMITER, "the prelude must be followed by eight NUL bytes"
        body = data[end + 8 :]
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
            out.append((name_line[len("event: ") :], json.loads(data_line[len("data: ") :])))
        return out


class Posted:
    """A request to the Runtime API: headers, and for a streamed response each chunk with its arrival
    (perf_counter) and when the body ended (the zero-size chunk)."""

    def __init__(self, path: str, headers: dict[str, str], started: float) -> None:
        self.path = path
        self.headers = headers
        self.started = started
        self.chunks: list[tuple[float, bytes]] = []
        self.ended = 0.0
        self.trailers: dict[str, str] = {}
        self.body = b""
        self.done = threading.Event()

    def streamed(self) -> Streamed:
        return Streamed.parse([data for _, data in self.chunks])


class FakeRuntimeApi:
    """The Runtime API's four endpoints on 127.0.0.1: ``/invocation/next`` serves queued events (and
    blocks when there are none; ``served`` notes when it handed each out), ``/response`` reads the
    chunked body as it arrives, the error endpoints are recorded."""

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
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # an IPv4 server's address
        return f"{host}:{port}"

    def add(self, event: dict[str, Any] | bytes, *, trace_id: str | None = None) -> str:
        request_id = str(uuid.uuid4())
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 300_000),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
        }
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

    def __enter__(self) -> FakeRuntimeApi:
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

            def setup(self) -> None:
                super().setup()
                # As Lambda's own Runtime API (Go's net/http) does. Without it, Nagle holds the body of a
                # /next answer (written after its headers) until the runtime's delayed ACK: ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _read_chunks(self, posted: Posted, hang_up_after: int | None) -> bool:
                """Read the chunked body chunk by chunk, noting when each arrived; False after hanging up."""
                while True:
                    size_line = self.rfile.readline()
                    if not size_line:
                        return False
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        posted.ended = time.perf_counter()
                        while True:  # trailers, then the blank line
                            line = self.rfile.readline()
                            if line in (b"\r\n", b"\n", b""):
                                return True
                            name, _, value = line.decode("latin-1").partition(":")
                            posted.trailers[name.strip()] = value.strip()
                    data = self.rfile.read(size)
                    arrived = time.perf_counter()  # the data is in: its CRLF is not part of the timing
                    assert self.rfile.read(2) == b"\r\n"
                    posted.chunks.append((arrived, data))
                    if hang_up_after is not None and len(posted.chunks) >= hang_up_after:
                        return False

        return Handler


class StreamingFunction:
    """``python -m chalicelib.streaming`` in a child process, as Lambda starts the function. A context
    manager: on exit the child is stopped (it waits for the next invocation, as in Lambda) and what it
    wrote is kept in ``stdout`` and ``stderr``."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.stdout = self.stderr = ""

    def __enter__(self) -> StreamingFunction:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.streaming"],
            cwd=str(self.cwd),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._child.terminate()
        self.stdout, self.stderr = self._child.communicate(timeout=10)
