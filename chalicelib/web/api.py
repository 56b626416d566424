"""Route handlers: parse the request, call a service, render the response. app.py's views call these.

What only some routes need (the schemas and msgspec, openapi, the cursor's hashlib, the items domain, the
assistant) is imported in those routes: GET /health's cold start loads none of it (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice.app import Request
from chalice.app import Response

from chalicelib import wiring
from chalicelib.errors import RegionFailed
from chalicelib.protocol import context
from chalicelib.protocol import cors
from chalicelib.protocol import requests
from chalicelib.settings import get_settings
from chalicelib.vocabulary import REGION_FAILED
from chalicelib.vocabulary import STATUSES
from chalicelib.web.responses import endpoint
from chalicelib.web.responses import json_response
from chalicelib.web.responses import no_content


def _caller() -> Any:
    return context.current().caller


def _request() -> Request:
    return context.current().request


def _schemas() -> Any:
    # msgspec and the schemas load on the first route that validates, not at import.
    from chalicelib.protocol import schemas

    return schemas


@endpoint
def health() -> Response:
    settings = get_settings()
    # This region's switch (tasks/region.py): warm, one clock compare; failed -> 503 region_failed, so a DNS
    # health check moves traffic to another region (docs/OPERATIONS.md "The region switch").
    if wiring.services().region_switch.state() == REGION_FAILED:
        raise RegionFailed(f"This region ({settings.aws_region or 'local'}) is failed over by the operators")
    return json_response({"status": "ok", "version": settings.version, "stage": settings.stage})


def slack_command() -> Response:
    # lazy: hmac, the form parser and the chat commands load with this route only
    from chalicelib.web import chat

    return chat.slack_command()


# --- the console and the local sign-in (docs/DESIGN.md "The console's sign-in"): local issuer only, else 404 --


def console_home() -> Response:
    from chalicelib.web import console  # lazy: the local console's routes only

    return console.home()


def console_file(name: str | None) -> Response:
    from chalicelib.web import console  # lazy: the local console's routes only

    return console.serve(name)


def oauth_authorize() -> Response:
    from chalicelib.web import oauth  # lazy: the local issuer's endpoints only (PyJWT, cryptography)

    return oauth.authorize()


def oauth_token() -> Response:
    from chalicelib.web import oauth  # lazy: as above

    return oauth.token()


def oauth_logout() -> Response:
    from chalicelib.web import oauth  # lazy: as above

    return oauth.logout()


@endpoint
def openapi_document(routes: Any) -> Response:
    # lazy: the document is built from the schemas (~6 ms); only this route pays for it
    from chalicelib.web.openapi import document

    return json_response(document(routes))


@endpoint
def preflight(routes: Any) -> Response:
    """The answer to a browser's CORS preflight for the requested resource (no token needed)."""
    request = _request()
    methods = set(routes.get(request.context.get("resourcePath", ""), {})) - {"OPTIONS"}
    settings = get_settings()
    headers = cors.preflight_headers(
        request.headers, settings.cors_allow_origins, methods, settings.cors_allow_headers, settings.cors_max_age
    )
    return no_content(headers)


@endpoint
def unrouted(routes: Any) -> Response:
    """A request no route serves: a 404 problem, or a 405 one where another method is served there."""
    from chalicelib.web import routing  # lazy: only a request no route serves needs it

    raise routing.unrouted(_request(), routes)


@endpoint
def get_me() -> Response:
    caller = _caller()
    profile = wiring.services().profiles.touch(
        caller.sub, caller.username, caller.email, session=caller.session, signed_in_at=caller.signed_in_at
    )
    return json_response(profile)


@endpoint
def patch_me() -> Response:
    request = _request()
    schemas = _schemas()
    changes = schemas.validate(schemas.ProfilePatch, requests.json_body(request.raw_body))
    caller = _caller()
    profile = wiring.services().profiles.touch(
        caller.sub,
        caller.username,
        caller.email,
        display_name=changes.display_name,
        session=caller.session,
        signed_in_at=caller.signed_in_at,
    )
    return json_response(profile)


