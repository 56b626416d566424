"""The one place that turns errors into RFC 9457 problem responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from chalice.app import Response

from chalicelib.errors import AppError
from chalicelib.vocabulary import INTERNAL_ERROR_DETAIL, UNHANDLED
from chalicelib.web import context

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tasks.web")

F = TypeVar("F", bound=Callable[..., Any])


def render(error: AppError) -> Response:
    state = context.current()
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.title,
        "status": error.status,
        "code": error.code,
        "detail": error.detail,
        "request_id": state.request_id,
    }
    if error.errors:
        body["errors"] = error.errors
    headers: dict[str, str | list[str]] = {"Content-Type": PROBLEM_JSON, **error.headers}  # Response's type
    return Response(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")), status_code=error.status, headers=headers
    )


def internal_error() -> Response:
    # Never the exception's message or type: the log has the trace, the client only the request id.
    return render(AppError(INTERNAL_ERROR_DETAIL))


def log_unhandled(message: str = "unhandled exception") -> None:
    """Report the exception being handled: once, at ERROR, with its trace and the unhandled marker;
    the request's metrics count it. Call it from an ``except`` block, and log that exception nowhere else."""
    log.error(message, exc_info=True, extra=UNHANDLED)  # noqa: LOG014 - callers are except blocks
    context.current().unhandled = True


def endpoint(func: F) -> F:
    """Wrap a handler so domain errors become problems and anything else a logged 500.

    Chalice catches view exceptions before middleware sees them, so the mapping happens here.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AppError as error:
            if error.status >= 500 and error.code == "internal_error":
                log_unhandled("unhandled error")
            return render(error)
        except Exception:
            log_unhandled()
            return internal_error()

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]
