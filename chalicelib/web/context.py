"""Per-request state (request id, caller) shared by the middleware and the handlers of one request."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

_current: ContextVar["RequestState"] = ContextVar("request_state")


@dataclass(slots=True)
class RequestState:
    request_id: str
    # The request this state belongs to. Handlers read it here, not from Chalice's
    # app.current_request, which is one attribute shared by every thread of `chalice local`.
    request: Any = None
    caller: Any = None  # chalicelib.auth.Caller once authenticated


def begin(request_id: str, request: Any = None) -> RequestState:
    state = RequestState(request_id, request)
    _current.set(state)
    return state


def current() -> RequestState:
    try:
        return _current.get()
    except LookupError:
        # A handler called outside the middleware (a direct unit call): still give it an id.
        return begin("-")
