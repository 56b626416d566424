"""The HTTP middleware: request id, authentication before anything else (each refusal counted by reason),
problem responses for what Chalice itself answers (405, 415, its own 500) and for a resource it has no
route for (404/405, chalicelib/web/routing.py), observability (log fields, access log, metrics), and a
drill's injected faults (chalicelib/faults.py) between authentication and the handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from chalice.app import Request
from chalice.app import Response

from chalicelib import wiring
from chalicelib.errors import AppError
from chalicelib.errors import BadRequest
from chalicelib.errors import MethodNotAllowed
from chalicelib.errors import Unauthorized
from chalicelib.errors import UnsupportedMediaType
from chalicelib.protocol import context
from chalicelib.protocol import cors
from chalicelib.protocol import problems
from chalicelib.protocol import requests
from chalicelib.settings import get_settings
from chalicelib.web import responses

_CHALICE_ERRORS: dict[int, type[AppError]] = {405: MethodNotAllowed, 415: UnsupportedMediaType}


class UnroutableEvent(Exception):
    """An event Chalice built no request for: it routes only REST-shaped events (a REST API's, or an HTTP
    API's in payload format 1.0)."""


def handle(request: Request | None, get_response: Callable[[Request], Response], routes: Mapping[str, Any]) -> Response:
    """Serve one request. ``request`` is None for an event Chalice cannot route (an HTTP API payload 2.0
    event, say: a deployment wired to the wrong integration); it is answered as the bug it is."""
    state = context.begin(requests.request_id(request.headers if request is not None else {}), request)
    observed = _observe(state, request)
    try:
        response = _respond(request, get_response, routes, state, observed)
    except BaseException:
        # Past every handler here: Chalice's own last-resort handler logs it (marked unhandled).
        if observed is not None:
            observed.finish(500, unhandled=True)
        raise
    if observed is not None:
        observed.finish(
            response.status_code,
            unhandled=state.unhandled,
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )
    return response


def _respond(
    request: Request | None,
    get_response: Callable[[Request], Response],
    routes: Mapping[str, Any],
    state: context.RequestState,
    observed: Any,
) -> Response:
    try:
        if request is None:
            # Raised, not only logged, so that it is reported like any other unhandled error; handing the
            # event on would get Chalice's own 500, which nobody logs.
            raise UnroutableEvent(
                "the event has no requestContext.resourcePath: not an API Gateway REST API or HTTP API "
                "payload 1.0 event; check the integration that invokes this function"
            )
        if request.path not in routes:
            # A resource the app has no route for (the root, where both stacks send it): answered here, since
            # Chalice would answer it a 405 (and add the resource to its route table).
            from chalicelib.web import routing  # lazy: only a request no route serves needs it

            raise routing.unrouted(request, routes)
        if _needs_auth(request, routes):
            from chalicelib.auth import authenticate  # lazy: routes with the authorizer only, not GET /health

            state.caller = authenticate(request.headers, request.context, get_settings())
            if observed is not None:
                observed.identify(state.caller.sub)
        if get_settings().fault_rate:  # a fault drill (chalicelib/faults.py); 0 by default: one check, nothing else
            _inject_fault(request)
        response = get_response(request)
        response = _as_problem(response, state)
    except Unauthorized as error:
        from chalicelib.auth import refused  # lazy: already loaded, since only chalicelib/auth refuses a token

        refused(error)
        response = responses.problem(error)
    except AppError as error:
        response = responses.problem(error)
    except Exception:
        problems.log_unhandled()
        response = responses.internal_error()
    response.headers["X-Request-Id"] = state.request_id
    if request is not None and request.method != "OPTIONS":  # a preflight's answer carries its own CORS headers
        origins = _cors_origins()
        if origins:  # CORS off (no CORS_ALLOW_ORIGINS): no header to add
            response.headers.update(cors.response_headers(request.headers, origins))
    return response


def _inject_fault(request: Request) -> None:
    faults = wiring.services().faults
    if faults is not None:
        faults.before_handler(request.method, request.context.get("resourcePath", ""))


def _cors_origins() -> tuple[str, ...]:
    try:
        return get_settings().cors_allow_origins
    except Exception:
        return ()  # unusable configuration: already answered as a 500 problem, without CORS


_begin_api_request: Callable[..., Any] | None = None


def _observe(state: context.RequestState, request: Request | None) -> Any:
    try:
        settings = get_settings()
    except Exception:
        return None  # unusable configuration: the request's own handling reports it as a 500 problem
    if not settings.observability:
        return None
    global _begin_api_request
    if _begin_api_request is None:
        # lazy: loaded on the first request, not at `import app` (and never with OBSERVABILITY=off)
        from chalicelib.observability.invocation import begin_api_request

        _begin_api_request = begin_api_request
    return _begin_api_request(
        settings,
        request_id=state.request_id,
        request_context=request.context if request is not None else None,
        lambda_context=state.lambda_context,
    )


def _needs_auth(request: Request, routes: Mapping[str, Any]) -> bool:
    ctx = request.context or {}
    entry = routes.get(ctx.get("resourcePath", ""), {}).get(ctx.get("httpMethod", ""))
    return entry is not None and entry.authorizer is not None


def _as_problem(response: Response, state: context.RequestState) -> Response:
    """Chalice answers some requests itself with its own JSON shape; give them the problem shape."""
    if response.status_code < 400 or isinstance(response, responses.Verbatim):
        return response
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
    # A header's value may be a list (multi-value); Chalice's own answers give one Content-Type.
    if isinstance(content_type, str) and content_type.startswith(problems.PROBLEM_JSON):
        return response
    if response.status_code >= 500:
        # Chalice caught an exception itself and has logged it with its trace (chalicelib/observability
        # marks that line unhandled): count it, log nothing more.
        state.unhandled = True
        return responses.internal_error()
    error_class = _CHALICE_ERRORS.get(response.status_code)
    error = (error_class or BadRequest)(_chalice_message(response))
    rendered = responses.problem(error)
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
