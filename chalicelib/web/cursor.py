"""Opaque, tamper-evident page cursors: the last id of a page, MAC-bound to caller and filter.

An altered cursor, another caller's, or one made for another filter fails verification (400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from chalicelib.errors import InvalidCursor

_MAC_BYTES = 16
_MAX_LENGTH = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, scope: str, position: str) -> bytes:
    message = f"{scope}\n{position}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def encode(secret: bytes, scope: str, position: str) -> str:
    """``scope`` names whose list and which filter (e.g. ``sub|status``); ``position`` the last id."""
    return _b64(position.encode()) + "." + _b64(_mac(secret, scope, position))


def decode(secret: bytes, scope: str, cursor: str) -> str:
    if len(cursor) > _MAX_LENGTH or cursor.count(".") != 1:
        raise InvalidCursor("the cursor is malformed")
    payload, mac = cursor.split(".")
    try:
        position = _unb64(payload).decode("utf-8")
        given = _unb64(mac)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is malformed") from exc
    # base64 decoding skips stray characters; only the canonical spelling of a cursor is valid.
    if _b64(position.encode()) != payload or _b64(given) != mac:
        raise InvalidCursor("the cursor is malformed")
    if not hmac.compare_digest(given, _mac(secret, scope, position)):
        raise InvalidCursor("the cursor was altered or belongs to another list")
    return position
