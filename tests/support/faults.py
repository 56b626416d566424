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
