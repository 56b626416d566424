"""Test tiers: every test is fast unless it is marked ``slow``, and the mark is computed, not remembered.

A test is slow when it is marked ``slow`` or ``e2e``; when it runs on a ``dynamodb`` variant of a
parametrized fixture (by value or id: ``adapter`` and ``store`` reach DynamoDB Local through
``request.getfixturevalue``, which no static reading can follow); or when its own code or any fixture it
uses can reach the ``subprocess`` or ``multiprocessing`` modules through the repository's own functions,
classes and modules (DynamoDB Local's Java process, ``chalice local``, ``chalice package``, the stack
tools, child interpreters). The fast tier is ``pytest -m "not slow"`` (``make test-fast``).

A miss cannot pass silently: while a fast test runs (setup, call and teardown), starting a process fails
it with the reason. Loaded from pytest.ini (``-p tests.support.tiers``).
"""

from __future__ import annotations

import _posixsubprocess
import dis
import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPAWNING_MODULES = ("subprocess", "multiprocessing", "concurrent.futures.process", "asyncio.subprocess")
SPAWNING_OS_FUNCTIONS = frozenset(
    name for name in dir(os) if name.startswith(("fork", "spawn", "exec", "posix_spawn")) or name in ("system", "popen")
)
IMPORT_NAME = dis.opmap["IMPORT_NAME"]
SLOW_PARAMS = frozenset({"dynamodb", "lean_dynamodb"})  # the store adapters on DynamoDB Local
SLOW_MARKERS = ("slow", "e2e")


def _spawning(value: Any) -> bool:
    module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    return isinstance(module, str) and module.startswith(SPAWNING_MODULES)


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


class Reach:
    """Whether a function or class can start a process, following the names its code uses into the
    repository's own functions, classes and modules (an over-approximation: erring towards slow is safe)."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self._seen: dict[int, bool] = {}

    def _is_project_code(self, filename: str | None) -> bool:
        """The repository's own sources: not the virtualenvs, node_modules or the standard library."""
        if not filename or not filename.endswith(".py"):
            return False
        try:
            top = Path(filename).resolve().relative_to(self.root).parts[0]
        except ValueError:
            return False
        return not top.startswith(".") and top != "node_modules"

    def spawns(self, value: Any) -> bool:
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            return any(self.spawns(f) for f in (value.fget, value.fset) if f is not None)
        if isinstance(value, types.MethodType):
            value = value.__func__
        if callable(value) and not isinstance(value, type):
            try:
                value = inspect.unwrap(value)  # decorators (contextmanager, fixture definitions) keep __wrapped__
            except ValueError:
                return False
        key = id(value)
        if key in self._seen:
            return self._seen[key]
        self._seen[key] = False  # a cycle adds nothing
        self._seen[key] = result = self._inspect(value)
        return result

    def _inspect(self, value: Any) -> bool:
        if isinstance(value, type):  # its methods decide (those outside the repository are skipped at once)
            return any(self.spawns(v) for v in vars(value).values())
        code = getattr(value, "__code__", None)
        if not isinstance(code, types.CodeType) or not self._is_project_code(code.co_filename):
            return False
        namespace = getattr(value, "__globals__", {})
        names: set[str] = set()
        reached: list[Any] = []
        for part in _code_objects(code):
            names.update(part.co_names)
            reached += _imported_in(part, namespace.get("__package__"))
        reached += [namespace[n] for n in names if n in namespace]
        modules = [m for m in reached if isinstance(m, types.ModuleType)]
        if any(_spawning(m) for m in modules) or (os in modules and names & SPAWNING_OS_FUNCTIONS):
            return True
        # `module.function`: the attribute's name is in co_names too; follow it on the project's modules.
        reached += [
            getattr(m, n)
            for m in modules
            if self._is_project_code(getattr(m, "__file__", None))
            for n in names
            if hasattr(m, n)
        ]
        return any(_spawning(r) or self.spawns(r) for r in reached if not isinstance(r, types.ModuleType))


def _imported_in(code: types.CodeType, package: str | None) -> Iterator[Any]:
    """What a function-level import binds: modules already loaded, and the test helpers (safe to import here)."""
    if IMPORT_NAME not in code.co_code[::2]:  # opcodes sit at even offsets; most functions import nothing
        return
    module = None
    constants: list[Any] = []
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_CONST":
            constants.append(instruction.argval)
        elif instruction.opname == "IMPORT_NAME":
            level = constants[-2] if len(constants) >= 2 and isinstance(constants[-2], int) else 0
            name = instruction.argval
            if level:
                name = importlib.util.resolve_name("." * level + name, package)
            module = sys.modules.get(name)
            if module is None and name.split(".")[0] == "tests":
                module = importlib.import_module(name)
            if module is not None:
                yield module
        elif instruction.opname == "IMPORT_FROM" and module is not None:
            attribute = instruction.argval
            yield getattr(module, attribute, None) or sys.modules.get(f"{module.__name__}.{attribute}")


def slow_reason(item: pytest.Item, reach: Reach) -> str | None:
    """Why the item belongs to the slow tier, or None when it is fast."""
    for name in SLOW_MARKERS:
        if item.get_closest_marker(name):
            return f"marked {name}"
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for name, value in callspec.params.items():
            if isinstance(value, str) and value in SLOW_PARAMS:
                return f"{name}[{value}]"
        # A parameter that is not the name itself (a factory, say) still carries it in its id.
        if SLOW_PARAMS & set(callspec.id.split("-")):
            return f"[{callspec.id}]"
    function = getattr(item, "obj", None)
    if function is not None and reach.spawns(function):
        return "starts a process"
    fixtureinfo = getattr(item, "_fixtureinfo", None)
    for name, definitions in fixtureinfo.name2fixturedefs.items() if fixtureinfo else ():
        if any(reach.spawns(d.func) for d in definitions):
            return f"fixture {name} starts a process"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: not in the fast tier (set automatically, see tests/support/tiers.py)")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reach = Reach()
    for item in items:
        reason = slow_reason(item, reach)
        if reason is not None and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow(reason=reason))


def _refusing(name: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        # pytest.fail raises an exception no `except Exception` in the code under test can swallow.
        pytest.fail(
            f"a fast-tier test started a process ({name}): mark it @pytest.mark.slow, or teach "
            "tests/support/tiers.py why it is slow"
        )

    return refuse


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if item.get_closest_marker("slow"):
        return (yield)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", _refusing("subprocess.Popen"))
        patch.setattr(_posixsubprocess, "fork_exec", _refusing("_posixsubprocess.fork_exec"))
        for name in SPAWNING_OS_FUNCTIONS:
            if hasattr(os, name):
                patch.setattr(os, name, _refusing(f"os.{name}"))
        return (yield)
