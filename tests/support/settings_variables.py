"""The environment variables ``Settings.from_env`` reads, found in chalicelib/settings.py's source.

The list is never written by hand: the docs tests check docs/CONFIGURATION.md against it, and a test
environment can clear exactly these. A variable counts when ``from_env`` reads it by a string constant
from its mapping parameter (``env``): ``env.get("NAME")``, ``env["NAME"]``, or a call with the mapping
followed by the name, ``_choice(env, "NAME", ...)``. A module-level function that ``from_env`` hands the
mapping to is read the same way.
"""

from __future__ import annotations

import ast
from pathlib import Path

SETTINGS_SOURCE = Path(__file__).resolve().parents[2] / "chalicelib" / "settings.py"


def variables_read(source: str, class_name: str = "Settings", method: str = "from_env") -> tuple[str, ...]:
    """The names ``class_name.method`` reads from its mapping parameter, in source order, each once."""
    tree = ast.parse(source)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    start = _method(tree, class_name, method)
    params = _params(start)
    if len(params) < 2:
        raise LookupError(f"{class_name}.{method} takes no mapping parameter")
    names: list[str] = []
    _collect(start, params[1], functions, names, seen=set())  # params[0] is cls
    if not names:
        raise LookupError(f"{class_name}.{method} reads no variable: has this reader fallen behind the code?")
    return tuple(names)


def settings_variables() -> tuple[str, ...]:
    """Every variable the app's Settings read (chalicelib/settings.py)."""
    return variables_read(SETTINGS_SOURCE.read_text(encoding="utf-8"))


def _collect(
    function: ast.FunctionDef,
    env: str,
    functions: dict[str, ast.FunctionDef],
    names: list[str],
    seen: set[tuple[str, str]],
) -> None:
    if (function.name, env) in seen:
        return
    seen.add((function.name, env))
    nodes = sorted(
        (node for node in ast.walk(function) if isinstance(node, ast.expr)),  # reads are calls and subscripts
        key=lambda node: (node.lineno, node.col_offset),
    )
    for node in nodes:
        name = _read_name(node, env)
        if name is not None and name not in names:
            names.append(name)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            callee = functions[node.func.id]
            for position, arg in enumerate(node.args):
                if _is_env(arg, env) and position < len(_params(callee)):
                    _collect(callee, _params(callee)[position], functions, names, seen)


def _method(tree: ast.Module, class_name: str, method: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    return item
    raise LookupError(f"no {class_name}.{method} in the source")


def _params(function: ast.FunctionDef) -> list[str]:
    return [arg.arg for arg in function.args.posonlyargs + function.args.args]


def _is_env(node: ast.AST, env: str) -> bool:
    return isinstance(node, ast.Name) and node.id == env


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _read_name(node: ast.AST, env: str) -> str | None:
    if isinstance(node, ast.Subscript) and _is_env(node.value, env):
        return _string(node.slice)
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "get" and _is_env(func.value, env) and node.args:
        return _string(node.args[0])
    for position, arg in enumerate(node.args[:-1]):
        if _is_env(arg, env):
            return _string(node.args[position + 1])
    return None
