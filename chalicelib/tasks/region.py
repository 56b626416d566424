"""This region's switch: ``serving`` or ``failed``. GET /health reports it (503 when failed, so a DNS health check
moves traffic to another region) and the chat commands ``fail`` and ``restore`` flip it (docs/OPERATIONS.md).

The port (``RegionSwitch``) reads and writes the stored state; adapters: an SSM String parameter deployed
(chalicelib/operations/ssm.py), a file under DATA_DIR locally (chalicelib/operations/files.py). ``CachedSwitch``
keeps what was read for CACHE_SECONDS: warm, ``state()`` is one monotonic-clock compare, so /health stays as
cheap as before; a switch flipped on another instance is seen here within CACHE_SECONDS.

Standard library only (it loads on GET /health's cold path).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from chalicelib.errors import RegionSwitchUnavailable
from chalicelib.vocabulary import REGION_SERVING
from chalicelib.vocabulary import REGION_STATES

# How long a read of the switch is used before the next one (seconds). Route 53 checks every 30 s (10 s at
# the fast interval), so a failed region stops receiving traffic within about CACHE_SECONDS plus the checker's
# threshold; and a deployed /health costs one SSM GetParameter per CACHE_SECONDS per instance, at most.
CACHE_SECONDS = 10.0

log = logging.getLogger("tasks.region")


class RegionSwitch(Protocol):
    """Where this region's state is stored."""

    def read(self) -> str:
        """One of REGION_STATES; RegionSwitchUnavailable when it cannot be read."""
        ...

    def write(self, state: str) -> None:
        """Store ``state`` (one of REGION_STATES); RegionSwitchUnavailable when it cannot be written."""
        ...


def checked(value: str) -> str:
    """``value`` when it is a state; RegionSwitchUnavailable otherwise (a stored value someone mistyped)."""
    if value not in REGION_STATES:
        raise RegionSwitchUnavailable(f"the region switch holds {value[:40]!r}, not one of {', '.join(REGION_STATES)}")
    return value


class CachedSwitch:
    """The switch as this instance sees it: read at most once per ``ttl`` seconds of ``monotonic`` time.

    When a read fails the last state read stays in use (``serving`` before any), and the failure is logged:
    an SSM outage must not take a healthy region out of DNS, nor put a failed one back before it is read.
    """

    __slots__ = ("_switch", "_monotonic", "_ttl", "_state", "_until", "_lock")

    def __init__(
        self, switch: RegionSwitch, *, monotonic: Callable[[], float] = time.monotonic, ttl: float = CACHE_SECONDS
    ) -> None:
        self._switch = switch
        self._monotonic = monotonic
        self._ttl = ttl
        self._state = REGION_SERVING
        self._until = float("-inf")
        self._lock = threading.Lock()

    def state(self) -> str:
        """This region's state, as read at most ``ttl`` seconds ago."""
        if self._monotonic() < self._until:
            return self._state
        return self._refresh()

    def _refresh(self) -> str:
        with self._lock:  # one read per expiry, however many requests arrive at once
            now = self._monotonic()
            if now < self._until:
                return self._state
            try:
                self._state = checked(self._switch.read())
            except RegionSwitchUnavailable as exc:
                log.warning("region switch unreadable; keeping %s: %s", self._state, exc)
            self._until = now + self._ttl
            return self._state

    def read_now(self) -> str:
        """The stored state, read now (not the cache), which the cache then keeps."""
        with self._lock:
            self._state = checked(self._switch.read())
            self._until = self._monotonic() + self._ttl
            return self._state

    def set(self, state: str) -> None:
        """Store ``state``; this instance reports it at once, the others within ``ttl`` seconds."""
        checked(state)
        with self._lock:
            self._switch.write(state)
            self._state = state
            self._until = self._monotonic() + self._ttl
