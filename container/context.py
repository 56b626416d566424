"""Assemble the image's build context: ``python -m container.context dist/image``.

It holds what the Lambda image carries and nothing else: the runtime requirements without chalice,
of chalice only its runtime module (``chalice/__init__.py`` and ``chalice/app.py``, cherry-picked
exactly as Chalice's own deployment packager does, not the CLI and its dependencies), the app and
chalicelib, plus the Dockerfile and its .dockerignore.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import chalice
from chalice import app as chalice_app

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
# Entries the Dockerfile copies from the context (tests/container checks the Dockerfile agrees).
APP_ENTRIES = ("requirements.txt", "requirements-nodeps.txt", "chalice", "chalicelib", "app.py")
# Installed without their dependencies: what they need beyond what requirements.txt pins (botocore)
# is in the Lambda base image, and pip --target would otherwise vendor a second copy (~40 MiB).
WITHOUT_DEPENDENCIES = frozenset({"aws-xray-sdk"})
# The Lambda image's wheels by machine (the Lambda Python 3.11 image is Amazon Linux 2, glibc 2.26).
MANYLINUX = {"x86_64": "manylinux2014_x86_64", "aarch64": "manylinux2014_aarch64", "arm64": "manylinux2014_aarch64"}
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)")


def runtime_requirements(text: str) -> tuple[str, str, str]:
    """(requirements installed with their dependencies, those installed without, the chalice pin);
    chalice itself is in neither: the image carries only its runtime module."""
    kept: list[str] = []
    bare: list[str] = []
    chalice_version = ""
    for line in text.splitlines():
        match = _REQUIREMENT.match(line)
        name = match.group(1).lower() if match else ""
        if name == "chalice":
            chalice_version = match.group(2)  # type: ignore[union-attr]
            continue
        (bare if name in WITHOUT_DEPENDENCIES else kept).append(line)
    if not chalice_version:
        raise ValueError("requirements.txt must pin chalice (chalice==X.Y.Z)")
    return "\n".join(kept).strip() + "\n", "\n".join(bare).strip() + "\n", chalice_version


def chalice_runtime_files() -> dict[str, Path]:
    return {"__init__.py": Path(inspect.getfile(chalice)), "app.py": Path(inspect.getfile(chalice_app))}


def assemble(target: Path, project: Path = PROJECT) -> Path:
    target = Path(target)
    if target.exists():
        if any(target.iterdir()) and not (target / "Dockerfile").exists():
            raise ValueError(f"{target} is not empty and not an image context: refusing to replace it")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    requirements, bare, pinned = runtime_requirements((project / "requirements.txt").read_text(encoding="utf-8"))
    if chalice.__version__ != pinned:
        raise RuntimeError(
            f"the installed chalice is {chalice.__version__}, requirements.txt pins {pinned}: "
            "reinstall the virtualenv before packaging"
        )
    (target / "requirements.txt").write_text(requirements, encoding="utf-8")
    (target / "requirements-nodeps.txt").write_text(bare, encoding="utf-8")
    (target / "chalice").mkdir()
    for name, source in chalice_runtime_files().items():
        shutil.copy2(source, target / "chalice" / name)
    shutil.copytree(project / "chalicelib", target / "chalicelib", ignore=_IGNORED)
    shutil.copy2(project / "app.py", target / "app.py")
    shutil.copy2(HERE / "Dockerfile", target / "Dockerfile")
    shutil.copy2(HERE / ".dockerignore", target / ".dockerignore")
    return target


def pip_install(
    requirements: Path, target: Path, *extra: str, machine: str | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """The Dockerfile's ``pip install --target`` of one requirements file (binary wheels only): for
    ``machine``'s Lambda platform when given, else for this interpreter's."""
    platform = []
    if machine is not None:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        platform = ["--platform", MANYLINUX[machine], "--implementation", "cp", "--python-version", version]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"]
    return subprocess.run(
        [*command, str(target), *platform, "--only-binary=:all:", *extra, "-r", str(requirements)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m container.context", description=__doc__)
    parser.add_argument("target", nargs="?", default="dist/image")
    args = parser.parse_args(argv)
    print(assemble(Path(os.path.abspath(args.target))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
