"""Resolve a template's Conditions for one set of parameter values: drop the resources and outputs
whose condition is false and replace each Fn::If by its chosen branch (AWS::NoValue removed).

Enough of CloudFormation for the flag-matrix tests to ask "with this flag off, is there a table?"."""

from __future__ import annotations

import copy
from typing import Any, Mapping

_NO_VALUE = object()


def parameter_values(template: dict, overrides: Mapping[str, str]) -> dict[str, str]:
    values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    values.update(overrides)
    return values


def _evaluate(expr: Any, conditions: dict, params: Mapping[str, str], memo: dict) -> Any:
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()
        if key == "Ref" and arg in params:
            return params[arg]
        if key == "Fn::Equals":
            a, b = (_evaluate(x, conditions, params, memo) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not _evaluate(arg[0], conditions, params, memo)
        if key == "Fn::And":
            return all(_evaluate(x, conditions, params, memo) for x in arg)
        if key == "Fn::Or":
            return any(_evaluate(x, conditions, params, memo) for x in arg)
        if key == "Condition":
            return condition(arg, conditions, params, memo)
    return expr


def condition(name: str, conditions: dict, params: Mapping[str, str], memo: dict) -> bool:
    if name not in memo:
        memo[name] = bool(_evaluate(conditions[name], conditions, params, memo))
    return memo[name]


def resolve(template: dict, overrides: Mapping[str, str] | None = None) -> dict:
    out = copy.deepcopy(template)
    params = parameter_values(out, overrides or {})
    conditions = out.get("Conditions", {})
    memo: dict[str, bool] = {}
    truth = {name: condition(name, conditions, params, memo) for name in conditions}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return walk(yes if truth[name] else no)
            if node == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            kept = {k: walk(v) for k, v in node.items()}
            return {k: v for k, v in kept.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [v for v in (walk(x) for x in node) if v is not _NO_VALUE]
        return node

    for section in ("Resources", "Outputs"):
        entries = out.get(section, {})
        for name in [n for n, r in entries.items() if "Condition" in r and not truth[r["Condition"]]]:
            del entries[name]
        for entry in entries.values():
            entry.pop("Condition", None)
    out["Resources"] = walk(out.get("Resources", {}))
    out["Outputs"] = walk(out.get("Outputs", {}))
    out.pop("Conditions", None)
    out.pop("Rules", None)  # their assertions hold for the chosen values, or the combination is invalid
    out["ResolvedParameters"] = params
    return out
