"""Time-sortable, URL-safe ids (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32).

Within one process ids are strictly increasing even inside the same millisecond, so "newer sorts
later" holds for a burst of creates; across processes same-millisecond ids order arbitrarily.
"""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 26
# Any id new_id() makes, and nothing it cannot: items and events are told apart from other strings by it.
ID_PATTERN = re.compile(f"[{_ALPHABET}]{{{ID_LENGTH}}}")
_lock = threading.Lock()
_last = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None, *, random: bytes | None = None) -> str:
    """A new id for ``now_ms`` (default: now). ``random`` (10 bytes) replaces the random part, for ids that
    follow from what they name (an event's: tasks/activity.event_id); such an id is returned as made."""
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    if random is not None:
        if len(random) != 10:
            raise ValueError("random must be 10 bytes")
        return _encode((ms << 80) | int.from_bytes(random, "big"), ID_LENGTH)
    candidate = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    with _lock:
        if candidate <= _last:
            candidate = _last + 1
        _last = candidate
    return _encode(candidate, ID_LENGTH)


def is_id(value: object) -> bool:
    """True for a string shaped like an id (whether or not anything has it)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None
