"""The imports rule, read from the sources: which modules are heavy to import, and which function-level
imports name something that is not (docs/DESIGN.md, "Imports"; enforced by tests/test_imports.py).

Heavy is computed, not listed: one of ``HEAVY``; a module of the repository backed by one of them (it
imports one anywhere, even inside a function: the boto3 adapters, the providers); a module ``DEFERRED``
keeps off ``import app``; and a module whose import would load any of those, through its own module-level
imports or its packages'. A function-level import of anything else is a finding, unless its line (or the
comment line right above its group of import lines) says why with ``# lazy: <reason>``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

# What a cold start must not pay for before it needs it (GET /health loads none of these).
HEAVY = frozenset(
    {
        "boto3",  # the AWS SDK ...
        "botocore",
        "urllib3",  # ... and its HTTP layer
        "jwt",  # token verification and the local issuer's keys
        "cryptography",
        "msgspec",  # the wire schemas
        "aws_xray_sdk",  # tracing, in Lambda only
        "sqlite3",  # the embedded adapters
    }
)
# The project's own code that ``import app`` leaves out by design, with the test that says so.
DEFERRED = {
    "chalicelib.observability": "loaded by the first observed request, never with OBSERVABILITY=off "
    "(tests/observability/test_tracing.py)",
}
JUSTIFIED = "# lazy:"


@dataclass(frozen=True)
class LazyImport:
    path: str  # relative to the project root
    line: int
    statement: str
    names: tuple[str, ...]  # the modules it may load


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class Project:
    """The Python modules under ``root`` (virtualenvs and node_modules aside), read with ``ast``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._heavy: dict[str, str | None] = {}

    def path_of(self, module: str) -> Path | None:
        base = self.root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def module_name(self, path: Path) -> str:
        parts = list(Path(path).resolve().relative_to(self.root.resolve()).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def _tree(self, path: Path) -> ast.Module:
        return ast.parse(path.read_text(encoding="utf-8"), str(path))

    def _targets(self, node: ast.Import | ast.ImportFrom, path: Path) -> tuple[str, ...]:
        if isinstance(node, ast.Import):
            return tuple(alias.name for alias in node.names)
        base = node.module or ""
        if node.level:
            package = self.module_name(path).split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        # `from package import name` loads package.name too when that is a module.
        submodules = [f"{base}.{alias.name}" for alias in node.names if self.path_of(f"{base}.{alias.name}")]
        return (base, *submodules)

    def _imports(self, path: Path) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
        """Every import that runs, with whether it runs at import time (not in a function body);
        ``if TYPE_CHECKING:`` blocks never run."""
        found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

        def visit(nodes: list[ast.stmt], at_import: bool) -> None:
            for node in nodes:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found.append((node, at_import))
                elif isinstance(node, ast.If) and _is_type_checking(node):
                    visit(node.orelse, at_import)
                else:
                    inside = at_import and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for child in ast.iter_child_nodes(node):
                        if isinstance(child, ast.stmt):
                            visit([child], inside)
                        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                            visit(child.body, inside)

        visit(self._tree(path).body, True)
        return found

    def heavy(self, module: str) -> str | None:
        """Why importing ``module`` is heavy (``a -> b -> boto3``), or None when it is light."""
        if module not in self._heavy:
            self._heavy[module] = None  # an import cycle adds nothing
            self._heavy[module] = self._why_heavy(module)
        return self._heavy[module]

    def _why_heavy(self, module: str) -> str | None:
        if module.split(".")[0] in HEAVY:
            return module
        for prefix, reason in DEFERRED.items():
            if module == prefix or module.startswith(prefix + "."):
                return f"{module} ({reason})"
        path = self.path_of(module)
        if path is None:
            return None  # the standard library or a light dependency (chalice)
        imports = self._imports(path)
        backing = sorted({t.split(".")[0] for node, _ in imports for t in self._targets(node, path)} & HEAVY)
        if backing:
            return f"{module} (uses {', '.join(backing)})"
        parents = [".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)]
        imported = [t for node, at_import in imports if at_import for t in self._targets(node, path)]
        for target in [*parents, *imported]:
            why = self.heavy(target) if target != module else None
            if why:
                return f"{module} -> {why}"
        return None

    def lazy_imports(self, path: Path) -> list[LazyImport]:
        """The imports inside function bodies of one file."""
        path = Path(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        return [
            LazyImport(
                str(path.relative_to(self.root)),
                node.lineno,
                " ".join(line.strip() for line in lines[node.lineno - 1 : node.end_lineno]),
                self._targets(node, path),
            )
            for node, at_import in self._imports(path)
            if not at_import
        ]

    def justified(self, lazy: LazyImport) -> bool:
        if JUSTIFIED in lazy.statement:
            return True
        lines = (self.root / lazy.path).read_text(encoding="utf-8").splitlines()
        # One reason serves the group of import lines right below it (``import hashlib`` + ``import hmac``).
        number = lazy.line - 2
        while number >= 0 and lines[number].strip().startswith(("import ", "from ")):
            number -= 1
        return number >= 0 and lines[number].strip().startswith(JUSTIFIED)

    def findings(self, paths: list[Path]) -> list[LazyImport]:
        """Every function-level import of something light that does not say why."""
        return [
            lazy
            for path in paths
            for lazy in self.lazy_imports(path)
            if not any(self.heavy(name) for name in lazy.names) and not self.justified(lazy)
        ]

    @cached_property
    def sources(self) -> list[Path]:
        """The code the rule covers: the app and chalicelib (what runs in Lambda), bench and container."""
        return sorted(
            [
                self.root / "app.py",
                *(self.root / "chalicelib").rglob("*.py"),
                *(self.root / "bench").rglob("*.py"),
                *(self.root / "container").rglob("*.py"),
            ]
        )
