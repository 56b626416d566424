"""Resolve a template's Conditions for one set of parameter values: drop the resources and outputs
whose condition is false and replace each Fn::If by its chosen branch (AWS::NoValue removed).

Enough of CloudFormation for the flag-matrix tests to ask "with this flag off, is there a table?".
Conditions may compare strings built with Ref, Fn::Sub, Fn::Join, Fn::Select and Fn::Split. Given the
pseudo parameters too (``pseudo={"AWS::Region": ...}``), those functions are also evaluated in the
resources wherever every input is known, so a test can read an ARN as the deployed stack would. Conditions
see the pseudo parameters too (``AWS::Region`` decides which region of several is the home one); ``region``
alone gives the Conditions the region without evaluating the resources' functions (the flag matrix)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

_NO_VALUE = object()
_STRING_FUNCTIONS = ("Ref", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split")


class Unknown(Exception):
    """The value depends on something only a deployed stack knows (a resource, an unset pseudo parameter)."""


def parameter_values(template: dict, overrides: Mapping[str, str]) -> dict[str, str]:
    values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    values.update(overrides)
    return values


def value(expr: Any, names: Mapping[str, Any]) -> Any:
    """Evaluate a string-valued expression from parameter (and pseudo parameter) values, or raise Unknown."""
    if isinstance(expr, (str, int, float)):
        return expr
    if isinstance(expr, list):
        return [value(x, names) for x in expr]
    if not (isinstance(expr, dict) and len(expr) == 1):
        raise Unknown(expr)
    ((key, arg),) = expr.items()
    if key == "Ref":
        if arg not in names:
            raise Unknown(arg)
        return names[arg]
    if key == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: value(v, names) for k, v in arg[1].items()})
        scope = {**names, **extra}

        def substitute(match: re.Match) -> str:
            if match.group(1) not in scope:
                raise Unknown(match.group(1))
            return str(scope[match.group(1)])

        return re.sub(r"\$\{([A-Za-z0-9_:.]+)\}", substitute, text)
    if key == "Fn::Join":
        return str(arg[0]).join(str(v) for v in value(arg[1], names))
    if key == "Fn::Select":
        return value(arg[1], names)[int(value(arg[0], names))]
    if key == "Fn::Split":
        return str(value(arg[1], names)).split(arg[0])
    raise Unknown(expr)


def _evaluate(expr: Any, conditions: dict, params: Mapping[str, str], memo: dict) -> Any:
    if isinstance(expr, dict) and len(expr) == 1:
        ((key, arg),) = expr.items()
        if key in _STRING_FUNCTIONS:
            try:
                return value(expr, params)
            except Unknown:
                return expr
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


def resolve(
    template: dict,
    overrides: Mapping[str, str] | None = None,
    pseudo: Mapping[str, str] | None = None,
    *,
    region: str | None = None,
) -> dict:
    out = copy.deepcopy(template)
    params = parameter_values(out, overrides or {})
    conditions = out.get("Conditions", {})
    memo: dict[str, bool] = {}
    known = {**params, **({"AWS::Region": region} if region else {}), **(pseudo or {})}
    truth = {name: condition(name, conditions, known, memo) for name in conditions}
    names = {**params, **pseudo} if pseudo is not None else None

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return walk(yes if truth[name] else no)
            if node == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            kept = {k: walk(v) for k, v in node.items()}
            kept = {k: v for k, v in kept.items() if v is not _NO_VALUE}
            if names is not None and len(kept) == 1 and next(iter(kept)) in _STRING_FUNCTIONS:
                try:
                    return value(kept, names)
                except (Unknown, IndexError):
                    return kept
            return kept
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


def _holds(expr: Any, names: Mapping[str, Any]) -> bool:
    """A Rule's condition or assertion, from parameter values (the rule functions this project's Rules use)."""
    ((key, arg),) = expr.items()
    if key == "Fn::Equals":
        return str(value(arg[0], names)) == str(value(arg[1], names))
    if key == "Fn::Contains":
        return str(value(arg[1], names)) in [str(v) for v in value(arg[0], names)]
    if key == "Fn::Not":
        return not _holds(arg[0], names)
    if key == "Fn::And":
        return all(_holds(x, names) for x in arg)
    if key == "Fn::Or":
        return any(_holds(x, names) for x in arg)
    raise Unknown(expr)


def refused_by(template: dict, overrides: Mapping[str, str], pseudo: Mapping[str, str] | None = None) -> list[str]:
    """What CloudFormation would answer these parameter values before creating anything: each overridden
    parameter whose AllowedPattern refuses its value, and each Rules assertion they break (its description)."""
    names = {**parameter_values(template, overrides), **(pseudo or {})}
    definitions = template.get("Parameters", {})
    refused = [
        f"{name}: {definitions[name].get('ConstraintDescription', definitions[name]['AllowedPattern'])}"
        for name in overrides
        if "AllowedPattern" in definitions[name] and not re.fullmatch(definitions[name]["AllowedPattern"], names[name])
    ]
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not _holds(rule["RuleCondition"], names):
            continue
        refused.extend(a["AssertDescription"] for a in rule["Assertions"] if not _holds(a["Assert"], names))
    return refused
