"""The benchmark harness: API Gateway REST proxy events (the tests' own, made complete), Lambda's
environment, a cold runner (fresh interpreters), a warm runner (interleaved per-call timings), stats,
and the report."""

from __future__ import annotations

import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from bench.lambda_context import LambdaContext
from bench.lambda_context import uuid4_string
from tests.support import invoke

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
COLD_CHILD = os.path.join(BENCH_DIR, "cold_child.py")

API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STAGE = "api"  # .chalice/config.json's api_gateway_stage
SOURCE_IP = "203.0.113.10"


# --- events ------------------------------------------------------------------------------------


def rest_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str | Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    claims: Mapping[str, str] | None = None,
    stage: str = STAGE,
) -> dict[str, Any]:
    """An API Gateway REST API (v1) Lambda proxy integration event, shaped as API Gateway sends it: the
    tests' event (tests/support/invoke.py) with every header and request field API Gateway adds.

    ``resource`` is the route template (``/items/{item_id}``); ``claims`` is what a Cognito user
    pool authorizer puts in ``requestContext.authorizer.claims`` (string values only).
    """
    now = time.time()
    sent = {
        "Accept": "application/json",
        "Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "User-Agent": "bench/1.0",
        "X-Amzn-Trace-Id": f"Root=1-{int(now):08x}-{os.urandom(12).hex()}",
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if body is not None:
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    if isinstance(body, bytes):
        body = body.decode()
    event = invoke.rest_event(
        method,
        path,
        resource=resource,
        headers=sent,
        body=body,
        claims=claims,
        path_parameters=path_parameters,
        query=query,
        apigw_request_id=uuid4_string(),
        stage=stage,
    )
    context = event["requestContext"]
    context.update(
        resourceId="abc123",
        extendedRequestId=base64.b64encode(os.urandom(12)).decode(),
        requestTime=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        accountId=ACCOUNT,
        protocol="HTTP/1.1",
        domainPrefix=API_ID,
        requestTimeEpoch=int(now * 1000),
        domainName=f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        apiId=API_ID,
    )
    unauthenticated = ("cognitoIdentityPoolId", "accountId", "cognitoIdentityId", "caller", "principalOrgId")
    anonymous = ("accessKey", "cognitoAuthenticationType", "cognitoAuthenticationProvider", "userArn", "user")
    context["identity"].update(dict.fromkeys(unauthenticated + anonymous), userAgent=sent["User-Agent"])
    return event


def cognito_claims(sub: str, username: str, *, issuer: str, client_id: str, now: int | None = None) -> dict[str, str]:
    """An access token's claims as a REST API's Cognito authorizer passes them: every value a string,
    ``exp``/``iat`` as dates (``Thu May 04 03:50:06 UTC 2023``), ``auth_time`` as epoch seconds."""
    now = int(time.time()) if now is None else now
    date = "%a %b %d %H:%M:%S UTC %Y"
    return {
        "sub": sub,
        "event_id": uuid4_string(),
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": str(now),
        "iss": issuer,
        "exp": time.strftime(date, time.gmtime(now + 3600)),
        "version": "2",
        "iat": time.strftime(date, time.gmtime(now)),
        "client_id": client_id,
        "origin_jti": uuid4_string(),
        "jti": uuid4_string(),
        "username": username,
    }


def unsigned_token(claims: Mapping[str, Any]) -> str:
    """A JWT-shaped bearer token for the deployed configuration, where API Gateway (not the app)
    checked the signature; the app never verifies this one."""

    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return ".".join(
        (
            part({"kid": "bench", "alg": "RS256"}),
            part(dict(claims)),
            base64.urlsafe_b64encode(os.urandom(256)).rstrip(b"=").decode(),
        )
    )


def lambda_environment(
    function_name: str = "tasks-api-dev", *, home: str, memory_mb: int = 1024, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables Lambda's Python runtime sets, with dummy credentials and nothing from the caller's
    shell (no AWS profile, no app settings), so every child starts from the same state."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": home,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]bench",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        # A developer's ~/.aws must not change what botocore loads or where it sends requests.
        "AWS_CONFIG_FILE": os.path.join(home, "aws-config-absent"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "aws-credentials-absent"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "LAMBDA_TASK_ROOT": REPO_ROOT,
        "_HANDLER": "app.app",
    }
    env.update(extra or {})
    return env


# --- stats -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p25: float
    p75: float
    p90: float
    minimum: float

    def spread(self) -> str:
        return f"IQR {self.p25:.3g}-{self.p75:.3g}"


def summarize(values: Iterable[float]) -> Summary:
    data = sorted(values)
    if not data:
        raise ValueError("no samples")
    if len(data) == 1:
        only = data[0]
        return Summary(1, only, only, only, only, only)
    quartiles = statistics.quantiles(data, n=4, method="inclusive")
    deciles = statistics.quantiles(data, n=10, method="inclusive")
    return Summary(len(data), statistics.median(data), quartiles[0], quartiles[2], deciles[8], data[0])


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# --- cold runner -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColdCase:
    """One cold configuration: a handler module in ``app_dir``, its environment and its first event."""

    name: str
    app_dir: str
    env: Mapping[str, str]
    event: Mapping[str, Any]
    expect_status: int = 200
    module: str = "app"
    handler: str = "app"  # the module's attribute Lambda calls (a peer's is ``handler``)


@dataclass(frozen=True)
class ColdSample:
    """Milliseconds of one fresh process: interpreter start (spawn to the child's first line), the
    handler module's import, the first invocation, and spawn to first response (``total``)."""

    interpreter_ms: float
    import_ms: float
    first_ms: float
    total_ms: float
    modules: int
    loaded: tuple[str, ...]
    peak_rss_kb: int


def cold_once(case: ColdCase, *, python_flags: Sequence[str] = (), workdir: str) -> tuple[ColdSample, str]:
    """Spawn one fresh interpreter for ``case``; returns its sample and its stderr."""
    spec_path = os.path.join(workdir, f"{case.name.replace(' ', '_').replace('/', '_')}.spec.json")
    out_path = spec_path[: -len(".spec.json")] + ".out.json"
    with open(spec_path, "w") as spec:
        json.dump({"app_dir": case.app_dir, "module": case.module, "handler": case.handler, "event": case.event}, spec)
    if os.path.exists(out_path):
        os.unlink(out_path)
    command = [sys.executable, *python_flags, COLD_CHILD, spec_path, out_path]
    t_spawn = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    done = subprocess.run(
        command,
        env=dict(case.env),
        cwd=case.app_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
    )
    if done.returncode != 0 or not os.path.exists(out_path):
        raise RuntimeError(
            f"cold child for {case.name!r} failed ({done.returncode}):\n{done.stderr.decode(errors='replace')[-3000:]}"
        )
    with open(out_path) as out:
        result = json.load(out)
    if result["status"] != case.expect_status:
        raise RuntimeError(
            f"cold child for {case.name!r} answered {result['status']}, expected {case.expect_status}: {result['body']}"
        )
    ms = 1e-6
    sample = ColdSample(
        interpreter_ms=(result["t_top"] - t_spawn) * ms,
        import_ms=(result["t_import"] - result["t_ready"]) * ms,
        first_ms=(result["t_first"] - result["t_import"]) * ms,
        total_ms=(result["t_first"] - t_spawn) * ms,
        modules=result["modules"],
        loaded=tuple(result["loaded"]),
        peak_rss_kb=result["peak_rss_kb"],
    )
    return sample, done.stderr.decode(errors="replace")


def run_cold(
    cases: Sequence[ColdCase], rounds: int, *, warmup_rounds: int = 1, progress: Callable[[str], None] | None = None
) -> dict[str, list[ColdSample]]:
    """``rounds`` fresh processes per case, interleaved (every case once per round) in an order shuffled
    each round, so load drift hits every case alike and no case always runs right after the same
    neighbour (a process that just exited, or DynamoDB Local still busy with the previous request).
    The warm-up round (bytecode and page cache, as in a built image) is discarded."""
    samples: dict[str, list[ColdSample]] = {case.name: [] for case in cases}
    order = random.Random(20261122)  # seeded: the same sequence of orders on every run
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as workdir:
        for round_no in range(warmup_rounds + rounds):
            shuffled = list(cases)
            order.shuffle(shuffled)
            for case in shuffled:
                sample, _ = cold_once(case, workdir=workdir)
                if round_no >= warmup_rounds:
                    samples[case.name].append(sample)
            if progress:
                progress(f"cold round {round_no + 1}/{warmup_rounds + rounds}")
    return samples


# --- warm runner -------------------------------------------------------------------------------


@dataclass
class WarmCase:
    """Invocations of one handler, using ``events`` in turn (prebuilt: Lambda's runtime parses the
    event before the handler runs, so that is not the handler's time)."""

    name: str
    handler: Callable[[Any, Any], Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]
    expect_status: int = 200
    timings_us: list[float] = field(default_factory=list)


def run_warm(
    cases: Sequence[WarmCase],
    *,
    rounds: int,
    per_round: int,
    warmup: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Summary]:
    """Per-call microseconds of every case, after ``warmup`` calls each, interleaved by rounds."""
    clock = time.perf_counter_ns
    counters = {case.name: 0 for case in cases}

    def call(case: WarmCase, timed: bool) -> None:
        n = counters[case.name]
        counters[case.name] = n + 1
        event = case.events[n % len(case.events)]
        context = LambdaContext()
        start = clock()
        response = case.handler(event, context)
        elapsed = clock() - start
        if response["statusCode"] != case.expect_status:
            raise RuntimeError(
                f"warm case {case.name!r} answered {response['statusCode']}: {str(response.get('body'))[:300]}"
            )
        if timed:
            case.timings_us.append(elapsed / 1000)

    for case in cases:
        for _ in range(warmup):
            call(case, timed=False)
    for round_no in range(rounds):
        shift = round_no % len(cases)
        for case in list(cases[shift:]) + list(cases[:shift]):
            for _ in range(per_round):
                call(case, timed=True)
        if progress:
            progress(f"warm round {round_no + 1}/{rounds}")
    return {case.name: summarize(case.timings_us) for case in cases}


# --- subprocess figures ------------------------------------------------------------------------


def run_module(module: str, spec: Mapping[str, Any], *, env: Mapping[str, str], timeout: float = 900) -> dict[str, Any]:
    """Run ``python -m <module> <spec.json> <out.json>`` in a clean environment; return its result.

    The child's output (every request's access line among it) goes to a file, not a pipe this process
    reads: in Lambda the log pipe's reader runs outside the function's CPU, while a reader on this 2-core
    machine is woken by every line and charged ~20 us of it to each warm request (figure 2 read 3.9x
    instead of 3.2x bare Chalice that way, measured on the same code)."""
    with tempfile.TemporaryDirectory(prefix="bench-figure-") as workdir:
        spec_path = os.path.join(workdir, "spec.json")
        out_path = os.path.join(workdir, "out.json")
        log_path = os.path.join(workdir, "output.log")
        with open(spec_path, "w") as spec_file:
            json.dump(spec, spec_file)
        child_env = {**env, "PYTHONPATH": REPO_ROOT}
        with open(log_path, "wb") as log:
            done = subprocess.run(
                [sys.executable, "-m", module, spec_path, out_path],
                env=child_env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if done.returncode != 0 or not os.path.exists(out_path):
            with open(log_path, "rb") as log:
                log.seek(max(0, os.path.getsize(log_path) - 4000))
                tail = log.read().decode(errors="replace")
            raise RuntimeError(f"{module} failed ({done.returncode}):\n{tail}")
        with open(out_path) as out:
            return json.load(out)


def figure_main(run: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The ``__main__`` of a figure module run by ``run_module``."""
    with open(sys.argv[1]) as spec_file:
        spec = json.load(spec_file)
    result = run(spec)
    with open(sys.argv[2], "w") as out:
        json.dump(result, out)


# --- the report --------------------------------------------------------------------------------


@dataclass
class Report:
    """Tables (one per figure, each with its own header), notes and verdict lines, printed at the end."""

    quick: bool = False
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rows: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, figure: str, *header: str) -> None:
        self.headers[figure] = header
        self.rows.setdefault(figure, [])

    def row(self, figure: str, *cells: Any) -> None:
        self.rows.setdefault(figure, []).append(tuple("" if cell is None else str(cell) for cell in cells))

    def verdict(self, name: str, ratio: float, target: float, against: str) -> bool:
        passed = ratio <= target
        suffix = "  [quick mode: smoke run, not a measurement]" if self.quick else ""
        self.verdicts.append(
            f"{'PASS' if passed else 'MISS'}  {name}: {ratio:.3f}x {against} (target <= {target:.2f}x){suffix}"
        )
        return passed

    def check(self, name: str, passed: bool, detail: str) -> bool:
        self.verdicts.append(f"{'PASS' if passed else 'MISS'}  {name}: {detail}")
        return passed

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        out: list[str] = []
        for figure, rows in self.rows.items():
            header = self.headers.get(figure, ())
            lines = [header, *rows] if header else rows
            columns = max(len(line) for line in lines)
            widths = [max((len(line[i]) for line in lines if i < len(line)), default=0) for i in range(columns)]
            out.append(figure)
            for n, line in enumerate(lines):
                out.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
                if header and n == 0:
                    out.append("  " + "  ".join("-" * width for width in widths))
            out.append("")
        out.extend(f"note: {text}" for text in self.notes)
        if self.notes:
            out.append("")
        out.extend(self.verdicts)
        return "\n".join(out)