def _list_scope(sub: str, status: str | None) -> str:
    return f"items|{sub}|{status or ''}"


@endpoint
def list_items() -> Response:
    # lazy: cursors load hmac and hashlib (OpenSSL, ~2.5 ms); GET /health never pays for them
    from chalicelib.web import cursor

    request = _request()
    params: Mapping[str, str] = request.query_params or {}  # Chalice's MultiDict: the last value of a name
    limit = requests.query_limit(params)
    status = requests.query_choice(params, "status", STATUSES)
    sub = _caller().sub
    secret = get_settings().cursor_secret
    given = params.get("cursor")
    after_id = cursor.decode(secret, _list_scope(sub, status), given) if given is not None else None
    items, next_after = wiring.services().items.list(sub, limit=limit, status=status, after_id=after_id)
    next_cursor = cursor.encode(secret, _list_scope(sub, status), next_after) if next_after else None
    return json_response({"items": items, "next_cursor": next_cursor})


@endpoint
def create_item() -> Response:
    request = _request()
    schemas = _schemas()
    key = requests.idempotency_key(request.headers)
    body = requests.json_body(request.raw_body)
    data = schemas.new_item(schemas.validate(schemas.ItemCreate, body))
    fingerprint = None
    if key is not None:
        # lazy: the items module loads with the first store route (chalicelib/wiring.py)
        from chalicelib.tasks.items import body_fingerprint

        fingerprint = body_fingerprint(body)
    created = wiring.services().items.create(_caller().sub, data, idempotency_key=key, fingerprint=fingerprint)
    item = created.item
    headers = {"Location": f"/items/{item['id']}", "ETag": requests.etag(item["version"])}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(item, status=201, headers=headers)


@endpoint
def get_item(item_id: str) -> Response:
    item = wiring.services().items.get(_caller().sub, item_id)
    return json_response(item, headers={"ETag": requests.etag(item["version"])})


@endpoint
def patch_item(item_id: str) -> Response:
    request = _request()
    schemas = _schemas()
    condition = requests.if_match(request.headers)
    body = schemas.validate(schemas.ItemPatch, requests.json_body(request.raw_body), require_any=True)
    changes = schemas.given_fields(body)
    item = wiring.services().items.patch(_caller().sub, item_id, changes, if_match=condition)
    return json_response(item, headers={"ETag": requests.etag(item["version"])})


@endpoint
def delete_item(item_id: str) -> Response:
    request = _request()
    condition = requests.if_match(request.headers)
    wiring.services().items.delete(_caller().sub, item_id, if_match=condition)
    return no_content()


@endpoint
def get_stats() -> Response:
    return json_response(wiring.services().feed.stats(_caller().sub))


def _activity_scope(sub: str) -> str:
    return f"activity|{sub}"


@endpoint
def list_activity() -> Response:
    # lazy: cursors load hmac and hashlib (OpenSSL, ~2.5 ms); GET /health never pays for them
    from chalicelib.web import cursor

    params: Mapping[str, str] = _request().query_params or {}
    limit = requests.query_limit(params)
    feed = wiring.services().feed  # 503 feature_disabled without the pipeline, before the cursor is judged
    sub = _caller().sub
    secret = get_settings().cursor_secret
    given = params.get("cursor")
    after = cursor.decode(secret, _activity_scope(sub), given) if given is not None else None
    events, next_after = feed.events(sub, limit=limit, after=after)
    next_cursor = cursor.encode(secret, _activity_scope(sub), next_after) if next_after else None
    return json_response({"events": events, "next_cursor": next_cursor})


def _prompt() -> str:
    return requests.assistant_prompt(_request().raw_body)


@endpoint
def ask_assistant() -> Response:
    from chalicelib.web import assistant

    return json_response(assistant.answer(_caller().sub, _prompt()))


@endpoint
def stream_assistant() -> Response:
    from chalicelib.web import assistant

    return assistant.buffered_stream(_caller().sub, _prompt())
