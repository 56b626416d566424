"""Slack's request signing, as "Verifying requests from Slack" documents it: ``X-Slack-Signature`` is ``v0=`` and
the hex HMAC-SHA256, keyed with the app's signing secret, of ``v0:<X-Slack-Request-Timestamp>:<raw body>``; a
timestamp more than five minutes from now is refused (a replay), and so is any signature seen before
(chalicelib/web/chat.py). The comparison is constant-time. And the slash command's form body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs

from chalicelib.errors import SignatureRefused

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"
MAX_AGE_SECONDS = 5 * 60  # either side of now
MAX_TIMESTAMP_DIGITS = 12


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=<hex>``: what Slack sends for ``body`` at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> tuple[str, int]:
    """The request's signature and timestamp when it is Slack's, signed with ``secret`` within five minutes
    of ``now``; SignatureRefused otherwise (its detail says which check failed, never the expected value)."""
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    given = headers.get(SIGNATURE_HEADER) or ""
    if not timestamp or not given:
        raise SignatureRefused(f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise SignatureRefused(f"{TIMESTAMP_HEADER} is not a Unix time")
    sent = int(timestamp)
    if abs(now - sent) > MAX_AGE_SECONDS:
        raise SignatureRefused(f"{TIMESTAMP_HEADER} is more than five minutes from now")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise SignatureRefused(f"{SIGNATURE_HEADER} does not match")
    return given, sent


def form(body: bytes) -> dict[str, str]:
    """The slash command's ``application/x-www-form-urlencoded`` fields (the last value of a repeated name)."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in fields.items()}
