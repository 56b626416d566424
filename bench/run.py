"""Run every figure and print the tables and the verdict lines: ``python -m bench.run [--quick]``.
A figure is a function ``(Bench) -> None`` listed in FIGURES that adds to ``bench.report``."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import overload

import chalice

from bench import harness
from bench import size
from bench import streaming
from bench import workload
from bench.harness import ColdCase
from bench.harness import Report
from bench.harness import rest_event
from bench.harness import run_cold
from bench.harness import run_module
from bench.harness import summarize
from bench.scale import FILTERED_LIMIT
from bench.scale import UNFILTERED_LIMIT

TABLE = "bench-tasks"
LAG_TABLE = "bench-lag"  # made by the app itself (DYNAMODB_ENDPOINT_URL), with its stream
LAG_BUDGET_MS = 5000.0  # docs/API.md: stats and activity reflect a change within 5 seconds locally


@dataclass(frozen=True)
class Plan:
    """How much to measure: the defaults are the full run."""

    quick: bool = False
    cold_rounds: int = 21
    warm_rounds: int = 20
    warm_per_round: int = 500
    warm_warmup: int = 500
    # 2b: GET /items against DynamoDB Local, whose round trip (about a millisecond) dominates each call.
    warm_peers_rounds: int = 20
    warm_peers_per_round: int = 50
    warm_peers_warmup: int = 50
    scale_sizes: tuple[int, ...] = (10, 1_000, 100_000)
    scale_rounds: int = 20
    scale_per_round: int = 30
    seed_budget_s: float = 120
    lag_items: int = 30
    lag_burst: int = 20


# A smoke run: every figure produced once, quickly, measuring nothing.
SMOKE = Plan(
    quick=True,
    cold_rounds=3,
    warm_rounds=2,
    warm_per_round=40,
    warm_warmup=20,
    warm_peers_rounds=2,
    warm_peers_per_round=5,
    warm_peers_warmup=5,
    scale_sizes=(10, 100, 1_000),
    scale_rounds=2,
    scale_per_round=5,
    seed_budget_s=30,
    lag_items=3,
    lag_burst=3,
)


@dataclass
class Bench:
    plan: Plan
    report: Report
    home: str
    data_dir: str
    sqlite_path: str
    endpoint: str | None
    unavailable: str | None  # why DynamoDB Local is not running, if it is not
    shared: dict[str, Any] = field(default_factory=dict)

    def progress(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def deployed_env(self) -> dict[str, str]:
        return workload.deployed_env(self.home, table=TABLE, endpoint=self.endpoint)


# --- figure 1: cold ----------------------------------------------------------------------------


HELLO = "anchor: bare Chalice, GET /"
FLOOR = "anchor: + boto3 client at import, GET /"
FLOOR_READ = "anchor: + boto3 client at import, GET /items (1 Query)"
HEALTH = "app: GET /health"
DEPLOYED = "app: GET /items, deployed (DynamoDB, API Gateway claims; lean transport, the default)"
DEPLOYED_BOTO3 = "app: GET /items, deployed, on botocore's client (DYNAMODB_TRANSPORT=boto3)"
DEPLOYED_WRITE = "app: POST /items, deployed (lean transport, the default; one PutItem)"
EMBEDDED = "app: GET /items, embedded (SQLite, token verified by the app)"
POWERTOOLS = "peer: GET /items, Powertools REST resolver + boto3"
FASTAPI = "peer: GET /items, FastAPI + Mangum + boto3"
# The same route written with the tools a team would otherwise pick (bench/peers/), deployed configuration.
PEERS = {POWERTOOLS: ("powertools_app", "Powertools"), FASTAPI: ("fastapi_app", "FastAPI + Mangum")}
SHORT = {HELLO: "bare Chalice", FLOOR: "boto3 floor", FLOOR_READ: "boto3 floor + Query"}
# Peak RSS (VmHWM) of a cold deployed GET /items process, median MB, measured on 7e3fb36 (boto3 1.44.5 on the
# read path, Python 3.11, x86_64; every sample the same to 0.1 MB): the reference of the peak memory verdict,
# which the lean DynamoDB transport of issue 12 is to lower.
TODAY_PEAK_RSS_MB = 48.3


def figure_cold(bench: Bench) -> None:
    anchors = os.path.join(harness.BENCH_DIR, "anchors")
    reader_headers, reader_claims = workload.gateway_auth(workload.READER)
    token = workload.local_token(workload.READER, bench.data_dir)
    cases = [
        ColdCase(
            HELLO, os.path.join(anchors, "hello"), harness.lambda_environment(home=bench.home), rest_event("GET", "/")
        ),
        ColdCase(HEALTH, harness.REPO_ROOT, bench.deployed_env(), rest_event("GET", "/health")),
        ColdCase(
            EMBEDDED,
            harness.REPO_ROOT,
            workload.embedded_env(bench.home, sqlite_path=bench.sqlite_path, data_dir=bench.data_dir),
            rest_event("GET", "/items", headers={"Authorization": f"Bearer {token}"}),
        ),
    ]
    if bench.endpoint:
        floor = os.path.join(anchors, "boto3_floor")
        cases += [
            ColdCase(FLOOR, floor, bench.deployed_env(), rest_event("GET", "/")),
            ColdCase(FLOOR_READ, floor, bench.deployed_env(), rest_event("GET", "/items")),
            ColdCase(
                DEPLOYED,
                harness.REPO_ROOT,
                {**bench.deployed_env(), "DYNAMODB_TRANSPORT": "lean"},
                rest_event("GET", "/items", headers=reader_headers, claims=reader_claims),
            ),
            ColdCase(
                DEPLOYED_BOTO3,
                harness.REPO_ROOT,
                bench.deployed_env(),
                rest_event("GET", "/items", headers=reader_headers, claims=reader_claims),
            ),
            ColdCase(
                DEPLOYED_WRITE,
                harness.REPO_ROOT,
                {**bench.deployed_env(), "DYNAMODB_TRANSPORT": "lean"},
                rest_event("POST", "/items", headers=reader_headers, claims=reader_claims, body={"title": "cold"}),
                expect_status=201,
            ),
        ]
        cases += [
            ColdCase(
                name,
                os.path.join(harness.BENCH_DIR, "peers"),
                bench.deployed_env(),
                rest_event("GET", "/items", headers=reader_headers, claims=reader_claims),
                module=module,
                handler="handler",
            )
            for name, (module, _) in PEERS.items()
        ]
    samples = run_cold(cases, bench.plan.cold_rounds, progress=bench.progress)
    bench.shared["cold_cases"] = {case.name: case for case in cases}
    bench.shared["cold_samples"] = samples
    totals = {name: summarize(s.total_ms for s in runs) for name, runs in samples.items()}
    figure = (
        f"1 cold: ms from process spawn to first response; median of {bench.plan.cold_rounds} fresh "
        "processes per case, interleaved"
    )
    bench.report.table(
        figure,
        "case",
        "total",
        "IQR",
        "interp.",
        "import",
        "1st call",
        "modules",
        "peak RSS",
        "anchor",
        "ratio",
        "paired IQR",
    )

    spreads: dict[str, str] = {}

    # A case measured against an anchor has a ratio to it; an anchor itself has none.
    @overload
    def add(name: str, anchor: str) -> float: ...
    @overload
    def add(name: str, anchor: None) -> None: ...
    def add(name: str, anchor: str | None) -> float | None:
        runs = samples[name]
        total = totals[name]
        ratio = total.median / totals[anchor].median if anchor is not None else None
        parts = [
            summarize(getattr(s, part) for s in runs).median for part in ("interpreter_ms", "import_ms", "first_ms")
        ]
        rss = summarize(s.peak_rss_kb for s in runs).median / 1024
        paired = ""
        if anchor:
            # Same round, seconds apart: the spread of these shows how much the load moved the ratio.
            pairs = summarize(a.total_ms / b.total_ms for a, b in zip(runs, samples[anchor]))
            paired = f"{pairs.p25:.2f}-{pairs.p75:.2f}"
            spreads[name] = paired
        bench.report.row(
            figure,
            name,
            f"{total.median:.1f}",
            f"{total.p25:.0f}-{total.p75:.0f}",
            *(f"{part:.1f}" for part in parts),
            runs[-1].modules,
            f"{rss:.0f} MB",
            f"{totals[anchor].median:.1f} {SHORT[anchor]}" if anchor else "",
            f"{ratio:.2f}x" if ratio else "",
            paired,
        )
        return ratio

    add(HELLO, None)
    health = add(HEALTH, HELLO)
    bench.report.verdict(
        "cold GET /health", health, 1.3, f"the bare Chalice anchor (paired ratios IQR {spreads[HEALTH]})"
    )
    loaded = samples[HEALTH][-1].loaded
    heavy = [name for name in loaded if name in ("boto3", "botocore", "jwt", "cryptography")]
    bench.report.check(
        "cold GET /health loads no boto3 and no JWT library",
        not heavy,
        f"it loads {', '.join(heavy)}"
        if heavy
        else f"none of boto3, botocore, jwt, cryptography is loaded (of msgspec, sqlite3: "
        f"{', '.join(name for name in loaded if name in ('msgspec', 'sqlite3')) or 'none'})",
    )
    if bench.endpoint:
        add(FLOOR, HELLO)
        add(FLOOR_READ, HELLO)
        ratio = add(DEPLOYED, FLOOR_READ)
        bench.report.row(
            figure,
            "  (the same against the floor without its Query)",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            f"{totals[FLOOR].median:.1f} {SHORT[FLOOR]}",
            f"{totals[DEPLOYED].median / totals[FLOOR].median:.2f}x",
        )
        bench.report.verdict(
            "cold first GET /items, deployed",
            ratio,
            0.5,
            "the Chalice+boto3 floor anchor, client at import and the same one Query "
            f"(paired ratios IQR {spreads[DEPLOYED]}); issue 12's goal",
        )
        write = add(DEPLOYED_WRITE, FLOOR_READ)
        bench.report.verdict(
            "cold first POST /items, deployed",
            write,
            0.5,
            f"the Chalice+boto3 floor anchor with its one Query (paired ratios IQR {spreads[DEPLOYED_WRITE]}); "
            "reported as GET /items is (a write validates its body: msgspec loads too)",
        )
        # The same on botocore's client (DYNAMODB_TRANSPORT=boto3): what the lean transport saves.
        boto3_ratio = add(DEPLOYED_BOTO3, FLOOR_READ)
        bench.report.verdict(
            "cold first GET /items, deployed, on botocore's client",
            boto3_ratio,
            1.10,
            f"the Chalice+boto3 floor anchor with its one Query (paired ratios IQR {spreads[DEPLOYED_BOTO3]})",
        )
        add(EMBEDDED, FLOOR_READ)
        for peer, (_, short) in PEERS.items():
            add(peer, FLOOR_READ)
            pairs = summarize(a.total_ms / b.total_ms for a, b in zip(samples[DEPLOYED], samples[peer]))
            bench.report.verdict(
                f"cold first GET /items, deployed, against {short}",
                totals[DEPLOYED].median / totals[peer].median,
                1.0,
                f"the same route as a {short} app with boto3 ({totals[peer].median:.1f} ms; "
                f"paired ratios IQR {pairs.p25:.2f}-{pairs.p75:.2f})",
            )
        memory(bench, samples)
    else:
        add(EMBEDDED, HELLO)
        bench.report.note(f"cold deployed GET /items skipped: {bench.unavailable}")
    bench.report.note(
        "cold: interp. = spawn to the child's first line (interpreter and site start); import = "
        "the handler module; 1st call = the first invocation, lazy imports and clients included; "
        "paired IQR = quartiles of the per-round ratio to the anchor (the noise on the ratio)"
    )


def memory(bench: Bench, samples: dict[str, list[harness.ColdSample]]) -> None:
    """1b: the cold processes' peak resident memory, the app's deployed GET /items beside the floor and peers."""
    figure = "1b peak memory: peak RSS (VmHWM) of the cold process after its first response, median"
    bench.report.table(figure, "case", "peak RSS", "IQR", "vs boto3 floor + Query")
    rss = {name: summarize(s.peak_rss_kb / 1024 for s in runs) for name, runs in samples.items()}
    for name in (HELLO, FLOOR, FLOOR_READ, DEPLOYED, DEPLOYED_BOTO3, *PEERS, EMBEDDED):
        bench.report.row(
            figure,
            name,
            f"{rss[name].median:.1f} MB",
            f"{rss[name].p25:.1f}-{rss[name].p75:.1f}",
            "" if name == FLOOR_READ else f"{rss[name].median / rss[FLOOR_READ].median:.2f}x",
        )
    deployed = rss[DEPLOYED].median
    bench.report.check(
        "peak memory of the cold deployed GET /items",
        round(deployed, 1) < TODAY_PEAK_RSS_MB,
        f"{deployed:.1f} MB, {deployed / rss[FLOOR_READ].median:.2f}x the boto3 floor + Query "
        f"(lower than today's: {TODAY_PEAK_RSS_MB:.1f} MB, measured before the lean transport)"
        + ("  [quick mode: smoke run, not a measurement]" if bench.plan.quick else ""),
    )


# --- figure 2: warm ----------------------------------------------------------------------------


def figure_warm(bench: Bench) -> None:
    plan = bench.plan
    result = run_module(
        "bench.warm",
        {
            "rounds": plan.warm_rounds,
            "per_round": plan.warm_per_round,
            "warmup": plan.warm_warmup,
            "patch_item_id": bench.shared["patch_item_id"],
        },
        env=workload.warm_env(bench.home, sqlite_path=bench.sqlite_path),
    )
    summaries = result["summaries"]
    anchor = summaries["anchor GET /"]
    calls = plan.warm_rounds * plan.warm_per_round
    figure = (
        f"2 warm: us per call in one process, SQLite adapter, API Gateway claims; {calls} calls per case "
        f"after {plan.warm_warmup} warm-up, interleaved"
    )
    bench.report.table(figure, "case", "median", "p90", "anchor", "ratio")
    bench.report.row(figure, HELLO, f"{anchor['median']:.1f}", f"{anchor['p90']:.1f}")
    for name in ("GET /health", "GET /items", "POST /items", "PATCH /items/{id}"):
        summary = summaries[name]
        label = "app: " + name + (f" (page of {result['page_size']})" if name == "GET /items" else "")
        bench.report.row(
            figure,
            label,
            f"{summary['median']:.1f}",
            f"{summary['p90']:.1f}",
            f"{anchor['median']:.1f} bare Chalice",
            f"{summary['median'] / anchor['median']:.2f}x",
        )
    bench.report.row(figure, "peak RSS of that process", f"{result['peak_rss_kb'] / 1024:.0f} MB")
    bench.report.verdict(
        "warm GET /health overhead",
        summaries["GET /health"]["median"] / anchor["median"],
        2.0,
        "the bare Chalice anchor, access line and metrics on; issue 12's goal",
    )
    if bench.endpoint:
        warm_peers(bench)
    else:
        bench.report.note(f"warm GET /items against the peers skipped: {bench.unavailable}")


WARM_APP = "app: GET /items"
WARM_FLOOR = "anchor: boto3 floor GET /items"
WARM_PEERS = {"peer: Powertools": "Powertools", "peer: FastAPI + Mangum": "FastAPI + Mangum"}


def warm_peers(bench: Bench) -> None:
    """2b: the deployed GET /items warm on DynamoDB Local, beside the peers and the floor's bare Query."""
    plan = bench.plan
    result = run_module(
        "bench.warm_peers",
        {"rounds": plan.warm_peers_rounds, "per_round": plan.warm_peers_per_round, "warmup": plan.warm_peers_warmup},
        env={**bench.deployed_env(), "DYNAMODB_TRANSPORT": "lean"},  # the app on its default transport
    )
    summaries = result["summaries"]
    calls = plan.warm_peers_rounds * plan.warm_peers_per_round
    figure = (
        f"2b warm GET /items against the peers: us per call in one process, deployed configuration on DynamoDB "
        f"Local (API Gateway claims, one Query each); {calls} calls per case after {plan.warm_peers_warmup} "
        "warm-up, interleaved"
    )
    bench.report.table(figure, "case", "median", "p90", "items", "vs app", "vs boto3 floor Query")
    app_median = summaries[WARM_APP]["median"]
    floor_median = summaries[WARM_FLOOR]["median"]
    for name in (WARM_FLOOR, WARM_APP, *WARM_PEERS):
        summary = summaries[name]
        bench.report.row(
            figure,
            name,
            f"{summary['median']:.1f}",
            f"{summary['p90']:.1f}",
            result["page_sizes"][name] if name != WARM_FLOOR else "(count only)",
            "" if name == WARM_APP else f"{summary['median'] / app_median:.2f}x",
            "" if name == WARM_FLOOR else f"{summary['median'] / floor_median:.2f}x",
        )
    bench.report.row(figure, "peak RSS of that process", f"{result['peak_rss_kb'] / 1024:.0f} MB")
    for name, short in WARM_PEERS.items():
        bench.report.verdict(
            f"warm GET /items, deployed, against {short}",
            app_median / summaries[name]["median"],
            1.0,
            f"the same route as a {short} app with boto3 ({summaries[name]['median']:.1f} us)",
        )
    bench.report.note(
        "2b: every case sends the same Query to DynamoDB Local over a kept-alive connection, whose round trip "
        "is most of each call; the differences are the framework, routing, claims, the page's rendering and "
        "the client each brings"
    )


