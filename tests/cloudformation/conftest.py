"""Fixtures for the stack tests: `chalice package` runs (the real app, the fixture app), the built
templates, every feature-flag combination rendered once per session, and the stack tools
(cfn-lint, checkov, aws-sam-translator) from their own virtualenv, each run once per session (the helpers
are in tests/cloudformation/support/stack.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cloudformation.build import build
from cloudformation.template import dump
from tests.cloudformation.support.expected import GOLDEN_HTTP_OUTPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import UPDATE
from tests.cloudformation.support.resolve import resolve
from tests.cloudformation.support.stack import HERE
from tests.cloudformation.support.stack import MATRIX_REGION
from tests.cloudformation.support.stack import PROFILE_MODEL_IDS
from tests.cloudformation.support.stack import PROJECT
from tests.cloudformation.support.stack import TIMINGS
from tests.cloudformation.support.stack import TOOL_ENV
from tests.cloudformation.support.stack import chalice_package
from tests.cloudformation.support.stack import flag_combinations
from tests.cloudformation.support.stack import sam_translate_many
from tests.cloudformation.support.stack import stack_tool
from tests.cloudformation.support.stack import timed
from tests.cloudformation.support.stack import topology_product


def pytest_configure(config):
    if UPDATE and os.environ.get("CI"):
        raise pytest.UsageError("UPDATE_GOLDEN=1 rewrites the expected templates; it is never set in CI")


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line(
            "stack tool timings: " + ", ".join(f"{label} {seconds:.1f}s" for label, seconds in TIMINGS.items())
        )


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
def built_http(app_template) -> dict:
    return build(app_template, "http")


@pytest.fixture(scope="session")
def built_http_path(built_http, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dist-http") / "template-http.yaml"
    path.write_text(dump(built_http), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def fixture_http_built_path(tmp_path_factory) -> Path:
    """The fixture app's HTTP flavour (the end-to-end golden of --api http)."""
    path = tmp_path_factory.mktemp("fixture-dist-http") / "template-http.yaml"
    shutil.copy(GOLDEN_HTTP_OUTPUT, path)
    return path


@pytest.fixture(scope="session")
def stacks(built, built_http) -> dict[str, dict]:
    """The real app's built template, by API flavour."""
    return {"rest": built, "http": built_http}


@pytest.fixture(scope="session")
def matrix(stacks, tmp_path_factory) -> dict[str, tuple[Path, dict, dict]]:
    """Every flag combination of each API flavour, resolved (conditions applied) and written once:
    name (``api=<flavour>-...``) -> (path, template, the parameters' resolved values)."""
    directory = tmp_path_factory.mktemp("matrix")
    rendered = {}
    for flavour, built in stacks.items():
        for name, overrides in flag_combinations(flavour):
            rendered[name] = _render(built, name, overrides, directory)
    return rendered


def _render(built: dict, name: str, overrides: dict, directory: Path) -> tuple[Path, dict, dict]:
    resolved, params = _resolved(built, overrides)
    path = directory / f"{name.replace('=', '_')}.yaml"
    path.write_text(dump(resolved), encoding="utf-8")
    return path, resolved, params


def _resolved(built: dict, overrides: dict) -> tuple[dict, dict]:
    resolved = resolve(built, overrides, region=MATRIX_REGION)
    params = resolved.pop("ResolvedParameters")
    # Keep the parameters, with the combination's values as defaults, so the template deploys as is.
    for key, value in overrides.items():
        resolved["Parameters"][key]["Default"] = value
    return resolved, params


@pytest.fixture(scope="session")
def topology_renders(stacks) -> dict[str, tuple[None, dict, dict]]:
    """Every combination of the topology product's parameters (support/stack.py), every flag on, resolved:
    name (``api=<flavour>-...``) -> (None: not written, the template, the parameters' resolved values)."""
    return {
        name: (None, *_resolved(built, overrides))
        for flavour, built in stacks.items()
        for name, overrides in topology_product(flavour)
    }


@pytest.fixture(scope="session")
def translated_renders(matrix, topology_renders, tmp_path_factory) -> dict[str, dict]:
    """Every rendered combination (the matrix's and the topology product's) through the SAM translator."""
    templates = {f"matrix:{name}": template for name, (_, template, _) in matrix.items()}
    templates.update({f"topology:{name}": template for name, (_, template, _) in topology_renders.items()})
    with timed(f"sam translate ({len(templates)} rendered combinations)"):
        return sam_translate_many(templates, tmp_path_factory.mktemp("sam-many"))


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
def lint_targets(
    built_path, fixture_built_path, built_http_path, fixture_http_built_path, matrix, profile_renders
) -> list[Path]:
    return [
        built_path,
        fixture_built_path,
        built_http_path,
        fixture_http_built_path,
        PROJECT / "cloudformation" / "bootstrap.yaml",
        *(path for path, _, _ in matrix.values()),
        *profile_renders,
    ]


@pytest.fixture(scope="session")
def _stack_tool_runs(lint_targets, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """cfn-lint and checkov over every rendered template, run side by side (each is one process, mostly
    waiting on its own CPU: together they take about as long as the slower one)."""
    directory = tmp_path_factory.mktemp("checkov")
    for n, path in enumerate(lint_targets):
        shutil.copy(path, directory / f"{n:02d}_{path.name}")
    commands = {
        "cfn-lint": [str(stack_tool("cfn-lint")), "--format", "parseable", *map(str, lint_targets)],
        "checkov": [
            str(stack_tool("checkov")),
            "--directory",
            str(directory),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
            "--compact",
        ],
    }
    with timed(f"cfn-lint and checkov side by side ({len(lint_targets)} templates)"):
        running = {
            name: subprocess.Popen(command, env=TOOL_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, command in commands.items()
        }
        done = {}
        for name, process in running.items():
            stdout, stderr = process.communicate(timeout=600)
            done[name] = subprocess.CompletedProcess(commands[name], process.returncode, stdout, stderr)
    return done


@pytest.fixture(scope="session")
def cfn_lint_result(_stack_tool_runs) -> subprocess.CompletedProcess:
    return _stack_tool_runs["cfn-lint"]


@pytest.fixture(scope="session")
def checkov_result(_stack_tool_runs) -> dict:
    result = _stack_tool_runs["checkov"]
    assert result.stdout.strip(), result.stderr[-4000:]
    report = json.loads(result.stdout)
    return {"returncode": result.returncode, "reports": report if isinstance(report, list) else [report]}
