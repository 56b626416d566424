"""openapi.json, generated from the app's route table and the same msgspec schemas that validate.

Each route's operation lists every status it can answer; a test checks this table covers exactly
the routes app.py declares, so a new route cannot ship undocumented.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from chalicelib.assistant.base import DONE
from chalicelib.assistant.base import ERROR
from chalicelib.assistant.base import TOKEN
from chalicelib.settings import get_settings
from chalicelib.vocabulary import ASSISTANT_STREAM_PATH
from chalicelib.vocabulary import CLIENT_TOKEN_PATTERN
from chalicelib.vocabulary import CLIENT_TOKEN_RULE
from chalicelib.vocabulary import LOCAL_ONLY_PATHS
from chalicelib.vocabulary import SLACK_COMMAND_PATH
from chalicelib.vocabulary import STATUSES
from chalicelib.vocabulary import UNROUTED_PATH

_PROBLEM = "application/problem+json"

# status -> description, for the problem responses shared by many operations
_ERRORS = {
    400: "Invalid request: `invalid_json`, `validation_error` (with `errors`) or `invalid_cursor`",
    401: "Missing or invalid bearer token (`unauthorized`), with `WWW-Authenticate: Bearer`",
    403: "Not allowed (`forbidden`)",
    404: "No such item for this caller (`not_found`)",
    412: "`If-Match` names a stale version (`precondition_failed`)",
    413: "Body larger than 64 KiB (`payload_too_large`)",
    422: "`Idempotency-Key` reused with a different body (`idempotency_conflict`)",
    500: "A bug (`internal_error`); carries only the request id",
    503: "Store throttled or unreachable (`service_unavailable`); nothing changed, retry later",
}
# One server-sent event (OpenAPI's per-event schema for text/event-stream): its name and its JSON data.
_SSE_EVENT: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"const": name},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {
                        "type": "object",
                        "required": list(fields),
                        "properties": {f: {} for f in fields},
                    },
                },
            },
        }
        for name, fields in ((TOKEN, ("text",)), (DONE, ("usage", "provider", "model")), (ERROR, ("code", "detail")))
    ]
}
# What both assistant routes share: the prompt, and what they answer when the assistant cannot.
_ASK: dict[str, Any] = {
    "body": "AssistantPrompt",
    "errors": [400, 413, 503],
    "descriptions": {
        503: "Store or model provider unavailable (`service_unavailable`, `provider_throttled`, "
        "`provider_unavailable`), or the assistant switched off (`feature_disabled`)"
    },
}

# Slack's slash-command request (the fields read) and response.
_SLACK_COMMAND: dict[str, Any] = {
    "type": "object",
    "properties": {
        name: {"type": "string"} for name in ("command", "text", "user_id", "user_name", "channel_id", "channel_name")
    },
}
_SLACK_REPLY: dict[str, Any] = {
    "type": "object",
    "required": ["response_type", "text"],
    "properties": {"response_type": {"enum": ["ephemeral", "in_channel"]}, "text": {"type": "string"}},
}


def _parameter(where: str, name: str, schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    """One operation parameter; only a path parameter is required."""
    parameter = {"name": name, "in": where, "required": where == "path", "schema": schema}
    if description is not None:
        parameter["description"] = description
    return parameter


_ITEM_ID = _parameter("path", "item_id", {"type": "string"}, "An item id; any other string answers 404")
_IF_MATCH = _parameter(
    "header",
    "If-Match",
    {"type": "string", "pattern": r'^(\*|"[1-9][0-9]{0,17}")$'},
    'The item\'s ETag (`"<version>"`) or `*`',
)
_IDEMPOTENCY = _parameter(
    "header",
    "Idempotency-Key",
    {"type": "string", "pattern": f"^{CLIENT_TOKEN_PATTERN}$"},
    "Repeat-safe create: the same key and body within 24 h returns the first 201",
)
_REQUEST_ID = _parameter(
    "header", "X-Request-Id", {"type": "string"}, f"Echoed when it is {CLIENT_TOKEN_RULE}; otherwise one is generated"
)
_LIMIT = _parameter("query", "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20})
_CURSOR = _parameter("query", "cursor", {"type": "string"}, "`next_cursor` of the previous page, unchanged")
_LIST_PARAMS = [_LIMIT, _parameter("query", "status", {"type": "string", "enum": list(STATUSES)}), _CURSOR]

# What the activity routes answer without the activity pipeline (EnableSqsIntegration=false).
_ACTIVITY_503 = {
    503: "Store throttled or unreachable (`service_unavailable`), or the activity pipeline switched off "
    "(`feature_disabled`)"
}

_PREFLIGHT: dict[str, Any] = {
    "summary": "CORS preflight: the allowed methods and headers for an origin in CORS_ALLOW_ORIGINS",
    "public": True,
    "ok": {204: None},
    "errors": [],
}

# (path, method) -> operation facts; responses: status -> schema name (None for no body)
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/health", "GET"): {
        "summary": "Liveness and version; 503 while this region's switch says failed",
        "public": True,
        "ok": {200: "Health"},
        "errors": [503],
        "descriptions": {503: "This region is failed over by the operators (`region_failed`)"},
    },
    (SLACK_COMMAND_PATH, "POST"): {
        "summary": "Slack's slash command (`status`, `fail`, `restore`), signed by Slack; no bearer token",
        "public": True,
        "form": "SlackCommand",
        "ok": {200: "SlackReply"},
        "errors": [401, 403, 503],
        "descriptions": {
            401: "Slack's signature missing, wrong, more than five minutes old, or replayed, or no signing secret "
            "configured here (`invalid_signature`)",
            403: "The Slack user and channel are not allowed (`forbidden`)",
            503: "The signing secret, the region switch or the alarms could not be read or written "
            "(`service_unavailable`)",
        },
    },
    ("/openapi.json", "GET"): {"summary": "This document", "public": True, "ok": {200: None}, "errors": []},
    ("/me", "OPTIONS"): _PREFLIGHT,
    ("/items", "OPTIONS"): _PREFLIGHT,
    ("/items/{item_id}", "OPTIONS"): {**_PREFLIGHT, "params": [_ITEM_ID]},
    ("/me", "GET"): {"summary": "The caller's profile (created on first use)", "ok": {200: "Profile"}, "errors": [503]},
    ("/me", "PATCH"): {
        "summary": "Change the display name",
        "body": "ProfilePatch",
        "ok": {200: "Profile"},
        "errors": [400, 413, 503],
    },
    ("/items", "GET"): {
        "summary": "The caller's items, newest first",
        "params": _LIST_PARAMS,
        "ok": {200: "ItemPage"},
        "errors": [400, 503],
    },
    ("/items", "POST"): {
        "summary": "Create an item",
        "body": "ItemCreate",
        "params": [_IDEMPOTENCY],
        "ok": {201: "Item"},
        "errors": [400, 413, 422, 503],
    },
    ("/items/{item_id}", "GET"): {
        "summary": "One item",
        "params": [_ITEM_ID],
        "ok": {200: "Item"},
        "errors": [404, 503],
    },
    ("/items/{item_id}", "PATCH"): {
        "summary": "Change an item",
        "body": "ItemPatch",
        "params": [_ITEM_ID, _IF_MATCH],
        "ok": {200: "Item"},
        "errors": [400, 404, 412, 413, 503],
    },
    ("/items/{item_id}", "DELETE"): {
        "summary": "Delete an item",
        "params": [_ITEM_ID, _IF_MATCH],
        "ok": {204: None},
        "errors": [400, 404, 412, 503],
    },
    ("/stats", "OPTIONS"): _PREFLIGHT,
    ("/activity", "OPTIONS"): _PREFLIGHT,
    ("/stats", "GET"): {
        "summary": "The caller's counters (eventually consistent with their items)",
        "ok": {200: "Stats"},
        "errors": [503],
        "descriptions": _ACTIVITY_503,
    },
    ("/activity", "GET"): {
        "summary": "The caller's events of the last 30 days, newest first by the time of the change",
        "params": [_LIMIT, _CURSOR],
        "ok": {200: "ActivityPage"},
        "errors": [400, 503],
        "descriptions": _ACTIVITY_503,
    },
    ("/assistant", "OPTIONS"): _PREFLIGHT,
    (ASSISTANT_STREAM_PATH, "OPTIONS"): _PREFLIGHT,
    ("/assistant", "POST"): {**_ASK, "summary": "Ask the assistant about your items", "ok": {200: "AssistantAnswer"}},
    (ASSISTANT_STREAM_PATH, "POST"): {
        **_ASK,
        "summary": "Ask the assistant; the answer as server-sent events (`token`..., then one `done`, or one `error`)",
        "ok": {200: "stream"},
    },
}


def _ok_response(status: int, schema: str | None, path: str) -> dict[str, Any]:
    if schema is None and status == 204:
        return {"description": "No content"}
    if schema is None:
        return {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}
    if schema == "SlackReply":
        return {
            "description": "Slack's slash-command response: shown to the asker (`ephemeral`) or the channel",
            "content": {"application/json": {"schema": _SLACK_REPLY}},
        }
    if schema == "stream":
        return {
            "description": 'Server-sent events: `event: token` / `data: {"text"}` (many), then one '
            '`event: done` / `data: {"usage", "provider", "model"}`, or one '
            '`event: error` / `data: {"code", "detail"}` if it fails after it began',
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        }
    response: dict[str, Any] = {
        "description": "OK",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if schema == "Item":
        response["headers"] = {"ETag": {"schema": {"type": "string"}, "description": '"<version>"'}}
        if status == 201:
            response["headers"]["Location"] = {"schema": {"type": "string"}}
    return response


def _operation(path: str, method: str, facts: dict[str, Any]) -> dict[str, Any]:
    problem = {_PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: dict[str, Any] = {str(s): _ok_response(s, schema, path) for s, schema in facts["ok"].items()}
    statuses = list(facts["errors"]) + [500]
    if not facts.get("public"):
        statuses.append(401)
    for status in sorted(set(statuses)):
        description = facts.get("descriptions", {}).get(status, _ERRORS[status])
        responses[str(status)] = {"description": description, "content": problem}
    # get_items_item_id for GET /items/{item_id}: unique per route, made of [a-z0-9_] only.
    slug = path.strip("/").replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{slug}",
        "summary": facts["summary"],
        "parameters": [_REQUEST_ID, *facts.get("params", [])],
        "responses": responses,
    }
    if facts.get("public"):
        operation["security"] = []
    if "form" in facts:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": _SLACK_COMMAND}},
        }
    if "body" in facts:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{facts['body']}"}}},
        }
    return operation


@lru_cache(maxsize=1)
def _document(route_keys: tuple[tuple[str, str], ...], stream_url: str | None) -> dict[str, Any]:
    # The schemas load msgspec (heavy); only the first GET /openapi.json pays for it.
    from chalicelib.protocol.schemas import json_schema_components

    _, components = json_schema_components()
    paths: dict[str, Any] = {}
    for path, method in route_keys:
        facts = OPERATIONS.get((path, method))
        if facts is None:
            raise LookupError(f"{method} {path} has no OpenAPI description")
        operation = _operation(path, method, facts)
        if stream_url and (path, method) == (ASSISTANT_STREAM_PATH, "POST"):
            # Served by another origin (the HTTP API flavour's Lambda function URL): the same path, body
            # and bearer token there; the API's own route answers buffered.
            operation["servers"] = [
                {"url": stream_url, "description": "The streaming function's URL (the API's route answers buffered)"}
            ]
        paths.setdefault(path, {})[method.lower()] = operation
    settings = get_settings()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tasks API",
            "version": settings.version,
            "description": "Per-user tasks. Errors are RFC 9457 problem documents.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Cognito (or Cognito-shaped) access or ID token",
                }
            },
        },
        "security": [{"bearer": []}],
    }


def document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    # Not the route that answers requests no other route serves (404/405): it serves no operation; nor what
    # only a local setup serves (the console's page and the local issuer's OAuth endpoints): no API of its.
    unserved = (UNROUTED_PATH, *LOCAL_ONLY_PATHS)
    keys = tuple(
        sorted((path, method) for path, methods in routes.items() if path not in unserved for method in methods)
    )
    return _document(keys, get_settings().assistant_stream_url)
