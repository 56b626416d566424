"""Stack test helpers: the project's paths, the stack tools (cfn-lint, checkov, aws-sam-translator) from
their own virtualenv, `chalice package` runs, every feature-flag combination, and how long each tool took."""

from __future__ import annotations

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


def flag_combinations(flavour: str = "rest") -> list[tuple[str, dict[str, str]]]:
    """Every combination of FLAGS for one API flavour, named ``api=<flavour>-Flag=value-...``."""
    combos = []
    for n, values in enumerate(itertools.product(*FLAGS.values())):
        chosen = dict(zip(FLAGS, values))
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
        overrides["EnableConsole"] = ("true", "false")[n // 16]
        overrides["ConsoleOrigin"] = ("", CONSOLE_ORIGIN)[(n // 2) % 2]
        # The private network: each of its three values with both values of every flag and switch above.
        overrides["PrivateNetwork"] = PRIVATE_NETWORKS[(n + n // 6) % 3]
        if overrides["PrivateNetwork"] == "existing":
            overrides.update(EXISTING_NETWORK)
        # Someone allowed to run the chat commands (the created network's monitoring endpoint exists then).
        overrides["SlackAllowedUsers"] = ("", "U0123ABCD")[(n // 3) % 2]
        # Concurrency (cloudformation/transforms/concurrency.py): the alias on and off, each cap set and not.
        overrides["ProvisionedConcurrency"] = ("0", "2")[(n // 2 + n) % 2]
        overrides["ApiReservedConcurrency"] = ("-1", "50")[(n // 4 + n) % 2]
        if flavour == "rest":  # HTTP: the function URL's AssistantStreamConcurrency caps the stream
            overrides["StreamingReservedConcurrency"] = ("-1", "20")[(n // 3 + n // 4) % 2]
        overrides["ConsumerReservedConcurrency"] = ("-1", "5")[(n // 5) % 2]
        overrides["FunctionVersionHash"] = ("", "0123456789abcdef")[(n // 2 + n // 3) % 2]
        # One region, the home of two, the other of two (which reads its replica's stream); STRONG in half the
        # two-region rows (two regions and a witness); the custom domain in every other pair of rows.
        regions = TABLE_REGIONS[(n + n // 4) % 3]
        overrides["TableRegions"] = regions
        overrides["TableStreamArn"] = REPLICA_STREAM_ARN if regions == REPLICA_REGIONS else ""
        strong = bool(regions) and (n + n // 4) % 2 == 1
        overrides["TableConsistency"] = "STRONG" if strong else "EVENTUAL"
        overrides["TableWitnessRegion"] = WITNESS_REGION if strong else ""
        overrides.update(CUSTOM_DOMAIN if (n + n // 2) % 2 else dict.fromkeys(CUSTOM_DOMAIN, ""))
        name = f"api={flavour}-" + "-".join(f"{k}={v}" for k, v in chosen.items())
        combos.append((name, overrides))
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
    result = subprocess.run(
        [str(stack_tool("python")), str(HERE / "support" / "sam_translate.py"), str(path), *pairs],
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        timeout=120,
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
