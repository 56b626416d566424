"""Fixtures for the stack tests: `chalice package` runs (the real app, the fixture app), the built
templates, every feature-flag combination rendered once per session, and the stack tools
(cfn-lint, checkov, aws-sam-translator) from their own virtualenv, each run once per session."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudformation.build import build
from cloudformation.template import dump, load
from tests.cloudformation.support.expected import GOLDEN_OUTPUT, UPDATE
from tests.cloudformation.support.resolve import resolve

PROJECT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STACK_BIN = PROJECT / ".venv-stack" / "bin"
TOOL_ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            # checkov: no calls home (the machine has no route there, and a test must not need one).
            "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
TIMINGS: dict[str, float] = {}

EXISTING_POOL = {
    "UserPoolArn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Example1",
    "UserPoolClientIds": "client-a,client-b",
    "ApiScope": "tasks/api",
}
FLAGS = {
    "EnableTasksTable": ("true", "false"),
    "EnableSqsIntegration": ("true", "false"),
    "AssistantProvider": ("offline", "bedrock", "off"),
    "UserPool": ("created", "existing"),
}


def flag_combinations() -> list[tuple[str, dict[str, str]]]:
    combos = []
    for n, values in enumerate(itertools.product(*FLAGS.values())):
        chosen = dict(zip(FLAGS, values))
        overrides = {k: v for k, v in chosen.items() if k != "UserPool"}
        if chosen["UserPool"] == "existing":
            overrides.update(EXISTING_POOL)
        # The remaining switches alternate, so both of their values are rendered too.
        overrides["ApiGatewayAccountLogging"] = ("create", "existing")[n % 2]
        overrides["AlarmEmail"] = ("", "ops@example.com")[(n // 2) % 2]
        name = "-".join(f"{k}={v}" for k, v in chosen.items())
        combos.append((name, overrides))
    return combos


def stack_tool(name: str) -> Path:
    path = STACK_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` installs the stack tools (or `make .venv-stack/.installed`)")
    return path


def chalice_package(project_dir: Path, out_dir: Path) -> dict:
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run([str(chalice), "--project-dir", str(project_dir), "package", "--pkg-format", "cloudformation",
                    "--template-format", "yaml", "--stage", "prod", str(out_dir)],
                   check=True, env=TOOL_ENV, capture_output=True, text=True, timeout=300)
    return load((out_dir / "sam.yaml").read_text(encoding="utf-8"))


def sam_translate(path: Path) -> dict:
    result = subprocess.run([str(stack_tool("python")), str(HERE / "support" / "sam_translate.py"), str(path)],
                            env=TOOL_ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def timed(label: str):
    class _Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            TIMINGS[label] = time.perf_counter() - self.start

    return _Timer()


def pytest_configure(config):
    if UPDATE and os.environ.get("CI"):
        raise pytest.UsageError("UPDATE_GOLDEN=1 rewrites the expected templates; it is never set in CI")


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line("stack tool timings: " + ", ".join(
            f"{label} {seconds:.1f}s" for label, seconds in TIMINGS.items()))


@pytest.fixture(scope="session")
def chalice_fixture_template(tmp_path_factory) -> dict:
    """What chalice package emits for tests/cloudformation/fixture_app (the end-to-end golden's input)."""
    project = tmp_path_factory.mktemp("fixture") / "fixture_app"
    shutil.copytree(HERE / "fixture_app", project)
    return chalice_package(project, project.parent / "out")


@pytest.fixture(scope="session")
def app_template(tmp_path_factory) -> dict:
    """What chalice package emits for the real app (prod stage, as make package runs it)."""
    with timed("chalice package"):
        return chalice_package(PROJECT, tmp_path_factory.mktemp("chalice") / "out")


@pytest.fixture(scope="session")
def built(app_template) -> dict:
    return build(app_template)


@pytest.fixture(scope="session")
def built_path(built, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dist") / "template.yaml"
    path.write_text(dump(built), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def fixture_built_path(tmp_path_factory) -> Path:
    """The fixture app's fully built template (the end-to-end golden): it has SQS consumers."""
    path = tmp_path_factory.mktemp("fixture-dist") / "template.yaml"
    shutil.copy(GOLDEN_OUTPUT, path)
    return path


@pytest.fixture(scope="session")
def matrix(built, tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Every flag combination, resolved (conditions applied) and written once: name -> (path, template)."""
    directory = tmp_path_factory.mktemp("matrix")
    rendered = {}
    for name, overrides in flag_combinations():
        resolved = resolve(built, overrides)
        params = resolved.pop("ResolvedParameters")
        # Keep the parameters, with the combination's values as defaults, so the file deploys as is.
        for key, value in overrides.items():
            resolved["Parameters"][key]["Default"] = value
        path = directory / f"{name.replace('=', '_')}.yaml"
        path.write_text(dump(resolved), encoding="utf-8")
        rendered[name] = (path, resolved, params)
    return rendered


# The assistant on Bedrock through an inference profile: the matrix renders the default foundation model.
PROFILE_MODEL_IDS = ("eu.amazon.nova-micro-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0")


@pytest.fixture(scope="session")
def profile_renders(built, tmp_path_factory) -> list[Path]:
    directory = tmp_path_factory.mktemp("profiles")
    paths = []
    for model_id in PROFILE_MODEL_IDS:
        overrides = {"AssistantProvider": "bedrock", "BedrockModelId": model_id}
        resolved = resolve(built, overrides)
        resolved.pop("ResolvedParameters")
        for key, value in overrides.items():
            resolved["Parameters"][key]["Default"] = value
        path = directory / f"bedrock_{model_id.split('.')[0]}_profile.yaml"
        path.write_text(dump(resolved), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def lint_targets(built_path, fixture_built_path, matrix, profile_renders) -> list[Path]:
    return [built_path, fixture_built_path, PROJECT / "cloudformation" / "bootstrap.yaml",
            *(path for path, _, _ in matrix.values()), *profile_renders]


@pytest.fixture(scope="session")
def cfn_lint_result(lint_targets) -> subprocess.CompletedProcess:
    with timed(f"cfn-lint ({len(lint_targets)} templates)"):
        return subprocess.run([str(stack_tool("cfn-lint")), "--format", "parseable",
                               *map(str, lint_targets)], env=TOOL_ENV, capture_output=True, text=True,
                              timeout=600)


@pytest.fixture(scope="session")
def checkov_result(lint_targets, tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("checkov")
    for n, path in enumerate(lint_targets):
        shutil.copy(path, directory / f"{n:02d}_{path.name}")
    with timed(f"checkov ({len(lint_targets)} templates)"):
        result = subprocess.run([str(stack_tool("checkov")), "--directory", str(directory), "--framework",
                                 "cloudformation", "--output", "json", "--quiet", "--skip-download",
                                 "--compact"], env=TOOL_ENV, capture_output=True, text=True, timeout=600)
    assert result.stdout.strip(), result.stderr[-4000:]
    report = json.loads(result.stdout)
    return {"returncode": result.returncode, "reports": report if isinstance(report, list) else [report]}