# --- figure 3: DynamoDB requests and capacity --------------------------------------------------


def figure_requests(bench: Bench) -> None:
    figure = "3 DynamoDB requests and consumed capacity per route: deployed configuration on DynamoDB Local"
    if not bench.endpoint:
        bench.report.row(figure, "skipped", bench.unavailable or "")
        return
    result = run_module("bench.ddb_requests", {}, env=bench.deployed_env())
    bench.report.table(figure, "route", "kind", "requests", "capacity units")
    reads_off, writes_off = [], []
    for row in result["rows"]:
        capacity = "not reported" if row["capacity"] is None else f"{row['capacity']:g}"
        bench.report.row(figure, row["route"], row["kind"], row["requests"], capacity)
        if row["kind"] in ("read", "none") and row["requests"] != (1 if row["kind"] == "read" else 0):
            reads_off.append(f"{row['route']}={row['requests']}")
        if row["kind"] == "write" and row["requests"] > 1:
            writes_off.append(f"{row['route']}={row['requests']}")
    bench.report.check(
        "exactly 1 DynamoDB request per read route (0 for /health)",
        not reads_off,
        ", ".join(reads_off) or "every read 1, /health 0",
    )
    bench.report.check(
        "at most 1 DynamoDB request per write route", not writes_off, ", ".join(writes_off) or "every write 1"
    )
    bench.report.note(
        "capacity: DynamoDB Local's figures with ReturnConsumedCapacity=TOTAL added by a botocore "
        "hook in the bench; a failed conditional write or transaction reports none"
    )
    built = {row["route"]: row for row in result["rows"]}
    alternative = (
        "3b the design not chosen: each write with its event as a separate OUTBOX# record in one "
        "TransactWriteItems (issued once on DynamoDB Local, not served by the app)"
    )
    bench.report.table(
        alternative, "write", "requests", "DynamoDB Local reports", "by DynamoDB's rule", "WCU x built", "as built"
    )
    for row in result["outbox"]:
        same = built.get(row["built"] or "")
        bench.report.row(
            alternative,
            row["route"],
            row["requests"],
            f"read {row['reads']:g}, write {row['writes']:g}",
            row["rule"],
            "" if same is None else f"{row['rule_writes'] / same['capacity']:.1f}x",
            "" if same is None else f"{_requests(same['requests'])}, {same['capacity']:g} WCU ({row['built']})",
        )
    bench.report.note(
        "3b: as built, a write's event comes from the table's stream, which costs the write nothing (Lambda's "
        "reads of a stream are free); a transaction consumes 2 write units per KB of each item it writes, "
        "index entries included (DynamoDB's rule; every record here is under 1 KB). DynamoDB Local under-reports "
        "a transaction of several items (the probe row: 2 for two records, 4 by the rule), so the rule's "
        "column is the bill; its reports of single-item writes (table 3) match the rule. The outbox design would still "
        "need the stream, or a poller, to deliver its OUTBOX# records"
    )


