"""What git tracks: the sources, never what an install or a build makes (a virtualenv, node_modules/,
dist/, out/, .data/), nor anything .gitignore excludes (`make test` rewrites such files, so a tracked
copy shows as a change after every run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from pathlib import PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Made by make (.venv, .venv-stack, node_modules, out, dist) or by the app (.data, its local data dir).
GENERATED = ("node_modules", "dist", "out", ".data")


def generated(paths: list[str], root: Path) -> list[str]:
    """The paths that lie in a virtualenv (a .venv* folder, or any folder holding pyvenv.cfg) or in one
    of the GENERATED folders, at any depth."""
    found = []
    for path in paths:
        parts = PurePosixPath(path).parts
        folders = [Path(*parts[:n]) for n in range(1, len(parts))]
        if any(part.startswith(".venv") or part in GENERATED or part == "pyvenv.cfg" for part in parts) or any(
            (root / folder / "pyvenv.cfg").is_file() for folder in folders
        ):
            found.append(path)
    return found


def git(*args: str) -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(["git", *args, "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if result.returncode != 0 and b"not a git repository" in result.stderr:
        pytest.skip("not a git checkout (CI always is one)")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return [name for name in result.stdout.decode().split("\0") if name]


def test_no_virtualenv_dependency_or_build_output_is_tracked():
    tracked = generated(git("ls-files"), ROOT)
    assert tracked == [], "tracked but generated: `git rm -r --cached` them:\n" + "\n".join(tracked[:50])


def test_no_tracked_file_is_one_gitignore_excludes():
    ignored = git("ls-files", "--cached", "--ignored", "--exclude-standard")
    assert ignored == [], "tracked although .gitignore excludes them:\n" + "\n".join(ignored[:50])


def test_generated_paths_are_recognised_at_any_depth_and_under_any_virtualenv_name(tmp_path):
    (tmp_path / "env" / "lib").mkdir(parents=True)
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    paths = [
        "app.py",
        "chalicelib/web/api.py",
        "docs/output.md",
        "tests/cloudformation/golden/api.yaml",
        ".venv-stack/lib/python3.11/site-packages/pip/__init__.py",
        ".venv",
        "node_modules/.package-lock.json",
        "dist/template.yaml",
        "out/sam.yaml",
        ".data/issuer/jwks.json",
        "tests/fixture/node_modules/x.js",
        "env/lib/site.py",
        "other/pyvenv.cfg",
    ]
    assert generated(paths, tmp_path) == paths[4:]
