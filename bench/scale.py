"""Figure 4, run in its own process per adapter: first-page latency of GET /items as the caller's
partition grows, unfiltered and filtered by a status that holds 10% of the items."""

from __future__ import annotations

import json
import time
from typing import Any

from app import app
from bench import workload
from bench.harness import WarmCase
from bench.harness import figure_main
from bench.harness import peak_rss_kb
from bench.harness import rest_event
from bench.harness import run_warm

# Pages of the same shape at every size, so only the partition size varies: at 10 items a page of 9
# is full and has a next page (a cursor to sign), as at every larger size. Filtered, 10% of 10 items is
# one, so that page holds one item and, at 10 items only, has no next page.
UNFILTERED_LIMIT = 9
FILTERED_LIMIT = 1


def owner(size: int) -> str:
    return f"bench-scale-{size}"


def seed(spec: dict[str, Any]) -> dict[str, Any]:
    """Seed every partition; for DynamoDB Local, shrink the largest if it would take too long."""
    sizes = list(spec["sizes"])
    seeded: dict[str, float] = {}
    if spec["adapter"] == "sqlite":
        for size in sizes:
            start = time.perf_counter()
            workload.seed_sqlite(spec["sqlite_path"], workload.item_puts(owner(size), size))
            seeded[str(size)] = time.perf_counter() - start
        return {"sizes": sizes, "seconds": seeded, "reduced_from": None}
    endpoint, table = spec["endpoint"], spec["table"]
    reduced_from = None
    rate = None
    for position, size in enumerate(sizes):
        if rate is not None and position == len(sizes) - 1 and size / rate > spec["seed_budget_s"]:
            # Too slow to seed in budget on this machine: take the largest round size that fits (at
            # least 10x the previous one), and the report says so.
            fits = [n for n in (50_000, 20_000, 10_000) if n / rate <= spec["seed_budget_s"]]
            reduced_from, size = size, max(fits[0] if fits else 10_000, sizes[position - 1] * 10)
            sizes[position] = size
        puts = workload.item_puts(owner(size), size)
        start = time.perf_counter()
        workload.seed_dynamodb(endpoint, table, puts, threads=spec.get("threads", 4))
        elapsed = time.perf_counter() - start
        seeded[str(size)] = elapsed
        if size >= 1000:
            rate = size / elapsed
    return {"sizes": sizes, "seconds": seeded, "reduced_from": reduced_from}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    seeding = seed(spec)
    cases = []
    for size in seeding["sizes"]:
        headers, claims = workload.gateway_auth(owner(size))
        cases.append(
            WarmCase(
                f"all@{size}",
                app,
                [rest_event("GET", "/items", query={"limit": str(UNFILTERED_LIMIT)}, headers=headers, claims=claims)],
            )
        )
        cases.append(
            WarmCase(
                f"done@{size}",
                app,
                [
                    rest_event(
                        "GET",
                        "/items",
                        query={"status": "done", "limit": str(FILTERED_LIMIT)},
                        headers=headers,
                        claims=claims,
                    )
                ],
            )
        )
    summaries = run_warm(cases, rounds=spec["rounds"], per_round=spec["per_round"], warmup=spec["warmup"])
    # What each page held, so the report shows the pages were alike.
    held = {}
    for case in cases:
        page = json.loads(case.handler(case.events[0], None)["body"])
        held[case.name] = f"{len(page['items'])}{' + cursor' if page['next_cursor'] else ''}"
    return {
        "seeding": seeding,
        "summaries": {name: s.__dict__ for name, s in summaries.items()},
        "held": held,
        "peak_rss_kb": peak_rss_kb(),
    }


if __name__ == "__main__":
    figure_main(run)