def _requests(n: int) -> str:
    return f"{n} request" + ("" if n == 1 else "s")


# --- figure 4: scale ---------------------------------------------------------------------------


def figure_scale(bench: Bench) -> None:
    plan = bench.plan
    scale_db = os.path.join(bench.home, "scale.db")
    adapters = [("sqlite", workload.warm_env(bench.home, sqlite_path=scale_db))]
    if bench.endpoint:
        adapters.append(("dynamodb", bench.deployed_env()))
    else:
        bench.report.note(f"scale on DynamoDB skipped: {bench.unavailable}")
    figure = "4 scale: first-page latency of GET /items as the caller's partition grows (us per call, median)"
    bench.report.table(figure, "adapter", "query", "items", "on page", "median", "vs smallest", "vs previous size")
    for adapter, env in adapters:
        bench.progress(f"scale on {adapter}: seeding {', '.join(f'{n:,}' for n in plan.scale_sizes)} items")
        result = run_module(
            "bench.scale",
            {
                "adapter": adapter,
                "sizes": list(plan.scale_sizes),
                "sqlite_path": scale_db,
                "endpoint": bench.endpoint,
                "table": TABLE,
                "seed_budget_s": plan.seed_budget_s,
                "rounds": plan.scale_rounds,
                "per_round": plan.scale_per_round,
                "warmup": plan.scale_per_round,
            },
            env=env,
        )
        seeding = result["seeding"]
        sizes = seeding["sizes"]
        for kind, query in (
            ("all", f"?limit={UNFILTERED_LIMIT}"),
            ("done", f"?status=done&limit={FILTERED_LIMIT} (10% done)"),
        ):
            base = previous = result["summaries"][f"{kind}@{sizes[0]}"]["median"]
            for size_n in sizes:
                name = f"{kind}@{size_n}"
                median = result["summaries"][name]["median"]
                first = size_n == sizes[0]
                bench.report.row(
                    figure,
                    adapter,
                    query,
                    f"{size_n:,}",
                    result["held"][name],
                    f"{median:.0f}",
                    "" if first else f"{median / base:.2f}x",
                    "" if first else f"{median / previous:.2f}x",
                )
                previous = median
            bench.report.verdict(
                f"{adapter} GET /items{query.split(' ')[0]} first page at {sizes[-1]:,} items",
                result["summaries"][f"{kind}@{sizes[-1]}"]["median"] / base,
                1.2,
                f"the same at {sizes[0]} items",
            )
        seconds = ", ".join(f"{int(n):,} items in {s:.1f} s" for n, s in seeding["seconds"].items())
        bench.report.note(f"scale {adapter}: seeded {seconds}")
        if seeding["reduced_from"]:
            bench.report.note(
                f"scale {adapter}: LARGEST SIZE REDUCED from {seeding['reduced_from']:,} to "
                f"{sizes[-1]:,} items, since seeding would take over {plan.seed_budget_s:.0f} s here"
            )
        if plan.quick:
            bench.report.note(f"scale {adapter}: quick mode stops at {sizes[-1]:,} items (a full run: 100,000)")
    bench.report.note(
        f"scale: limit={UNFILTERED_LIMIT} makes every page full with a next page at every size, so "
        f"only the partition size varies; filtered (limit={FILTERED_LIMIT}) the 10-item partition "
        "holds one done item, so only that page has no next cursor to sign"
    )


