"""The one place that turns an error into an RFC 9457 problem document (status, headers, JSON body), and
reports an unhandled exception once. Each entry point sends the document its own way (chalicelib/web as
a Chalice response, chalicelib/streaming after its prelude)."""

from __future__ import annotations

import json
import logging
from typing import Any
from typing import NamedTuple

from chalicelib.errors import AppError
from chalicelib.protocol import context
from chalicelib.vocabulary import INTERNAL_ERROR_DETAIL
from chalicelib.vocabulary import UNHANDLED

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tasks.web")


class Problem(NamedTuple):
    status: int
    headers: dict[str, str]
    body: str  # JSON text


def document(error: AppError) -> Problem:
    """The problem for ``error``, under the request id of the request being served."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.title,
        "status": error.status,
        "code": error.code,
        "detail": error.detail,
        "request_id": context.current().request_id,
    }
    if error.errors:
        body["errors"] = error.errors
    return Problem(
        error.status,
        {"Content-Type": PROBLEM_JSON, **error.headers},
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    )


def internal_error() -> Problem:
    # Never the exception's message or type: the log has the trace, the client only the request id.
    return document(AppError(INTERNAL_ERROR_DETAIL))


def log_unhandled(message: str = "unhandled exception") -> None:
    """Report the exception being handled: once, at ERROR, with its trace and the unhandled marker;
    the request's metrics count it. Call it from an ``except`` block, and log that exception nowhere else."""
    log.error(message, exc_info=True, extra=UNHANDLED)  # noqa: LOG014 - callers are except blocks
    context.current().unhandled = True
