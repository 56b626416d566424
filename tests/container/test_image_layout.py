"""The image's /var/task, assembled as the Dockerfile assembles it (the same build context, pip
install --target from its runtime requirements, bytecode compiled), imported by a Python that sees
only that directory and the standard library, answers GET /health: nothing dev-only is needed."""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from container.context import APP_ENTRIES
from container.context import assemble
from container.context import pip_install
from tests.support.dynamodb_stub import running_stub
from tests.support.imports import HEAVY
from tests.support.invoke import claims
from tests.support.invoke import rest_event
from tests.support.reports import REPORT

PROJECT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT / "container" / "Dockerfile"
# What the chalice CLI pulls in and the Lambda image must not carry.
CLI_ONLY = ("click", "yaml", "inquirer", "blessed", "botocore", "boto3", "pip", "setuptools", "wheel", "jmespath")

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"

PROBE = r"""
import json, sys, sysconfig, time
task = sys.argv[1]
sys.path.insert(0, task)
started = time.perf_counter()
import app as entry
imported = time.perf_counter() - started

class Context:
    function_name = "layout-test"
    aws_request_id = "layout-request"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 30000

response = entry.app(json.loads(sys.argv[2]), Context())
stdlib = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
outside = sorted(name for name, module in sys.modules.items()
                 if getattr(module, "__file__", None)
                 and not module.__file__.startswith((task,) + stdlib))
print(json.dumps({"response": response, "outside": outside, "modules": sorted(sys.modules),
                  "import_ms": round(imported * 1000, 1), "path": sys.path}))
"""


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    """/var/task as the Dockerfile builds it, for this machine's architecture."""
    root = tmp_path_factory.mktemp("image")
    context = assemble(root / "context")
    task = root / "task"
    installed = pip_install(context / "requirements.txt", task, machine=platform.machine())
    assert installed.returncode == 0, installed.stderr[-3000:]
    installed = pip_install(context / "requirements-nodeps.txt", task, "--no-deps", machine=platform.machine())
    assert installed.returncode == 0, installed.stderr[-3000:]
    shutil.rmtree(task / "bin", ignore_errors=True)
    for entry in ("chalice", "chalicelib"):
        shutil.copytree(context / entry, task / entry)
    shutil.copy2(context / "app.py", task / "app.py")
    compiled = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(task)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    size = sum(f.stat().st_size for f in task.rglob("*") if f.is_file())
    REPORT["image layout (/var/task)"] = (
        f"{size / 1024 / 1024:.1f} MiB in {sum(1 for _ in task.rglob('*.py'))} .py files, {platform.machine()}"
    )
    return task


def probe(task: Path, tmp_path: Path, event: dict | None = None, **variables: str) -> dict:
    # The deployed environment, minus AWS: no PYTHONPATH, no virtualenv, no site-packages (-I -S).
    env = {
        "APP_STAGE": "prod",
        "LOG_FORMAT": "json",
        "STORE": "dynamodb",
        "TABLE_NAME": "tasks",
        "AUTH_ISSUER": ISSUER,
        "AUTH_CLIENT_IDS": "client",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "layout-test",
        "LANG": "C.UTF-8",
        **variables,
    }
    if event is None:
        event = rest_event("GET", "/health", headers={"X-Request-Id": "layout-1"})
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(task), json.dumps(event)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_image_answers_health_with_only_its_own_files_and_the_standard_library(layout, tmp_path):
    seen = probe(layout, tmp_path)
    response = seen["response"]
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["status"] == "ok"
    assert seen["outside"] == [], f"modules from outside the image: {seen['outside']}"
    assert not [p for p in seen["path"] if "site-packages" in p or ".venv" in p]
    loaded_top = {name.split(".")[0] for name in seen["modules"]}
    assert not loaded_top & {"pytest", "hypothesis", "yaml", "click"}
    # The imports rule's heavy modules wait for the request that needs them (tests/support/imports.py).
    assert not loaded_top & HEAVY, sorted(loaded_top & HEAVY)
    REPORT["image import of app.py"] = f"{seen['import_ms']} ms (this machine, warm disk)"


