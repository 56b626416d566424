"""The outbox: which keys of the table are captured, i.e. whose changes become activity events (the
table's change stream deployed, the SQLite ``changes`` rows locally)."""

from __future__ import annotations

from chalicelib import keys

# A change is captured when its sort key starts with one of these prefixes or equals one of these keys.
CAPTURED_PREFIXES = (keys.ITEM_PREFIX,)
CAPTURED_KEYS = (keys.PROFILE_SK,)