# --- figure 5: streaming -----------------------------------------------------------------------


def figure_streaming(bench: Bench) -> None:
    sqlite_path = os.path.join(bench.home, "streaming.db")
    spec = streaming.spec(bench.plan.quick, sqlite_path=sqlite_path)
    result = run_module("bench.streaming", spec, env=streaming.environment(bench.home, sqlite_path=sqlite_path))
    s = streaming.summarize(result)
    answer_s = s["tokens"] * s["delay_ms"] / 1000
    figure = (
        f"5 streaming: ms, POST /assistant/stream through the streaming runtime (runtime.main) and a loopback "
        f"Runtime API; offline answer of {s['tokens']} tokens {s['delay_ms']:.0f} ms apart, {s['n']} "
        "invocations after 1 warm-up"
    )
    bench.report.table(figure, "measure", "median", "min", "max", "p99")

    def add(label: str, values: tuple[float, float, float], unit: str = "", digits: int = 2) -> None:
        bench.report.row(figure, label, *(f"{value:.{digits}f}{unit}" for value in values))

    add("time to first byte (invocation handed out to the prelude chunk received)", s["ttfb"], digits=1)
    add("  of which before the provider's first token (auth, items read, planner)", s["first_token"], digits=1)
    add("total (invocation handed out to the end of the body)", s["total"], digits=1)
    add("  the provider's own answer (first token to last)", s["answer"], digits=1)
    add("time to first byte / total", s["ratio"], "x", digits=3)
    add("provider's first token to its SSE event received", s["first_event"])
    median, p99, worst, count = s["every_event"]
    bench.report.row(
        figure,
        f"every token to its SSE event received ({count} tokens)",
        f"{median:.2f}",
        "",
        f"{worst:.2f}",
        f"{p99:.2f}",
    )
    if s["first_ttfb"] is not None:
        bench.report.row(
            figure, "time to first byte of the process's first invocation (the warm-up)", f"{s['first_ttfb']:.1f}"
        )
    bench.report.row(figure, "peak RSS of that process", f"{s['peak_rss_mb']:.0f} MB")
    worst_first = s["first_event"][2]
    bench.report.verdict(
        "streaming: first SSE event after the provider's first token",
        worst_first / streaming.BUDGET_MS,
        1.0,
        f"the {streaming.BUDGET_MS:.0f} ms budget (worst of {s['n']} invocations: {worst_first:.2f} ms)",
    )
    bench.report.verdict(
        f"streaming: time to first byte over total, {answer_s:.1f} s answer",
        s["ratio"][0],
        streaming.TTFB_TARGET,
        f"the total (median of {s['n']}: {s['ttfb'][0]:.1f} ms of {s['total'][0]:.0f} ms)",
    )
    bench.report.note(
        "streaming: the Runtime API stand-in is an HTTP server on 127.0.0.1 in the same process (a "
        'thread); "received" is when it has read the chunk off the socket, one clock for it and the '
        "provider. The handler pulls the first event before it writes the prelude (the first event "
        "decides the status), so the first byte follows the first token. Not in it: API Gateway, "
        "Lambda's own streaming path and the network to the client"
    )


