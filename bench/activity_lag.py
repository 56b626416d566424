"""Figure 7, in its own process: the time from a write's commit to ``STATS`` reflecting it, through the local
pipeline (the change log or DynamoDB Local's stream -> the local feed -> the forwarder -> the embedded
queue -> the activity consumer), as ``make dev`` runs it.

Each ``POST /items`` goes through the app; its commit is the moment the handler returns (the write
committed just before its answer). Then the caller's ``STATS`` record is read every ``poll_ms`` until its
``total`` counts the new item. One item at a time (the lag of a change alone), then a burst of ``burst``
creates sent back to back (from the last commit to the last one counted).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from app import app
from bench.harness import figure_main
from bench.harness import rest_event
from bench.harness import summarize
from bench.workload import gateway_auth
from chalicelib import keys
from chalicelib import wiring

USER = "bench-lag"


def run(spec: dict[str, Any]) -> dict[str, Any]:
    headers, claims = gateway_auth(USER)
    sub = claims["sub"]
    poll = spec["poll_ms"] / 1000
    timeout = spec["timeout_s"]

    def create(n: int) -> float:
        event = rest_event("POST", "/items", body={"title": f"lag {n}"}, headers=headers, claims=claims)
        response = app(event, None)
        committed = time.perf_counter()
        if response["statusCode"] != 201:
            raise RuntimeError(f"POST /items answered {response['statusCode']}: {response.get('body')}")
        return committed

    store = wiring.services().store  # builds the store, which starts the change feed

    def counted() -> int:
        record = store.get(keys.stats_key(sub))
        return int(record.get("total", 0)) if record else 0

    def wait_for(total: int, since: float) -> float:
        deadline = since + timeout
        while counted() < total:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"STATS did not reach total={total} within {timeout} s")
            time.sleep(poll)
        return (time.perf_counter() - since) * 1000

    # Warm-up: the first change builds the queue, the forwarder's and the consumer's code.
    wait_for(1, create(0))
    done = 1
    single = []
    for _ in range(spec["n"]):
        done += 1
        single.append(wait_for(done, create(done)))
    burst_started = time.perf_counter()
    last = burst_started
    for n in range(spec["burst"]):
        last = create(done + n + 1)
    done += spec["burst"]
    burst_ms = wait_for(done, last)
    s = summarize(single)
    return {
        "n": len(single),
        "p50": s.median,
        "p95": statistics.quantiles(single, n=20, method="inclusive")[18] if len(single) > 1 else single[0],
        "max": max(single),
        "burst": spec["burst"],
        "burst_ms": burst_ms,
        "burst_total_ms": (time.perf_counter() - burst_started) * 1000,
    }


if __name__ == "__main__":
    figure_main(run)
