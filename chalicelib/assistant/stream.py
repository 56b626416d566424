"""One assistant answer on its way out, for both entry points (the API function's ``POST /assistant/stream``,
chalicelib/web/assistant.py, and the streaming function, chalicelib/streaming/handler.py): the first event
decides the status, a later failure becomes one ``error`` event, tokens and throttles are counted and an
unhandled exception is logged once.

No HTTP here (and no chalice): each entry point answers a failure before the first event as a problem
and writes the events its own way.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

from chalicelib.assistant.base import DONE
from chalicelib.assistant.base import ERROR
from chalicelib.errors import AppError
from chalicelib.errors import ProviderThrottled
from chalicelib.observability import logs
from chalicelib.observability import metrics
from chalicelib.vocabulary import INTERNAL_ERROR_DETAIL

Event = tuple[str, dict[str, Any]]

log = logging.getLogger("tasks.assistant")


def open_answer(events: Iterable[Event], *, provider: str) -> Answer:
    """Pull the first event of ``events`` (AssistantService.stream). What that raises propagates, and the
    caller answers it as an ordinary problem (a throttle is counted first); otherwise the answer has begun
    (a 200) and the Answer yields its events, the first included. ``provider`` is the configured one,
    the dimension of a throttle counted before any event named the provider."""
    iterator = iter(events)
    try:
        first = next(iterator, None)
    except ProviderThrottled:
        metrics.count_throttle(provider)
        raise
    if first is None:
        raise RuntimeError("the assistant ended without an event")
    return Answer(iterator, first, provider)


class Answer:
    """An answer that has begun: iterate it once (a ``with`` block, or ``close()``, ends it early)."""

    def __init__(self, events: Iterator[Event], first: Event, provider: str) -> None:
        self._events = events
        self._configured = provider
        self._run = self._forward(first)
        self.provider: str | None = None  # as its ``done`` event names it
        self.error: str | None = None  # the code of the ``error`` event that ended it
        self.unhandled = False  # an unhandled exception was logged: the caller's metrics count it

    def __iter__(self) -> Iterator[Event]:
        return self._run

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop producing (at the end, after an error, or with the client gone): the provider's call is
        released now, not whenever the garbage collector gets to it."""
        self._run.close()
        close = getattr(self._events, "close", None)
        if close is None:
            return
        try:
            close()
        except Exception:
            log.warning("closing the assistant's event stream failed", exc_info=True)

    def _forward(self, first: Event) -> Generator[Event, None, None]:
        event: Event | None = first
        try:
            while event is not None:
                name, data = event
                if name == DONE:
                    self._done(data)
                yield event
                event = next(self._events, None)
        except AppError as error:
            if isinstance(error, ProviderThrottled):
                metrics.count_throttle(self._configured)
            elif error.reported_as_bug:
                self._log_unhandled()
            yield self._error(error)
        except Exception:
            self._log_unhandled()
            yield self._error(AppError(INTERNAL_ERROR_DETAIL))

    def _done(self, data: dict[str, Any]) -> None:
        provider = data.get("provider")
        if isinstance(provider, str) and provider:
            self.provider = provider
        metrics.count_usage(self.provider or "unknown", data["usage"])

    def _error(self, error: AppError) -> Event:
        self.error = error.code
        return ERROR, {"code": error.code, "detail": error.detail}

    def _log_unhandled(self) -> None:
        logs.log_unhandled(log, "unhandled exception while streaming the assistant's answer")
        self.unhandled = True