def test_the_image_reads_items_on_the_lean_transport_without_boto3(layout, tmp_path):
    """The deployed read path (DynamoDB, API Gateway's claims) on DYNAMODB_TRANSPORT=lean: a GET /items sent
    to DynamoDB (a stub answering its Query) without boto3 or botocore, which the image does not even carry
    (Lambda's runtime does)."""
    item = {
        "PK": {"S": "USER#user-1"},
        "SK": {"S": "ITEM#01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        "id": {"S": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        "title": {"S": "from the stub"},
        "status": {"S": "todo"},
        "version": {"N": "1"},
        "created_at": {"S": "2026-11-28T10:00:00.000Z"},
        "updated_at": {"S": "2026-11-28T10:00:00.000Z"},
    }
    with running_stub() as dynamodb:
        dynamodb.replies.append((200, {"Items": [item], "Count": 1, "ScannedCount": 1}))
        seen = probe(
            layout,
            tmp_path,
            rest_event("GET", "/items", claims=claims("user-1") | {"iss": ISSUER, "client_id": "client"}),
            DYNAMODB_TRANSPORT="lean",
            AWS_ENDPOINT_URL_DYNAMODB=dynamodb.url,
            AWS_ACCESS_KEY_ID="AKIDLAYOUT",
            AWS_SECRET_ACCESS_KEY="secret",
            AWS_SESSION_TOKEN="token",
        )
        [(headers, body)] = dynamodb.requests
    response = seen["response"]
    assert response["statusCode"] == 200, response
    assert [i["title"] for i in json.loads(response["body"])["items"]] == ["from the stub"]
    assert headers["x-amz-target"] == "DynamoDB_20120810.Query" and body["TableName"] == "tasks"
    assert "AKIDLAYOUT/" in headers["authorization"]
    loaded_top = {name.split(".")[0] for name in seen["modules"]}
    assert not loaded_top & {"boto3", "botocore"}
    assert seen["outside"] == [], f"modules from outside the image: {seen['outside']}"


def test_the_image_carries_only_chalices_runtime_module_and_no_cli_dependencies(layout):
    top = {p.name.split("-")[0].lower() for p in layout.iterdir()}
    assert not top & set(CLI_ONLY), top & set(CLI_ONLY)
    assert sorted(p.name for p in (layout / "chalice").iterdir() if p.suffix == ".py") == ["__init__.py", "app.py"]


def test_every_module_in_the_image_has_bytecode_compiled_at_build_time(layout):
    missing = [
        str(py.relative_to(layout))
        for py in layout.rglob("*.py")
        if not list(py.parent.glob(f"__pycache__/{py.stem}.cpython-3*.pyc"))
    ]
    assert missing == []


def test_the_runtime_requirements_have_wheels_for_both_lambda_architectures(tmp_path):
    context = assemble(tmp_path / "context")
    for machine in ("x86_64", "aarch64"):
        resolved = pip_install(context / "requirements.txt", tmp_path / machine, "--dry-run", machine=machine)
        assert resolved.returncode == 0, (machine, resolved.stderr[-2000:])
        nodeps = context / "requirements-nodeps.txt"
        resolved = pip_install(nodeps, tmp_path / machine, "--dry-run", "--no-deps", machine=machine)
        assert resolved.returncode == 0, (machine, resolved.stderr[-2000:])


def test_the_dockerfile_copies_exactly_the_assembled_context_onto_the_tested_python():
    text = DOCKERFILE.read_text(encoding="utf-8")
    copied = {
        source.rstrip("/") for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M) for source in line.split()[:-1]
    }
    assert copied == set(APP_ENTRIES)
    assert re.search(rf"^ARG PYTHON_VERSION={sys.version_info.major}\.{sys.version_info.minor}$", text, re.M)
    assert re.search(r"^ARG ARCH=arm64$", text, re.M)
    assert "FROM public.ecr.aws/lambda/python:${PYTHON_VERSION}-${ARCH}" in text
    assert "--invalidation-mode unchecked-hash" in text
    final = text.split("FROM public.ecr.aws/lambda/python:${PYTHON_VERSION}-${ARCH}", 1)[1]
    assert final.index("/build/deps/") < final.index("/build/app/"), "dependencies must be the earlier layer"
    assert text.rstrip().endswith('CMD ["app.app"]')
    assert (PROJECT / "container" / ".dockerignore").exists()