# --- figure 6: size ----------------------------------------------------------------------------


def figure_size(bench: Bench) -> None:
    figure = "6 size: what the image adds, and what a cold start imports"
    bench.report.table(figure, "measure", "value", "anchor", "ratio")
    try:
        layout = size.runtime_layout()
    except Exception as exc:
        bench.report.row(figure, "runtime layout", f"not measured: {str(exc).splitlines()[0][:120]}")
    else:
        bench.report.row(figure, "runtime layout", f"{layout.megabytes:.1f} MB, {layout.files} files")
        for top, megabytes, files in layout.by_top[:6]:
            bench.report.row(figure, f"  {top}", f"{megabytes:.2f} MB, {files} files")
        bench.report.note(f"layout = {layout.how}; boto3 comes with the Lambda base image and is not counted")
    cases, samples = bench.shared["cold_cases"], bench.shared["cold_samples"]
    app_name, anchor_name = (DEPLOYED, FLOOR_READ) if bench.endpoint else (EMBEDDED, HELLO)
    app_modules, anchor_modules = samples[app_name][-1].modules, samples[anchor_name][-1].modules
    bench.report.row(
        figure,
        f"modules imported by a cold {app_name.removeprefix('app: ')}",
        app_modules,
        f"{anchor_modules} {SHORT[anchor_name]}",
        f"{app_modules / anchor_modules:.2f}x",
    )
    profile = size.import_profile(cases[app_name])
    bench.report.row(
        figure,
        "ten most expensive imports on that path, cumulative under -X importtime",
        f"{profile.import_ms:.1f} ms in all",
    )
    for rank, (module, ms) in enumerate(profile.top, 1):
        bench.report.row(figure, f"  #{rank} {module}", f"{ms:.1f} ms")


