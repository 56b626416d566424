"""The HTTP middleware: request id, authentication before anything else, and problem responses for
what Chalice itself answers (405, 415, its own 500)."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Mapping

from chalice.app import Request, Response

from chalicelib.errors import AppError, BadRequest, MethodNotAllowed, UnsupportedMediaType
from chalicelib.settings import get_settings
from chalicelib.web import context, http, problems

log = logging.getLogger("tasks.web")

_CHALICE_ERRORS: dict[int, type[AppError]] = {405: MethodNotAllowed, 415: UnsupportedMediaType}


def handle(request: Request, get_response: Callable[[Request], Response], routes: Mapping[str, Any]) -> Response:
    state = context.begin(http.request_id(request.headers), request)
    try:
        if _needs_auth(request, routes):
            from chalicelib.auth import authenticate

            state.caller = authenticate(request.headers, request.context, get_settings())
        response = get_response(request)
        response = _as_problem(response)
    except AppError as error:
        response = problems.render(error)
    except Exception:
        log.exception("unhandled exception")
        response = problems.internal_error()
    response.headers["X-Request-Id"] = state.request_id
    return response


def _needs_auth(request: Request, routes: Mapping[str, Any]) -> bool:
    ctx = request.context or {}
    entry = routes.get(ctx.get("resourcePath", ""), {}).get(ctx.get("httpMethod", ""))
    return entry is not None and entry.authorizer is not None


def _as_problem(response: Response) -> Response:
    """Chalice answers some requests itself with its own JSON shape; give them the problem shape."""
    if response.status_code < 400:
        return response
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
    if content_type.startswith(problems.PROBLEM_JSON):
        return response
    if response.status_code >= 500:
        return problems.internal_error()
    error_class = _CHALICE_ERRORS.get(response.status_code)
    error = (error_class or BadRequest)(_chalice_message(response))
    rendered = problems.render(error)
    if "Allow" in response.headers:
        rendered.headers["Allow"] = response.headers["Allow"]
    return rendered


def _chalice_message(response: Response) -> str | None:
    body = response.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return body.get("Message") if isinstance(body, dict) else None
