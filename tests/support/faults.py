"""Faults to pass in: the app's store with some operations raising what a test chooses (a bug below the
domain, an unreachable table), for the paths that handle errors nobody expected."""

from __future__ import annotations

from typing import Any


class FailingStore:
    """``store`` as it is, except that each operation named in ``operations`` raises ``error``."""

    def __init__(self, store: Any, error: BaseException, *operations: str) -> None:
        self._store = store
        self._error = error
        self._operations = frozenset(operations)

    def __getattr__(self, name: str) -> Any:
        if name not in self._operations:
            return getattr(self._store, name)

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise self._error

        return fail


def fail_store(env: Any, error: BaseException, *operations: str) -> None:
    """Install in ``env`` (the fixture) the app's current store with ``operations`` raising ``error``."""
    from chalicelib import wiring

    env.install(store=FailingStore(wiring.services().store, error, *operations))


class Crash(BaseException):
    """The process stopping between two writes (a BaseException: no handler in the code under test takes it)."""


def crash() -> None:
    raise Crash("stopped between two writes")


WRITES = frozenset(("put", "update", "delete", "transact"))


class InterruptedStore:
    """``store`` as it is, except that before its write call number ``before`` (1-based, failed conditional
    writes included) it calls ``interrupt``: ``crash`` to stop there, or another delivery to run in between."""

    def __init__(self, store: Any, before: int, interrupt: Any = crash) -> None:
        self._store = store
        self._before = before
        self._interrupt = interrupt
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            if self.writes == self._before:
                self._interrupt()
            return attribute(*args, **kwargs)

        return write