# --- figure 7: activity lag --------------------------------------------------------------------


def figure_lag(bench: Bench) -> None:
    plan = bench.plan
    spec = {"n": plan.lag_items, "burst": plan.lag_burst, "poll_ms": 5, "timeout_s": 60}
    adapters = [("sqlite", "change log", workload.pipeline_env(bench.home, sqlite_path=f"{bench.home}/lag.db"))]
    if bench.endpoint:
        env = workload.pipeline_env(bench.home, table=LAG_TABLE, endpoint=bench.endpoint)
        adapters.append(("dynamodb", "DynamoDB Local's stream", env))
    else:
        bench.report.note(f"activity lag on DynamoDB skipped: {bench.unavailable}")
    figure = (
        f"7 activity lag: ms from a POST /items commit to STATS counting it, through the local pipeline "
        f"(feed -> forwarder -> embedded queue -> consumer); {plan.lag_items} creates one at a time after 1 "
        "warm-up, then a burst"
    )
    bench.report.table(figure, "adapter", "changes read from", "p50", "p95", "max", "burst")
    for adapter, source, env in adapters:
        result = run_module("bench.activity_lag", spec, env=env)
        bench.report.row(
            figure,
            adapter,
            source,
            f"{result['p50']:.0f}",
            f"{result['p95']:.0f}",
            f"{result['max']:.0f}",
            f"{result['burst']} creates: {result['burst_ms']:.0f} ms after the last commit",
        )
        bench.report.verdict(
            f"activity lag p95, {adapter}",
            result["p95"] / LAG_BUDGET_MS,
            1.0,
            f"API.md's {LAG_BUDGET_MS / 1000:.0f} s for local development (p95 {result['p95']:.0f} ms)",
        )
    bench.report.note(
        "activity lag: STATS read every 5 ms; the local feed polls its log every 100 ms when idle "
        "(chalicelib/events/feed.py), which dominates. Deployed, Lambda's stream polling and SQS stand in "
        "for the feed and the embedded queue: not measured here"
    )


