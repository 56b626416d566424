"""Figure 5, run in its own process: ``POST /assistant/stream`` through the streaming function's real
runtime (``chalicelib.streaming.runtime.main``) against a loopback stand-in for Lambda's Runtime API
that notes when each chunk of the streamed response arrives, with the offline assistant slowed to a
model's pace and its provider clocked at every token it hands over.

The parent (bench/run.py ``figure_streaming``) only builds the environment and the spec and prints
what ``summarize`` makes of the result; everything timed happens here, on one clock (perf_counter).
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import socket
import statistics
import threading
import time
import uuid
from typing import Any, Iterator

from bench.harness import figure_main, lambda_environment, peak_rss_kb, rest_event
from bench.workload import CLIENT_ID, CURSOR_SECRET, ISSUER, READER, READER_ITEMS, gateway_auth

FUNCTION_NAME = "tasks-api-AssistantStreamHandler"
PROMPT = "What should I do first today?"
BUDGET_MS = 5.0  # the provider's first token to its SSE event out
TTFB_TARGET = 0.10  # time to first byte over total time


def spec(quick: bool, *, sqlite_path: str) -> dict[str, Any]:
    """A ~2 s answer (20 tokens 100 ms apart), 5 invocations after 1 warm-up; quick: about 2 s in all."""
    if quick:
        return {"tokens": 10, "delay": 0.05, "warmup": 1, "invocations": 3, "sqlite_path": sqlite_path}
    return {"tokens": 20, "delay": 0.1, "warmup": 1, "invocations": 5, "sqlite_path": sqlite_path}


def environment(home: str, *, sqlite_path: str) -> dict[str, str]:
    """The streaming function as deployed (claims from API Gateway's authorizer, trusted because
    AWS_LAMBDA_FUNCTION_NAME is set; JSON logs and EMF), on SQLite, with no activity queue."""
    return lambda_environment(FUNCTION_NAME, home=home, extra={
        "APP_STAGE": "prod", "STORE": "sqlite", "SQLITE_PATH": sqlite_path, "QUEUE": "off",
        "AUTH_ISSUER": ISSUER, "AUTH_CLIENT_IDS": CLIENT_ID, "CURSOR_SECRET": CURSOR_SECRET,
        "DATA_DIR": f"{home}/.data", "ASSISTANT_PROVIDER": "offline"})


# --- the child ---------------------------------------------------------------------------------


class ClockedProvider:
    """A Provider that hands over ``inner``'s first ``tokens`` tokens and notes the moment each one
    leaves it (one list of perf_counter times per call). The first ``warmup`` calls run at full speed
    (an OfflineProvider's ``delay`` set to 0): only their first byte is reported."""

    def __init__(self, inner: Any, tokens: int, *, warmup: int = 0) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.tokens = tokens
        self.delay = inner.delay
        self.warmup = warmup
        self.calls: list[list[float]] = []

    def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Any]:
        from chalicelib.assistant.base import Token

        times: list[float] = []
        self.calls.append(times)
        self.inner.delay = 0.0 if len(self.calls) <= self.warmup else self.delay
        for chunk in self.inner.stream(system, prompt, max_tokens=min(max_tokens, self.tokens)):
            if isinstance(chunk, Token):
                times.append(time.perf_counter())
            yield chunk


class Response:
    """One streamed response as the Runtime API saw it: when /next handed the invocation out, each
    chunk with its arrival, and when the body ended."""

    def __init__(self) -> None:
        self.served = 0.0
        self.chunks: list[tuple[float, bytes]] = []
        self.ended = 0.0
        self.trailers: dict[str, str] = {}
        self.done = threading.Event()


class LoopbackRuntimeApi:
    """Lambda's Runtime API on 127.0.0.1, as much of it as a run of good invocations uses: ``next``
    hands out the queued events in order, ``response`` reads the chunked body as it arrives, and the
    error endpoints are recorded (any use of them fails the figure)."""

    def __init__(self) -> None:
        self.pending: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self.responses: dict[str, Response] = {}
        self.errors: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def add(self, event: dict[str, Any]) -> str:
        request_id = str(uuid.uuid4())
        self.responses[request_id] = Response()
        self.pending.put((request_id, json.dumps(event).encode()))
        return request_id

    def __enter__(self) -> "LoopbackRuntimeApi":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

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
                request_id, body = item
                api.responses[request_id].served = time.perf_counter()
                self._answer(200, body, {
                    "Content-Type": "application/json", "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 300_000),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"})

            def do_POST(self) -> None:
                parts = self.path.split("/")
                if self.path.endswith("/error"):
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    api.errors.append(f"{self.path}: {self.headers.get('Lambda-Runtime-Function-Error-Type')}")
                    return self._answer(202, b'{"status":"OK"}')
                if len(parts) != 6 or parts[5] != "response" or parts[4] not in api.responses:
                    return self._answer(404)
                response = api.responses[parts[4]]
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    api.errors.append(f"{self.path}: not a streamed (chunked) response")
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                else:
                    self._read_chunks(response)
                response.done.set()
                self._answer(202, b'{"status":"OK"}')

            def _read_chunks(self, response: Response) -> None:
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        response.ended = time.perf_counter()
                        while True:  # trailers, then the blank line
                            line = self.rfile.readline()
                            if line in (b"\r\n", b"\n", b""):
                                return
                            name, _, value = line.decode("latin-1").partition(":")
                            response.trailers[name.strip()] = value.strip()
                    data = self.rfile.read(size)
                    arrived = time.perf_counter()
                    self.rfile.read(2)
                    response.chunks.append((arrived, data))

        return Handler


