"""A small evaluator of CloudWatch Logs filter patterns, enough to check that the app's real log lines
match the patterns the stack's metric filters use. Supported (anything else raises, so a pattern that
drifts into syntax this cannot judge fails loudly instead of silently not matching):

- JSON: ``{ $.a.b = "text" }``, ``!=``, numbers with ``= != < > <= >=``, ``*`` wildcards in strings,
  ``&&``, ``||`` and parentheses;
- text: terms, quoted or bare; ``?term`` alternatives (any of them); ``-term`` exclusions; an
  unstructured term matches when the event contains it (case-sensitive).
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))|(?P<sel>\$(?:\.[A-Za-z0-9_\-]+)+)|"""
    r"""(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?[0-9]+(?:\.[0-9]+)?))"""
)


class UnsupportedPattern(ValueError):
    pass


def matches(pattern: str, event: str) -> bool:
    pattern = pattern.strip()
    if pattern.startswith("{"):
        if not pattern.endswith("}"):
            raise UnsupportedPattern(pattern)
        try:
            document = json.loads(event)
        except ValueError:
            return False  # a JSON pattern never matches a line that is not JSON
        return _Json(pattern[1:-1], document).evaluate()
    return _text_matches(pattern, event)


def _text_matches(pattern: str, event: str) -> bool:
    terms = re.findall(r'[?-]?"(?:[^"\\]|\\.)*"|\S+', pattern)
    if not terms:
        return True  # the empty pattern matches everything
    required: list[str] = []
    alternatives: list[str] = []
    excluded: list[str] = []
    for term in terms:
        prefix = term[0] if term[0] in "?-" else ""
        body = term[len(prefix) :]
        if body.startswith('"'):
            body = json.loads(body)
        elif not re.fullmatch(r"[A-Za-z0-9_.:/\[\]]+", body):
            raise UnsupportedPattern(f"text term {term!r}")
        {"?": alternatives, "-": excluded, "": required}[prefix].append(body)
    if any(term in event for term in excluded):
        return False
    if not all(term in event for term in required):
        return False
    return not alternatives or any(term in event for term in alternatives)


class _Json:
    def __init__(self, expression: str, document: Any) -> None:
        self.tokens = self._tokenize(expression)
        self.position = 0
        self.document = document

    @staticmethod
    def _tokenize(expression: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(expression):
            if expression[position:].strip() == "":
                break
            match = _TOKEN.match(expression, position)
            if not match:
                raise UnsupportedPattern(f"cannot read {expression[position:]!r}")
            kind = match.lastgroup
            assert kind is not None  # each alternative of _TOKEN is a named group
            tokens.append((kind, match.group(kind)))
            position = match.end()
        return tokens

    def evaluate(self) -> bool:
        result = self._or()
        if self.position != len(self.tokens):
            raise UnsupportedPattern(f"unexpected {self.tokens[self.position]!r}")
        return result

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise UnsupportedPattern("pattern ends early")
        self.position += 1
        return token

    def _or(self) -> bool:
        result = self._and()
        while self._peek() == ("op", "||"):
            self._take()
            right = self._and()
            result = result or right
        return result

    def _and(self) -> bool:
        result = self._primary()
        while self._peek() == ("op", "&&"):
            self._take()
            right = self._primary()
            result = result and right
        return result

    def _primary(self) -> bool:
        if self._peek() == ("op", "("):
            self._take()
            result = self._or()
            if self._take() != ("op", ")"):
                raise UnsupportedPattern("unbalanced parentheses")
            return result
        kind, selector = self._take()
        if kind != "sel":
            raise UnsupportedPattern(f"expected a $.selector, got {selector!r}")
        kind, operator = self._take()
        if kind != "op" or operator not in ("=", "!=", "<", ">", "<=", ">="):
            raise UnsupportedPattern(f"unsupported operator {operator!r}")
        kind, literal = self._take()
        return self._compare(self._select(selector), operator, kind, literal)

    def _select(self, selector: str) -> Any:
        value: Any = self.document
        for name in selector.split(".")[1:]:
            if not isinstance(value, dict) or name not in value:
                return _MISSING
            value = value[name]
        return value

    @staticmethod
    def _compare(value: Any, operator: str, kind: str, literal: str) -> bool:
        if value is _MISSING:
            return False
        if kind == "str":
            if operator not in ("=", "!="):
                raise UnsupportedPattern(f"{operator} on a string")
            text = json.loads(literal)
            if not isinstance(value, str):
                equal = False
            else:
                regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in text)
                equal = re.fullmatch(regex, value) is not None
            return equal if operator == "=" else not equal
        if kind == "num":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return False
            number = float(literal)
            return {
                "=": value == number,
                "!=": value != number,
                "<": value < number,
                ">": value > number,
                "<=": value <= number,
                ">=": value >= number,
            }[operator]
        raise UnsupportedPattern(f"unsupported value {literal!r}")


_MISSING = object()
