"""Figure 2, run in its own process: warm per-call microseconds on the SQLite adapter, interleaved with
the bare Chalice anchor loaded into the same process."""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

from app import app
from bench.harness import BENCH_DIR
from bench.harness import WarmCase
from bench.harness import figure_main
from bench.harness import peak_rss_kb
from bench.harness import rest_event
from bench.harness import run_warm
from bench.workload import READER
from bench.workload import WRITER
from bench.workload import gateway_auth


def load_anchor(name: str) -> Any:
    """An anchor app as its own module (both anchors and the app are called ``app.py``)."""
    path = os.path.join(BENCH_DIR, "anchors", name, "app.py")
    spec = importlib.util.spec_from_file_location(f"bench_anchor_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(spec: dict[str, Any]) -> dict[str, Any]:
    hello = load_anchor("hello").app
    reader_headers, reader_claims = gateway_auth(READER)
    writer_headers, writer_claims = gateway_auth(WRITER)
    item_id = spec["patch_item_id"]
    patches = [
        rest_event(
            "PATCH",
            f"/items/{item_id}",
            resource="/items/{item_id}",
            path_parameters={"item_id": item_id},
            headers=reader_headers,
            claims=reader_claims,
            body={"status": status},
        )
        for status in ("in_progress", "todo")
    ]
    cases = [
        WarmCase("anchor GET /", hello, [rest_event("GET", "/")]),
        WarmCase("GET /health", app, [rest_event("GET", "/health")]),
        WarmCase("GET /items", app, [rest_event("GET", "/items", headers=reader_headers, claims=reader_claims)]),
        WarmCase(
            "POST /items",
            app,
            [
                rest_event(
                    "POST",
                    "/items",
                    headers=writer_headers,
                    claims=writer_claims,
                    body={"title": "Buy milk", "due": "2026-12-01", "tags": ["home"]},
                )
            ],
            expect_status=201,
        ),
        WarmCase("PATCH /items/{id}", app, patches),
    ]
    summaries = run_warm(cases, rounds=spec["rounds"], per_round=spec["per_round"], warmup=spec["warmup"])
    items = app(rest_event("GET", "/items", headers=reader_headers, claims=reader_claims), None)
    return {
        "summaries": {name: summary.__dict__ for name, summary in summaries.items()},
        "page_size": len(json.loads(items["body"])["items"]),
        "peak_rss_kb": peak_rss_kb(),
    }


if __name__ == "__main__":
    figure_main(run)