def measure(response: Response, token_times: list[float], tokens: int) -> dict[str, Any]:
    """One invocation's figures in ms; raises if the response is not the expected stream."""
    if not response.done.is_set() or not response.chunks:
        raise RuntimeError("the invocation's response never ended")
    if response.trailers:
        raise RuntimeError(f"the response ended with error trailers: {response.trailers}")
    first_chunk = response.chunks[0][1]
    prelude = json.loads(first_chunk[:first_chunk.index(b"\x00")])
    if prelude["statusCode"] != 200:
        body = b"".join(data for _, data in response.chunks)
        raise RuntimeError(f"the stream answered {prelude['statusCode']}: {body[-500:]!r}")
    # The prelude (and its eight NUL bytes) is one chunk, then one chunk per event: token ..., done.
    events = response.chunks[1:]
    if len(token_times) != tokens or len(events) != tokens + 1:
        raise RuntimeError(f"expected {tokens} tokens and a done event, the provider gave {len(token_times)} "
                           f"and {len(events)} event chunks arrived")
    if not all(data.startswith(b"event: token\n") for _, data in events[:-1]) \
            or not events[-1][1].startswith(b"event: done\n"):
        raise RuntimeError("the event chunks are not one token per chunk then done")
    ms = 1000.0
    served = response.served
    return {
        "ttfb_ms": (response.chunks[0][0] - served) * ms,
        "first_token_ms": (token_times[0] - served) * ms,
        "total_ms": (response.ended - served) * ms,
        "answer_ms": (token_times[-1] - token_times[0]) * ms,
        "token_to_event_ms": [(arrived - produced) * ms for produced, (arrived, _) in zip(token_times, events)],
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from bench import workload

    # The caller's items, read as the assistant's context (the offline planner answers from them).
    workload.seed_sqlite(spec["sqlite_path"], workload.item_puts(READER, READER_ITEMS))
    from chalicelib import compose
    from chalicelib.assistant.offline import OfflineProvider

    provider = ClockedProvider(OfflineProvider(delay=spec["delay"]), spec["tokens"], warmup=spec["warmup"])
    compose._build_provider = lambda settings: provider  # get_assistant() builds the service around it
    headers, claims = gateway_auth(READER)
    total = spec["warmup"] + spec["invocations"]
    with LoopbackRuntimeApi() as api:
        request_ids = [api.add(rest_event("POST", "/assistant/stream", headers=headers, claims=claims,
                                          body={"prompt": PROMPT})) for _ in range(total)]
        # The Runtime API's own variable (runtime.main reads it); Lambda sets it, so does this stand-in.
        os.environ["AWS_LAMBDA_RUNTIME_API"] = api.address
        from chalicelib.streaming import runtime

        status = runtime.main(max_invocations=total)
        if status != 0 or api.errors:
            raise RuntimeError(f"the runtime exited {status}; error reports: {api.errors}")
        for request_id in request_ids:
            api.responses[request_id].done.wait(10)
        if len(provider.calls) != total:
            raise RuntimeError(f"{total} invocations, but the provider was called {len(provider.calls)} times")
        runs = [measure(api.responses[request_id], times, spec["tokens"])
                for request_id, times in zip(request_ids, provider.calls)]
    return {"runs": runs[spec["warmup"]:], "warmup_runs": runs[:spec["warmup"]], "tokens": spec["tokens"],
            "delay": spec["delay"], "peak_rss_kb": peak_rss_kb()}


# --- the parent's summary ----------------------------------------------------------------------


def percentile(values: list[float], p: int) -> float:
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[p - 1]


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Medians and extremes over the timed invocations; token latencies pooled over all of them."""
    runs = result["runs"]

    def per_run(key: str) -> tuple[float, float, float]:
        values = [run[key] for run in runs]
        return statistics.median(values), min(values), max(values)

    ratios = [run["ttfb_ms"] / run["total_ms"] for run in runs]
    first = [run["token_to_event_ms"][0] for run in runs]
    every = [value for run in runs for value in run["token_to_event_ms"]]
    return {
        "n": len(runs), "tokens": result["tokens"], "delay_ms": result["delay"] * 1000,
        "ttfb": per_run("ttfb_ms"), "first_token": per_run("first_token_ms"), "total": per_run("total_ms"),
        "answer": per_run("answer_ms"),
        "ratio": (statistics.median(ratios), min(ratios), max(ratios)),
        "first_event": (statistics.median(first), min(first), max(first)),
        "every_event": (statistics.median(every), percentile(every, 99), max(every), len(every)),
        "peak_rss_mb": result["peak_rss_kb"] / 1024,
        # The process's first invocation: what init left lazy (msgspec and the schemas, the store) is in it.
        "first_ttfb": result["warmup_runs"][0]["ttfb_ms"] if result["warmup_runs"] else None,
    }


if __name__ == "__main__":
    figure_main(run)
