"""Fault injection for drills: API requests that fail on purpose, so an operator can watch the alarms fire
before an incident does it for them (docs/OPERATIONS.md, "Fault drill").

Built by the composition root (chalicelib/wiring.py) only when ``FAULT_RATE`` is above 0: at the default 0
nothing here is imported and the store is not wrapped. Each request on a chosen route (``FAULT_ROUTES``,
all when empty) draws once; a hit injects one fault of ``FAULT_KIND`` where a real one would arise, so it
travels the same path:

- ``exception``: an unhandled exception before the route's handler runs: a ``500`` problem with the
  request id, the one ERROR line marked unhandled (what the stack's error filters match), counted in
  ``UnhandledExceptions`` and ``Errors5xx``;
- ``store``: the request's store calls fail as an adapter's error it cannot translate does (an unhandled
  exception, as above); a route that never calls the store is not failed;
- ``throttle``: the request's store calls raise the adapters' throttling error (``StoreUnavailable``): a
  ``503 service_unavailable`` problem, counted in ``Errors5xx``;
- ``latency``: ``FAULT_LATENCY_MS`` added before the handler runs, counted in ``Latency``.

Each injected fault is also counted once in ``InjectedFaults`` (by ``Kind``), and an injected exception's
type names it (``InjectedFault``, ``InjectedStoreFailure``), so nobody mistakes a drill for an outage.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from chalicelib.errors import STORE_THROTTLED
from chalicelib.errors import StoreUnavailable
from chalicelib.observability import metrics
from chalicelib.protocol import context

EXCEPTION, STORE, LATENCY, THROTTLE = "exception", "store", "latency", "throttle"
# The kinds that fail the request's store calls (the store is wrapped only for these).
STORE_KINDS = (STORE, THROTTLE)


class InjectedFault(RuntimeError):
    """An unhandled exception injected on purpose (FAULT_KIND=exception)."""


class InjectedStoreFailure(RuntimeError):
    """A store failure injected on purpose (FAULT_KIND=store): raised as an adapter raises an error it cannot
    translate, so it is reported as unhandled."""


class InjectedThrottling(RuntimeError):
    """The cause an injected throttling error (FAULT_KIND=throttle) is raised from."""


class _Strike:
    """A store fault armed for one request (the request's state), counted once however many calls fail."""

    __slots__ = ("state", "counted")

    def __init__(self, state: context.RequestState) -> None:
        self.state = state
        self.counted = False


_armed: ContextVar[_Strike | None] = ContextVar("fault_armed", default=None)


class Faults:
    """The injector. ``draw`` returns a float in [0, 1) (tests pass a seeded ``random.Random().random``),
    ``sleep`` takes seconds (tests pass one that records)."""

    def __init__(
        self,
        rate: float,
        kind: str,
        *,
        routes: Sequence[str] = (),
        latency_ms: int = 0,
        draw: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.rate = rate
        self.kind = kind
        self.routes = frozenset(routes)
        self.latency_ms = latency_ms
        self._draw = random.random if draw is None else draw
        self._sleep = time.sleep if sleep is None else sleep

    @classmethod
    def from_settings(cls, settings: Any, **sources: Any) -> Faults | None:
        """The injector Settings ask for, or None at FAULT_RATE 0."""
        if settings.fault_rate <= 0:
            return None
        return cls(
            settings.fault_rate,
            settings.fault_kind,
            routes=settings.fault_routes,
            latency_ms=settings.fault_latency_ms,
            **sources,
        )

    def before_handler(self, method: str, route: str) -> None:
        """Called by the middleware once per request, after authentication and before the route's handler:
        draw, and inject this request's fault (raise, sleep, or arm the store)."""
        hit = (not self.routes or f"{method} {route}" in self.routes) and self._draw() < self.rate
        if not hit:
            _armed.set(None)
            return
        if self.kind in STORE_KINDS:
            _armed.set(_Strike(context.current()))
            return
        _armed.set(None)
        metrics.count_injected_fault(self.kind)
        if self.kind == LATENCY:
            self._sleep(self.latency_ms / 1000)
            return
        raise InjectedFault(f"injected fault (FAULT_KIND={self.kind}): a drill, not a bug")

    def store(self, store: Any) -> Any:
        """``store`` as the composition root hands it out: failing while a store fault is armed."""
        return FaultyStore(store, self.kind) if self.kind in STORE_KINDS else store


def _fail_if_armed(kind: str) -> None:
    strike = _armed.get()
    if strike is None or strike.state is not context.current():
        return  # not armed, or armed for another request (this one drew no fault)
    if not strike.counted:
        strike.counted = True
        metrics.count_injected_fault(kind)
    if kind == THROTTLE:
        raise StoreUnavailable(STORE_THROTTLED) from InjectedThrottling("injected fault (FAULT_KIND=throttle)")
    raise InjectedStoreFailure("injected fault (FAULT_KIND=store): a drill, not a bug")


class FaultyStore:
    """The store port over ``store``: each operation fails first while the request's store fault is armed.
    Whatever else the adapter offers (``close``, its table name) is passed through."""

    def __init__(self, store: Any, kind: str) -> None:
        self._store = store
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        _fail_if_armed(self._kind)
        return self._store.get(*args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        _fail_if_armed(self._kind)
        return self._store.query(*args, **kwargs)

    def put(self, *args: Any, **kwargs: Any) -> Any:
        _fail_if_armed(self._kind)
        return self._store.put(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        _fail_if_armed(self._kind)
        return self._store.update(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        _fail_if_armed(self._kind)
        return self._store.delete(*args, **kwargs)

    def transact(self, *args: Any, **kwargs: Any) -> Any:
        _fail_if_armed(self._kind)
        return self._store.transact(*args, **kwargs)

    def scan_partitions(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        _fail_if_armed(self._kind)
        return self._store.scan_partitions(*args, **kwargs)
