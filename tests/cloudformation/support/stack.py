"""Stack test helpers: the project's paths, the stack tools (cfn-lint, checkov, aws-sam-translator) from
their own virtualenv, `chalice package` runs, every feature-flag combination, and how long each tool took."""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudformation.template import load

PROJECT = Path(__file__).resolve().parents[3]
HERE = PROJECT / "tests" / "cloudformation"
GOLDEN = HERE / "golden"
STACK_BIN = PROJECT / ".venv-stack" / "bin"
TOOL_ENV = {
    **os.environ,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # checkov: no calls home (the machine has no route there, and a test must not need one).
    "BC_SKIP_MAPPING": "TRUE",
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
}
TIMINGS: dict[str, float] = {}

EXISTING_POOL = {
    "UserPoolArn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Example1",
    "UserPoolClientIds": "client-a,client-b",
    "ApiScope": "tasks/api",
}
# The assistant on Bedrock through an inference profile: the matrix renders the default foundation model.
PROFILE_MODEL_IDS = ("eu.amazon.nova-micro-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
CONSOLE_ORIGIN = "https://d111111abcdef8.cloudfront.net"  # as CloudFront names a distribution
PRIVATE_NETWORKS = ("off", "created", "existing")
# A team's own private subnets and their VPC (ids in the shape EC2 gives them).
EXISTING_NETWORK = {
    "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "VpcId": "vpc-0123456789abcdef0",
}
# Two regions: the matrix renders in MATRIX_REGION (the tools' region), as the home region of HOME_REGIONS and
# as the other region of REPLICA_REGIONS, which is given its replica's stream. All of the US Region set, so
# STRONG is allowed with the witness (cloudformation/transforms/tables.py).
MATRIX_REGION = TOOL_ENV["AWS_REGION"]
HOME_REGIONS = "us-east-1,us-west-2"
REPLICA_REGIONS = "us-west-2,us-east-1"
TABLE_REGIONS = ("", HOME_REGIONS, REPLICA_REGIONS)
WITNESS_REGION = "us-east-2"
REPLICA_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/tasks-api-tasks/stream/2026-01-01T00:00:00.000"
CUSTOM_DOMAIN = {
    "DomainName": "api.example.com",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
}
FLAGS = {
    "EnableTasksTable": ("true", "false"),
    "EnableSqsIntegration": ("true", "false"),
    "AssistantProvider": ("offline", "bedrock", "off"),
    "UserPool": ("created", "existing"),
}


# The deployment topology's parameters (issue #14), as dimensions: a row of the matrix takes one value of each.
# They are spread over the rows so that any two values of any two dimensions (these and FLAGS) meet in some row
# of each flavour: a pairwise covering array, built greedily below and checked by test_stack.py. Their product
# alone (TOPOLOGY_PRODUCT's dimensions, every flag on) is rendered too, for the checks cheap enough to run on all
# of it: the SAM translation and the policy walk.
TOPOLOGY: dict[str, tuple[str, ...]] = {
    # One region, the home of two, the other of two (which reads its replica's stream).
    "Regions": ("single", "home", "other"),
    # STRONG only with regions: two and a witness, all of the US Region set (tables.py's rule).
    "TableConsistency": ("EVENTUAL", "STRONG"),
    "Domain": ("off", "on"),
    "PrivateNetwork": PRIVATE_NETWORKS,
    "DynamoDBPrefixListId": ("", "pl-02cd2c6b"),  # scripts/deploy.sh looks it up for a created network
    "ProvisionedConcurrency": ("0", "2"),
    "ApiReservedConcurrency": ("-1", "50"),
    "StreamingReservedConcurrency": ("-1", "20"),  # REST only: HTTP's AssistantStreamConcurrency caps the stream
    "ConsumerReservedConcurrency": ("-1", "5"),
    "FunctionVersionHash": ("", "0123456789abcdef"),
}
TOPOLOGY_PRODUCT = ("Regions", "TableConsistency", "Domain", "PrivateNetwork", "ProvisionedConcurrency")


def topology_dimensions(flavour: str) -> dict[str, tuple[str, ...]]:
    return {k: v for k, v in TOPOLOGY.items() if flavour == "rest" or k != "StreamingReservedConcurrency"}


def possible(values: dict[str, str]) -> bool:
    """False for values no stack takes together (the template's rules refuse them)."""
    return not (values.get("Regions") == "single" and values.get("TableConsistency") == "STRONG")


def topology_overrides(values: dict[str, str]) -> dict[str, str]:
    """The stack parameters that give a row its topology values."""
    regions = values["Regions"]
    strong = values["TableConsistency"] == "STRONG"
    overrides = {
        "TableRegions": {"single": "", "home": HOME_REGIONS, "other": REPLICA_REGIONS}[regions],
        "TableStreamArn": REPLICA_STREAM_ARN if regions == "other" else "",
        "TableConsistency": values["TableConsistency"],
        "TableWitnessRegion": WITNESS_REGION if strong else "",
        **(CUSTOM_DOMAIN if values["Domain"] == "on" else dict.fromkeys(CUSTOM_DOMAIN, "")),
        "PrivateNetwork": values["PrivateNetwork"],
        **(EXISTING_NETWORK if values["PrivateNetwork"] == "existing" else {}),
    }
    for name in TOPOLOGY.keys() - {"Regions", "TableConsistency", "Domain", "PrivateNetwork"}:
        if name in values:
            overrides[name] = values[name]
    return overrides


Pair = tuple[tuple[str, str], tuple[str, str]]


def pairs_of(row: dict[str, str], topology: dict[str, tuple[str, ...]]) -> set[Pair]:
    """Every pair of (dimension, value) of the row that involves a topology dimension."""
    items = sorted(row.items())
    return {(a, b) for a, b in itertools.combinations(items, 2) if a[0] in topology or b[0] in topology}


def required_pairs(flavour: str) -> set[Pair]:
    """Every pair of values of two dimensions, one at least a topology one, that some stack can take."""
    dimensions = {**FLAGS, **topology_dimensions(flavour)}
    topology = topology_dimensions(flavour)
    required = set()
    for a, b in itertools.combinations(sorted(dimensions), 2):
        if a in topology or b in topology:
            for va, vb in itertools.product(dimensions[a], dimensions[b]):
                if possible({a: va, b: vb}):
                    required.add(((a, va), (b, vb)))
    return required


@functools.cache
def matrix_rows(flavour: str) -> tuple[tuple[dict[str, str], dict[str, str]], ...]:
    """(FLAGS' values, topology values) per row: every combination of FLAGS once, in order, each given the
    topology values that meet the most pairs not met yet (ties: the first); then, while some pair is still
    unmet, more rows the same way, the flags' combinations over again."""
    topology = topology_dimensions(flavour)
    candidates = [v for v in (dict(zip(topology, c)) for c in itertools.product(*topology.values())) if possible(v)]
    flag_rows = [dict(zip(FLAGS, values)) for values in itertools.product(*FLAGS.values())]
    unmet = required_pairs(flavour)
    rows = []
    for n in itertools.count():
        if n >= len(flag_rows) and not unmet:
            break
        flags = flag_rows[n % len(flag_rows)]
        best = max(candidates, key=lambda values: len(pairs_of({**flags, **values}, topology) & unmet))
        unmet -= pairs_of({**flags, **best}, topology)
        rows.append((flags, best))
    return tuple(rows)


def flag_combinations(flavour: str = "rest") -> list[tuple[str, dict[str, str]]]:
    """Every combination of FLAGS for one API flavour (and the rows the topology needs besides), named
    ``api=<flavour>-Flag=value-...``."""
    combos = []
    for n, (chosen, topology) in enumerate(matrix_rows(flavour)):
        overrides = {k: v for k, v in chosen.items() if k != "UserPool"}
        if chosen["UserPool"] == "existing":
            overrides.update(EXISTING_POOL)
        # The remaining switches alternate, so both of their values are rendered too.
        if flavour == "rest":  # HTTP APIs log without the account's API Gateway role
            overrides["ApiGatewayAccountLogging"] = ("create", "existing")[n % 2]
        overrides["AlarmEmail"] = ("", "ops@example.com")[(n // 2) % 2]
        overrides["CorsAllowOrigins"] = ("", "https://app.example.com,https://admin.example.com")[(n // 4) % 2]
        overrides["MonthlyBudget"] = ("", "25")[(n // 8) % 2]
        overrides["EnableChatAlerts"] = ("false", "true")[(n // 8 + n) % 2]
        # The console: on in the first two thirds (where its origin alternates: unknown, then passed in by
        # scripts/deploy.sh, with and without CorsAllowOrigins), off in the last; always off with an existing pool.
        overrides["EnableConsole"] = ("true", "false")[(n % 24) // 16]
        overrides["ConsoleOrigin"] = ("", CONSOLE_ORIGIN)[(n // 2) % 2]
        # Someone allowed to run the chat commands (the created network's monitoring endpoint exists then).
        overrides["SlackAllowedUsers"] = ("", "U0123ABCD")[(n // 3) % 2]
        overrides.update(topology_overrides(topology))
        name = f"api={flavour}-" + "-".join(f"{k}={v}" for k, v in chosen.items())
        if n >= 24:  # a row the topology needed besides: its flags' combination is rendered twice
            name += f"-row={n}"
        combos.append((name, overrides))
    return combos


def topology_product(flavour: str) -> list[tuple[str, dict[str, str]]]:
    """Every combination of TOPOLOGY_PRODUCT's values (the others at their first), every flag on: the table
    and the queue, Bedrock, the stack's own pool, chat alerts and commands."""
    combos = []
    for values in itertools.product(*(TOPOLOGY[name] for name in TOPOLOGY_PRODUCT)):
        chosen = dict(zip(TOPOLOGY_PRODUCT, values))
        if not possible(chosen):
            continue
        rest = {name: first for name, (first, *_) in topology_dimensions(flavour).items() if name not in chosen}
        overrides = {
            "AssistantProvider": "bedrock",
            "EnableChatAlerts": "true",
            "SlackAllowedUsers": "U0123ABCD",
            **topology_overrides({**chosen, **rest}),
        }
        combos.append((f"api={flavour}-" + "-".join(f"{k}={v}" for k, v in chosen.items()), overrides))
    return combos


def stack_tool(name: str) -> Path:
    path = STACK_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` installs the stack tools (or `make .venv-stack/.installed`)")
    return path


def chalice_package(project_dir: Path, out_dir: Path) -> dict:
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run(
        [
            str(chalice),
            "--project-dir",
            str(project_dir),
            "package",
            "--pkg-format",
            "cloudformation",
            "--template-format",
            "yaml",
            "--stage",
            "prod",
            str(out_dir),
        ],
        check=True,
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return load((out_dir / "sam.yaml").read_text(encoding="utf-8"))


def sam_translate(path: Path, parameters: dict[str, str] | None = None) -> dict:
    """The template at ``path`` as the SAM translator turns it into CloudFormation, for these parameter values."""
    pairs = [f"{key}={value}" for key, value in (parameters or {}).items()]
    return _translator(str(path), *pairs)


def sam_translate_many(templates: dict[str, dict], directory: Path) -> dict[str, dict]:
    """Each template (name -> template, its parameters at their defaults) as the SAM translator turns it into
    CloudFormation, all in one process; a template it refuses maps to ``{"error": why}``."""
    source = directory / "sam-many.json"
    source.write_text(json.dumps(templates), encoding="utf-8")
    return _translator("--many", str(source))


def _translator(*args: str) -> dict:
    """support/sam_translate.py's JSON, run with the stack tools' interpreter."""
    result = subprocess.run(
        [str(stack_tool("python")), str(HERE / "support" / "sam_translate.py"), *args],
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def timed(label: str):
    class _Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            TIMINGS[label] = time.perf_counter() - self.start

    return _Timer()
