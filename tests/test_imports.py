"""The imports rule (tests/support/imports.py): the standard library and the project's light modules are
imported at the top; a function-level import is for something heavy, or says why with ``# lazy:``.
That GET /health after ``import app`` loads none of the heavy modules is checked where the deployed
image is built (tests/container/test_image_layout.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.imports import Project

ROOT = Path(__file__).resolve().parents[1]


def test_function_level_imports_name_only_heavy_modules_or_say_why():
    project = Project(ROOT)
    found = [f"{lazy.path}:{lazy.line}: {lazy.statement}" for lazy in project.findings(project.sources)]
    assert found == [], (
        "light modules imported inside functions: import them at the top, or say why on the line "
        "(or on the comment line above its group of imports) with `# lazy: <reason>`:\n" + "\n".join(found)
    )


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_a_module_is_heavy_when_its_import_would_load_a_heavy_one_through_any_chain(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/schemas.py": "import msgspec\n",
            "pkg/service.py": "from . import schemas\n",
            "pkg/api.py": "from pkg.service import thing\n",
            "pkg/adapter.py": "def client():\n    import boto3\n",  # backed by boto3, even if only lazily
            "pkg/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import msgspec\n",
            "pkg/light.py": "import json\n",
            "heavypkg/__init__.py": "import jwt\n",
            "heavypkg/small.py": "X = 1\n",
        },
    )
    project = Project(tmp_path)

    assert project.heavy("pkg.api") == "pkg.api -> pkg.service -> pkg.schemas (uses msgspec)"
    assert project.heavy("pkg.adapter") == "pkg.adapter (uses boto3)"
    assert project.heavy("heavypkg.small") == "heavypkg.small -> heavypkg (uses jwt)"
    assert project.heavy("chalicelib.observability.logs")  # DEFERRED: kept off `import app` by design
    assert project.heavy("pkg.typed") is None
    assert project.heavy("pkg.light") is None
    assert project.heavy("json") is None


def test_a_function_level_import_of_a_light_module_is_a_finding_unless_it_says_why(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/schemas.py": "import msgspec\n",
            "pkg/light.py": "X = 1\n",
            "pkg/user.py": """\
            import os


            def heavy_ones():
                import boto3
                from pkg import schemas
                from pkg.schemas import Item


            def light_ones():
                import json
                from pkg import light
                from . import light as again


            def said_why():
                # lazy: an import cycle with pkg.light (pkg.light imports this module)
                from pkg import light
                import random  # lazy: only the retry path needs it


            def one_reason_for_a_group():
                # lazy: hashlib loads OpenSSL, only a caller's line pays for it
                import hashlib
                import hmac

                import secrets
            """,
        },
    )
    project = Project(tmp_path)

    assert [f"{lazy.line}: {lazy.statement}" for lazy in project.findings([tmp_path / "pkg" / "user.py"])] == [
        "11: import json",
        "12: from pkg import light",
        "13: from . import light as again",
        "27: import secrets",
    ]