FIGURES: list[tuple[str, Callable[[Bench], None]]] = [
    ("cold", figure_cold),
    ("warm", figure_warm),
    ("requests", figure_requests),
    ("scale", figure_scale),
    ("streaming", figure_streaming),
    ("size", figure_size),
    ("lag", figure_lag),
]


# --- setup -------------------------------------------------------------------------------------


@contextlib.contextmanager
def dynamodb_local() -> Iterator[tuple[str | None, str | None]]:
    """(endpoint, None) with DynamoDB Local running, or (None, reason) when it cannot start."""
    from tests.support.dynamodb_local import DynamoDBLocalUnavailable
    from tests.support.dynamodb_local import running_dynamodb_local

    try:
        with running_dynamodb_local(timeout=90) as endpoint:
            yield endpoint, None
    except DynamoDBLocalUnavailable as exc:
        yield None, str(exc).splitlines()[0]


def prepare(bench: Bench) -> None:
    """The reader's partition (a page and more) in the SQLite file and the DynamoDB table."""
    reader_items = workload.item_puts(workload.READER, workload.READER_ITEMS)
    workload.seed_sqlite(bench.sqlite_path, reader_items)
    bench.shared["patch_item_id"] = reader_items[-1].attrs["id"]
    workload.local_token(workload.READER, bench.data_dir)  # the issuer's keys, before any cold child
    if bench.endpoint:
        workload.create_table(bench.endpoint, TABLE)
        workload.seed_dynamodb(bench.endpoint, TABLE, reader_items)


