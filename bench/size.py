"""Figure 6: the runtime file layout the image gets (MB, files) and what a cold GET /items imports
(module count, the ten most expensive imports from ``-X importtime``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ColdCase
from bench.harness import cold_once
from container.context import assemble
from container.context import pip_install


@dataclass(frozen=True)
class Layout:
    megabytes: float
    files: int
    by_top: list[tuple[str, float, int]]  # (top-level entry, MB, files), largest first
    how: str


def _tree(root: str) -> tuple[int, int, dict[str, list[int]]]:
    total_bytes = total_files = 0
    by_top: dict[str, list[int]] = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            size = os.path.getsize(path)
            entry = by_top.setdefault(os.path.relpath(path, root).split(os.sep)[0], [0, 0])
            entry[0] += size
            entry[1] += 1
            total_bytes += size
            total_files += 1
    return total_bytes, total_files, by_top


def _lists_requirements(path: str) -> bool:
    if not os.path.exists(path):
        return False
    with open(path) as requirements:
        return any(line.split("#", 1)[0].strip() for line in requirements)


def runtime_layout() -> Layout:
    """What the image adds to the Lambda base image, built as container/Dockerfile builds it: the runtime
    requirements installed with pip --target, the app files beside them, everything byte-compiled."""
    with tempfile.TemporaryDirectory(prefix="bench-layout-") as work:
        context, task_root = os.path.join(work, "context"), os.path.join(work, "task")
        assemble(Path(context))
        # As the Dockerfile does: requirements-nodeps.txt (when the context has one) goes in without its
        # dependencies, which the base image provides.
        for name, flags in (("requirements.txt", []), ("requirements-nodeps.txt", ["--no-deps"])):
            path = os.path.join(context, name)
            if not _lists_requirements(path):
                continue
            done = pip_install(Path(path), Path(task_root), "--no-compile", *flags)
            if done.returncode != 0:
                raise RuntimeError(f"pip install --target failed: {done.stderr.strip()[-1500:]}")
        shutil.rmtree(os.path.join(task_root, "bin"), ignore_errors=True)  # console scripts: useless in Lambda
        for entry in ("chalice", "chalicelib", "app.py"):
            source = os.path.join(context, entry)
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(task_root, entry), dirs_exist_ok=True)
            else:
                shutil.copy(source, task_root)
        # The Dockerfile compiles everything (/var/task is read-only), so the image carries the .pyc files.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", task_root],
            check=True,
            capture_output=True,
            timeout=600,
        )
        total, files, by_top = _tree(task_root)
    groups = sorted(((top, size / 1e6, count) for top, (size, count) in by_top.items()), key=lambda row: -row[1])
    return Layout(
        total / 1e6,
        files,
        groups,
        "pip install --target of the runtime requirements of "
        "container/context.py's build context "
        "(requirements-nodeps.txt with --no-deps), plus chalice's runtime module, app.py and chalicelib, "
        "byte-compiled as container/Dockerfile does",
    )


@dataclass(frozen=True)
class ImportProfile:
    modules: int
    import_ms: float
    top: list[tuple[str, float]]  # (module, cumulative ms), the ten most expensive


_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def parse_importtime(stderr: str, after: str = "lambda_context") -> ImportProfile:
    """The app's share of ``-X importtime``: every import after the child's own (``after``).

    Lines come in post-order with two spaces of indent per level; an unindented line is an import
    started by code rather than by another import, so those lines' cumulative times add up to the
    whole import cost, lazy imports included.
    """
    entries = []
    started = False
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        _, cumulative, indent, name = match.groups()
        if not started:
            started = name == after and len(indent) == 1
            continue
        entries.append((name, int(cumulative) / 1000, (len(indent) - 1) // 2))
    roots = [(name, ms) for name, ms, depth in entries if depth == 0]
    return ImportProfile(len(entries), sum(ms for _, ms in roots), sorted(roots, key=lambda r: -r[1])[:10])


def import_profile(case: ColdCase) -> ImportProfile:
    with tempfile.TemporaryDirectory(prefix="bench-importtime-") as workdir:
        cold_once(case, workdir=workdir)  # bytecode and page cache, as the measured runs had
        _, stderr = cold_once(case, python_flags=["-X", "importtime"], workdir=workdir)
    return parse_importtime(stderr)
