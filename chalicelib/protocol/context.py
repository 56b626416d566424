"""Per-request state (request id, caller, Lambda context) shared by the middleware and the handlers of
one request."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_current: ContextVar[RequestState] = ContextVar("request_state")


class RequestState:
    # A plain slotted class: this module is on every cold path, where `dataclasses` costs ~5 ms.
    __slots__ = ("request_id", "request", "caller", "lambda_context", "unhandled")

    def __init__(self, request_id: str, request: Any = None, *, lambda_context: Any = None) -> None:
        self.request_id = request_id
        # The request this state belongs to. Handlers read it here, not from Chalice's
        # app.current_request, which is one attribute shared by every thread of `chalice local`.
        self.request = request
        self.caller: Any = None  # chalicelib.auth.Caller once authenticated
        # The Lambda context of this invocation (Chalice keeps it on the Request, per request; its
        # app.lambda_context is one attribute shared by every thread of `chalice local`).
        self.lambda_context = lambda_context
        # Set when an unhandled exception was reported (logged once) while serving this request.
        self.unhandled = False


def begin(request_id: str, request: Any = None) -> RequestState:
    state = RequestState(request_id, request, lambda_context=getattr(request, "lambda_context", None))
    _current.set(state)
    return state


def current() -> RequestState:
    try:
        return _current.get()
    except LookupError:
        # A handler called outside the middleware (a direct unit call): still give it an id.
        return begin("-")


def request_id() -> str | None:
    """The id of the request being served on this thread, or None outside one (a queue worker, a test)."""
    state = _current.get(None)
    return state.request_id if state is not None and state.request_id != "-" else None
