"""Figure 5, run in its own process: ``POST /assistant/stream`` through the streaming function's real
runtime (``chalicelib.streaming.runtime.main``) against a loopback stand-in for Lambda's Runtime API
that notes when each chunk of the streamed response arrives, with the offline assistant slowed to a
model's pace and its provider clocked at every token it hands over.

The parent (bench/run.py ``figure_streaming``) only builds the environment and the spec and prints
what ``summarize`` makes of the result; everything timed happens here, on one clock (perf_counter).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

from bench import workload
from bench.harness import figure_main
from bench.harness import lambda_environment
from bench.harness import peak_rss_kb
from bench.harness import rest_event
from bench.workload import CLIENT_ID
from bench.workload import CURSOR_SECRET
from bench.workload import ISSUER
from bench.workload import READER
from bench.workload import READER_ITEMS
from bench.workload import gateway_auth
from chalicelib import wiring
from chalicelib.assistant.base import Token
from chalicelib.assistant.offline import OfflineProvider
from chalicelib.streaming import runtime

# The tests' stand-in for Lambda's Runtime API: it notes when each chunk of a response arrives.
from tests.support.runtime_api import FakeRuntimeApi
from tests.support.runtime_api import Posted

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
    return lambda_environment(
        FUNCTION_NAME,
        home=home,
        extra={
            "APP_STAGE": "prod",
            "STORE": "sqlite",
            "SQLITE_PATH": sqlite_path,
            "QUEUE": "off",
            "AUTH_ISSUER": ISSUER,
            "AUTH_CLIENT_IDS": CLIENT_ID,
            "CURSOR_SECRET": CURSOR_SECRET,
            "DATA_DIR": f"{home}/.data",
            "ASSISTANT_PROVIDER": "offline",
        },
    )


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
        times: list[float] = []
        self.calls.append(times)
        self.inner.delay = 0.0 if len(self.calls) <= self.warmup else self.delay
        for chunk in self.inner.stream(system, prompt, max_tokens=min(max_tokens, self.tokens)):
            if isinstance(chunk, Token):
                times.append(time.perf_counter())
            yield chunk


def measure(response: Posted, served: float, token_times: list[float], tokens: int) -> dict[str, Any]:
    """One invocation's figures in ms, from when /next handed it out (``served``); raises if the response
    is not the expected stream."""
    if not response.done.is_set() or not response.chunks:
        raise RuntimeError("the invocation's response never ended")
    if response.trailers:
        raise RuntimeError(f"the response ended with error trailers: {response.trailers}")
    first_chunk = response.chunks[0][1]
    prelude = json.loads(first_chunk[: first_chunk.index(b"\x00")])
    if prelude["statusCode"] != 200:
        body = b"".join(data for _, data in response.chunks)
        raise RuntimeError(f"the stream answered {prelude['statusCode']}: {body[-500:]!r}")
    # The prelude (and its eight NUL bytes) is one chunk, then one chunk per event: token ..., done.
    events = response.chunks[1:]
    if len(token_times) != tokens or len(events) != tokens + 1:
        raise RuntimeError(
            f"expected {tokens} tokens and a done event, the provider gave {len(token_times)} "
            f"and {len(events)} event chunks arrived"
        )
    if not all(data.startswith(b"event: token\n") for _, data in events[:-1]) or not events[-1][1].startswith(
        b"event: done\n"
    ):
        raise RuntimeError("the event chunks are not one token per chunk then done")
    ms = 1000.0
    return {
        "ttfb_ms": (response.chunks[0][0] - served) * ms,
        "first_token_ms": (token_times[0] - served) * ms,
        "total_ms": (response.ended - served) * ms,
        "answer_ms": (token_times[-1] - token_times[0]) * ms,
        "token_to_event_ms": [(arrived - produced) * ms for produced, (arrived, _) in zip(token_times, events)],
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    # The caller's items, read as the assistant's context (the offline planner answers from them).
    workload.seed_sqlite(spec["sqlite_path"], workload.item_puts(READER, READER_ITEMS))
    provider = ClockedProvider(OfflineProvider(delay=spec["delay"]), spec["tokens"], warmup=spec["warmup"])
    wiring.bootstrap(provider=provider)  # the assistant service is built around it
    headers, claims = gateway_auth(READER)
    total = spec["warmup"] + spec["invocations"]
    with FakeRuntimeApi() as api:
        request_ids = [
            api.add(rest_event("POST", "/assistant/stream", headers=headers, claims=claims, body={"prompt": PROMPT}))
            for _ in range(total)
        ]
        # The Runtime API's own variable (runtime.main reads it); Lambda sets it, so does this stand-in.
        os.environ["AWS_LAMBDA_RUNTIME_API"] = api.address
        status = runtime.main(max_invocations=total)
        # Any use of the error endpoints, or a response that is not streamed, fails the figure.
        errors = [
            f"{posted.path}: {posted.headers.get('Lambda-Runtime-Function-Error-Type')}"
            for posted in [*api.init_errors, *api.errors.values()]
        ]
        errors += [
            f"{posted.path}: not a streamed (chunked) response"
            for posted in api.responses.values()
            if posted.headers.get("Transfer-Encoding", "").lower() != "chunked"
        ]
        if status != 0 or errors:
            raise RuntimeError(f"the runtime exited {status}; error reports: {errors}")
        responses = [api.wait(api.responses, request_id) for request_id in request_ids]
        if len(provider.calls) != total:
            raise RuntimeError(f"{total} invocations, but the provider was called {len(provider.calls)} times")
        runs = [
            measure(response, api.served[request_id], times, spec["tokens"])
            for request_id, response, times in zip(request_ids, responses, provider.calls)
        ]
    return {
        "runs": runs[spec["warmup"] :],
        "warmup_runs": runs[: spec["warmup"]],
        "tokens": spec["tokens"],
        "delay": spec["delay"],
        "peak_rss_kb": peak_rss_kb(),
    }


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
        "n": len(runs),
        "tokens": result["tokens"],
        "delay_ms": result["delay"] * 1000,
        "ttfb": per_run("ttfb_ms"),
        "first_token": per_run("first_token_ms"),
        "total": per_run("total_ms"),
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