def machine() -> list[str]:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        (
            f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {model}; "
            f"Python {platform.python_version()}; chalice {chalice.__version__}; load average {load}"
        ),
        f"code: {revision()}",
    ]


def revision() -> str:
    """The commit measured, and whether the app's files differed from it (read-only git calls)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=harness.REPO_ROOT, capture_output=True, text=True, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h %<(60,trunc)%s").rstrip()
    if not commit:
        return "not a git checkout"
    changed = git("status", "--porcelain", "--", "app.py", "chalicelib")
    return commit + (f" + uncommitted changes to {len(changed.splitlines())} app path(s)" if changed else "")


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_doc(path: str, text: str) -> None:
    """Replace the block between the bench markers of ``path`` with ``text`` as a code block."""
    with open(path) as doc:
        content = doc.read()
    if BEGIN not in content or END not in content:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} block to update")
    head, rest = content.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as doc:
        doc.write(f"{head}{BEGIN}\n```text\n{text.rstrip()}\n```\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run of the harness (under a minute); its figures are not measurements",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[name for name, _ in FIGURES],
        help="run only this figure (repeatable); cold always runs, others depend on it",
    )
    parser.add_argument(
        "--update-doc", metavar="PATH", help="also write the report into PATH's bench block (docs/PERFORMANCE.md)"
    )
    args = parser.parse_args(argv)
    plan = SMOKE if args.quick else Plan()
    report = Report(quick=plan.quick)
    started = time.perf_counter()
    # Only for this process's own DynamoDB Local clients (seeding); children get their own environment.
    os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    header = machine()
    for line in header:
        print(line, file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as home, dynamodb_local() as (endpoint, unavailable):
        data_dir = os.path.join(home, ".data")
        bench = Bench(plan, report, home, data_dir, os.path.join(home, "app.db"), endpoint, unavailable)
        if unavailable:
            bench.progress(f"DynamoDB Local unavailable, its figures are skipped: {unavailable}")
        prepare(bench)
        selected = set(args.only or []) | {"cold"}
        for name, figure in FIGURES:
            if args.only and name not in selected:
                continue
            start = time.perf_counter()
            bench.progress(f"figure {name} ...")
            figure(bench)
            bench.progress(f"figure {name} done in {time.perf_counter() - start:.1f} s")
    elapsed = time.perf_counter() - started
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    text = "\n".join(
        [
            *header,
            (
                f"mode: {'quick (smoke run: figures are not measurements)' if plan.quick else 'full'}; "
                f"ran in {elapsed:.0f} s; load average at the end {load}"
            ),
            "",
            report.render(),
        ]
    )
    print(text)
    if args.update_doc:
        update_doc(args.update_doc, f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
