"""Request parsing: request ids, JSON bodies within the size limit (the assistant's prompt among them),
conditional and idempotency headers, query parameters, and the ETag of a version."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.errors import InvalidJson
from chalicelib.errors import PayloadTooLarge
from chalicelib.errors import ValidationFailed
from chalicelib.vocabulary import CLIENT_TOKEN_PATTERN
from chalicelib.vocabulary import CLIENT_TOKEN_RULE

MAX_BODY_BYTES = 64 * 1024
_TOKEN = re.compile(CLIENT_TOKEN_PATTERN)
_IF_MATCH = re.compile(r'"([1-9][0-9]{0,17})"')
ANY_VERSION = "*"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers.get(name)`` for a lower-case ``name``. Chalice's CaseInsensitiveMapping keeps its keys
    lower-cased in ``_dict``, and its own ``get`` raises and catches a KeyError on every miss (~1 us), which a
    header most requests lack (X-Request-Id) would cost every request."""
    lowered = getattr(headers, "_dict", None)
    return lowered.get(name) if type(lowered) is dict else headers.get(name)


def request_id(headers: Mapping[str, str]) -> str:
    given = header(headers, "x-request-id")
    if given and _TOKEN.fullmatch(given):
        return given
    # 128 random bits, hex: as unique as a UUID4 without importing uuid on the cold path.
    return os.urandom(16).hex()


def json_body(raw: str | bytes | None) -> Any:
    """The parsed body; 413 past the limit, 400 invalid_json when empty or not JSON."""
    # Chalice's Request.raw_body is declared str | bytes (it hands over bytes); text counts as its UTF-8.
    raw = raw.encode("utf-8") if isinstance(raw, str) else raw or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request bodies are limited to {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise InvalidJson("a JSON object body is required")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate ("\ud800") is not text
        return value
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidJson("the body is not valid UTF-8 JSON") from exc


def assistant_prompt(raw: str | bytes | None) -> str:
    """The prompt of an assistant request body, validated and trimmed (both assistant entry points)."""
    # The schemas load msgspec (heavy): on the first prompt, as on the other routes that validate.
    from chalicelib.protocol import schemas

    return schemas.validate(schemas.AssistantPrompt, json_body(raw)).prompt


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(f"{name} is not valid JSON")


def if_match(headers: Mapping[str, str]) -> int | str | None:
    """None when absent, ``"*"`` for any version, else the version number from ``"<n>"``."""
    value = headers.get("if-match")
    if value is None:
        return None
    value = value.strip()
    if value == ANY_VERSION:
        return ANY_VERSION
    match = _IF_MATCH.fullmatch(value)
    if not match:
        raise ValidationFailed.field("If-Match", 'must be "<version>" (a quoted integer) or *')
    return int(match.group(1))


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    value = headers.get("idempotency-key")
    if value is None:
        return None
    if not _TOKEN.fullmatch(value):
        raise ValidationFailed.field("Idempotency-Key", f"must be {CLIENT_TOKEN_RULE}")
    return value


def query_limit(params: Mapping[str, str] | None, default: int = 20, maximum: int = 100) -> int:
    raw = (params or {}).get("limit")
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= maximum:
        raise ValidationFailed.field("limit", f"must be an integer from 1 to {maximum}")
    return int(raw)


def query_choice(params: Mapping[str, str] | None, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = (params or {}).get(name)
    if raw is None:
        return None
    if raw not in allowed:
        raise ValidationFailed.field(name, "must be one of " + ", ".join(allowed))
    return raw


def etag(version: int) -> str:
    return f'"{version}"'
