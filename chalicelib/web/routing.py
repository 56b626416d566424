"""The answer to a request no route serves: ``404`` where no route has its path, ``405`` with ``Allow`` where
routes have the path but not its method. Both stacks send such requests to the API function (app.py's
greedy ``UNROUTED_PATH`` route and the root; the REST API's ANY method on every resource:
cloudformation/transforms/api.py, http_api.py), and so does the local gateway
(chalicelib/web/local_gateway.py); the answer is the API's problem document with the request id.

A path is matched as API Gateway matches a resource: segment by segment, a ``{name}`` segment standing for
any one non-empty segment, a literal segment preferred to a parameter (``/items/stats`` before
``/items/{item_id}``)."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from chalice.app import Request

from chalicelib.errors import AppError
from chalicelib.errors import MethodNotAllowed
from chalicelib.errors import NotFound
from chalicelib.vocabulary import UNROUTED_PATH

NOT_ROUTED_DETAIL = "No route serves this path"
_GREEDY_PARAMETER = UNROUTED_PATH.strip("/{+}")


def unrouted(request: Request, routes: Mapping[str, Mapping[str, Any]]) -> AppError:
    """The error that answers ``request``, which reached the app on no route of its own."""
    served = served_methods(requested_path(request), routes)
    if served is None:
        return NotFound(NOT_ROUTED_DETAIL)
    # Only a method the path's route lacks lands here. Should a served one (a gateway's routes out of step
    # with the route table), it reached no route there either: Allow does not offer it.
    allowed = [method for method in served if method != request.method]
    return MethodNotAllowed(f"Unsupported method: {request.method}", headers={"Allow": ", ".join(allowed)})


def requested_path(request: Request) -> str:
    """The path the client asked for. On the greedy route it is the greedy parameter (the gateways capture
    it without any stage or base path); otherwise (the root, a resource the app does not know) the event's
    path."""
    captured = (request.uri_params or {}).get(_GREEDY_PARAMETER)
    if request.path == UNROUTED_PATH and captured:
        return "/" + captured
    event = request.to_original_event()
    return event.get("path") or (request.context or {}).get("path") or "/"


def served_methods(path: str, routes: Mapping[str, Mapping[str, Any]]) -> Sequence[str] | None:
    """The methods of the route whose path matches ``path`` (None when none does), in declaration order."""
    segments = _segments(path)
    best: tuple[int, str] | None = None
    for route in routes:
        if route == UNROUTED_PATH:
            continue
        pattern = _segments(route)
        if len(pattern) != len(segments):
            continue
        if all((_is_parameter(p) and s) or p == s for p, s in zip(pattern, segments, strict=True)):
            parameters = sum(_is_parameter(p) for p in pattern)
            if best is None or parameters < best[0]:
                best = (parameters, route)
    return list(routes[best[1]]) if best is not None and routes[best[1]] else None


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("?", 1)[0].split("/") if segment]


def _is_parameter(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")
