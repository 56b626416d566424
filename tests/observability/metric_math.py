"""A small evaluator of CloudWatch metric math and alarm thresholds, enough to evaluate the stack's own alarm
expressions on counts a test produced. Supported (anything else raises, so an expression that drifts into
syntax this cannot judge fails loudly): numbers, metric ids, ``+ - * /``, unary minus, the comparisons
``> < >= <= == !=`` (1 or 0) and ``IF(condition, then, else)`` (only the branch taken is evaluated, as the
expressions rely on to avoid dividing by zero).

Source: "Using metric math", Amazon CloudWatch User Guide (operators and the IF function).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {
    ast.Gt: operator.gt,
    ast.Lt: operator.lt,
    ast.GtE: operator.ge,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ALARM_COMPARISONS = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


class UnsupportedExpression(ValueError):
    pass


def evaluate(expression: str, values: Mapping[str, float]) -> float:
    """The value of ``expression`` with each metric id bound to its value in ``values``."""
    # Metric math writes != and == as Python does; its IF is a call here.
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise UnsupportedExpression(expression) from error
    return _eval(tree.body, values)


def _eval(node: ast.AST, values: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise UnsupportedExpression(f"no value for metric id {node.id!r}")
        return float(values[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, values)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return float(_BINARY[type(node.op)](_eval(node.left, values), _eval(node.right, values)))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left, right = _eval(node.left, values), _eval(node.comparators[0], values)
        return 1.0 if _COMPARE[type(node.ops[0])](left, right) else 0.0
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "IF"
        and len(node.args) == 3
        and not node.keywords
    ):
        condition, then, otherwise = node.args
        return _eval(then if _eval(condition, values) != 0 else otherwise, values)
    raise UnsupportedExpression(ast.dump(node))


def alarm_state(alarm: Mapping[str, Any], values: Mapping[str, float]) -> tuple[float, str]:
    """An ``AWS::CloudWatch::Alarm``'s (metric math) value for one period of ``values`` (by metric id) and
    the state it would take: ``ALARM`` or ``OK``."""
    props = alarm["Properties"]
    [returned] = [query for query in props["Metrics"] if query.get("ReturnData", True)]
    value = evaluate(returned["Expression"], values)
    breached = _ALARM_COMPARISONS[props["ComparisonOperator"]](value, props["Threshold"])
    return value, "ALARM" if breached else "OK"
