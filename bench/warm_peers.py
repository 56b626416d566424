"""Figure 2b, run in its own process with the deployed configuration: warm per-call microseconds of
``GET /items`` on DynamoDB Local, the app beside the same route written with the tools a team would otherwise
pick (bench/peers/) and the boto3 floor anchor's one Query, interleaved in one process."""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

from app import app
from bench.harness import BENCH_DIR
from bench.harness import LambdaContext
from bench.harness import WarmCase
from bench.harness import figure_main
from bench.harness import peak_rss_kb
from bench.harness import rest_event
from bench.harness import run_warm
from bench.workload import READER
from bench.workload import gateway_auth

# (case name, file under bench/, the handler's attribute)
HANDLERS = {
    "anchor: boto3 floor GET /items": (os.path.join("anchors", "boto3_floor", "app.py"), "app"),
    "peer: Powertools": (os.path.join("peers", "powertools_app.py"), "handler"),
    "peer: FastAPI + Mangum": (os.path.join("peers", "fastapi_app.py"), "handler"),
}


def load(name: str, path: str) -> Any:
    """A handler module loaded from its file under its own name (the anchors are all called ``app.py``)."""
    spec = importlib.util.spec_from_file_location(f"bench_warm_{name}", os.path.join(BENCH_DIR, path))
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(spec: dict[str, Any]) -> dict[str, Any]:
    headers, claims = gateway_auth(READER)
    event = rest_event("GET", "/items", headers=headers, claims=claims)
    cases = [WarmCase("app: GET /items", app, [event])]
    for n, (name, (path, attribute)) in enumerate(HANDLERS.items()):
        handler = getattr(load(str(n), path), attribute)
        cases.append(WarmCase(name, handler, [event]))
    pages = {case.name: json.loads(case.handler(event, LambdaContext())["body"]) for case in cases}
    summaries = run_warm(cases, rounds=spec["rounds"], per_round=spec["per_round"], warmup=spec["warmup"])
    return {
        "summaries": {name: summary.__dict__ for name, summary in summaries.items()},
        "page_sizes": {name: len(page.get("items", [])) for name, page in pages.items()},
        "peak_rss_kb": peak_rss_kb(),
    }


if __name__ == "__main__":
    figure_main(run)
