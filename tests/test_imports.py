"""The imports rule (tests/support/imports.py): the standard library and the project's light modules are
imported at the top; a function-level import is for something heavy, or says why with ``# lazy:``.
That GET /health after ``import app`` loads none of the heavy modules is checked where the deployed
image is built (tests/container/test_image_layout.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.imports import Project

ROOT = Path(__file__).resolve().parents[1]

# PENDING (issue 9): lazy imports of light modules in files other helpers are rewriting. The lead empties
# this after merging their branches, then deletes it; a fixed entry must leave the list (the test says so).
PENDING = {
    "chalicelib/compose.py": [
        "from chalicelib.errors import FeatureDisabled",
        "import os",
        "from chalicelib import consumers",
        "from chalicelib.events.base import ACTIVITY, DEAD_LETTERS",
        "from chalicelib.web.context import request_id",
        "from chalicelib.tasks.activity import ActivityRecorder",
        "from chalicelib.tasks.profiles import ProfileService",
        "from chalicelib.errors import FeatureDisabled",
        "from chalicelib.assistant.service import AssistantService",
        "from chalicelib.assistant.offline import OfflineProvider",
    ],
    "chalicelib/consumers.py": [
        "from chalicelib import compose",
        "from chalicelib.tasks.activity import parse_event, seconds_of",
        "from chalicelib.errors import AppError",
        "from chalicelib.settings import get_settings",
        "from chalicelib.tasks.activity import InvalidEvent",
        "from chalicelib.settings import get_settings",
    ],
    "chalicelib/events/base.py": [
        "import hashlib  # only when a record is built, never on the producer's cold path",
    ],
    "chalicelib/observability/logs.py": ["import hashlib", "import hmac", "import hashlib", "import hmac"],
    "chalicelib/streaming/handler.py": [
        "from chalicelib import compose",
        "from chalicelib.web.assistant import count_usage",
    ],
    "chalicelib/streaming/runtime.py": ["from chalicelib.settings import get_settings"],
    "chalicelib/tasks/activity.py": ["import random"],
    "chalicelib/tasks/items.py": [
        "import hashlib  # noqa: PLC0415 - create with a key only; read routes never pay for it",
        "import json",
        "from chalicelib.tasks.activity import item_event  # writes only: read routes never load it",
        "import random",
    ],
    "chalicelib/web/api.py": [
        "from chalicelib.web.openapi import document",
        "from chalicelib.web import cors",
        "from chalicelib.web import cursor",
        "from chalicelib.web import assistant",
        "from chalicelib.web import assistant",
    ],
    "chalicelib/web/assistant.py": [
        "from chalicelib.assistant import sse",
        "from chalicelib.assistant.base import DONE, ERROR",
        "from chalicelib.web import problems",
        "from chalicelib.settings import get_settings",
    ],
    "chalicelib/web/middleware.py": ["from chalicelib.auth import authenticate"],
}


def test_function_level_imports_name_only_heavy_modules_or_say_why():
    project = Project(ROOT)
    found = project.findings(project.sources)
    pending = {(path, statement) for path, statements in PENDING.items() for statement in statements}
    unexpected = [
        f"{lazy.path}:{lazy.line}: {lazy.statement}" for lazy in found if (lazy.path, lazy.statement) not in pending
    ]
    fixed = sorted(pending - {(lazy.path, lazy.statement) for lazy in found})
    assert unexpected == [], (
        "light modules imported inside functions: import them at the top, or say why on the line "
        "(or the line above) with `# lazy: <reason>`:\n" + "\n".join(unexpected)
    )
    assert fixed == [], f"no longer found, remove them from PENDING in tests/test_imports.py: {fixed}"


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
            """,
        },
    )
    project = Project(tmp_path)

    assert [f"{lazy.line}: {lazy.statement}" for lazy in project.findings([tmp_path / "pkg" / "user.py"])] == [
        "11: import json",
        "12: from pkg import light",
        "13: from . import light as again",
    ]
