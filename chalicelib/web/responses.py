"""Chalice responses: JSON bodies, 204s and problem documents (chalicelib/protocol/problems.py), and the
wrapper that makes every handler answer an error as a problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

from chalice.app import Response

from chalicelib.errors import AppError
from chalicelib.protocol import problems

F = TypeVar("F", bound=Callable[..., Any])


# One encoder for every body (json.dumps with options builds a new one per call).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    # Typed as Response's own headers (a value may be a list: multi-value headers).
    all_headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **(headers or {})}
    return Response(body=_encode(body), status_code=status, headers=all_headers)


def no_content(headers: Mapping[str, str] | None = None) -> Response:
    return Response(body="", status_code=204, headers=dict(headers or {}))


def problem(error: AppError) -> Response:
    return _send(problems.document(error))


def internal_error() -> Response:
    return _send(problems.internal_error())


def _send(document: problems.Problem) -> Response:
    headers: dict[str, str | list[str]] = dict(document.headers)  # Response's type
    return Response(body=document.body, status_code=document.status, headers=headers)


def endpoint(func: F) -> F:
    """Wrap a handler so domain errors become problems and anything else a logged 500.

    Chalice catches view exceptions before middleware sees them, so the mapping happens here.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AppError as error:
            if error.reported_as_bug:
                problems.log_unhandled("unhandled error")
            return problem(error)
        except Exception:
            problems.log_unhandled()
            return internal_error()

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


class Verbatim(Response):
    """A response in the format its client expects, which the middleware sends as it is, whatever its status
    (chalicelib/web/middleware.py gives Chalice's own error answers the problem shape): the local issuer's
    OAuth errors (RFC 6749's JSON) and its sign-in page, the console's files."""
