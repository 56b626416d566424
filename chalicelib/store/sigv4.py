"""AWS Signature Version 4 with the standard library alone (hmac, hashlib): what the lean DynamoDB transport
signs its requests with, so signing costs no botocore import. It signs as botocore's SigV4Auth does (the
tests hold it to that signer and to AWS's published test vectors): the same canonical request, string to sign,
derived key and Authorization header.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import UTC
from datetime import datetime
from typing import NamedTuple
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Headers a proxy or the HTTP client may change on the way: botocore's SIGNED_HEADERS_BLACKLIST.
UNSIGNED_HEADERS = frozenset(
    (
        "authorization",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    )
)


class Credentials(NamedTuple):
    """An access key, its secret and, for temporary credentials (Lambda's role), the session token.
    A NamedTuple, not a dataclass: importing ``dataclasses`` costs more than this whole module."""

    access_key: str
    secret_key: str
    token: str | None = None


class Signer:
    """Signs requests for one region and service; keeps the derived signing key of the current day."""

    def __init__(self, region: str, service: str) -> None:
        self.region = region
        self.service = service
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        credentials: Credentials,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """The headers to add to the request: ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary
        credentials) and ``Authorization``. ``headers`` are the others the request sends; ``host`` is the
        Host header's value (with the port, when it is not the scheme's default)."""
        timestamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        added = {"X-Amz-Date": timestamp}
        if credentials.token:
            added["X-Amz-Security-Token"] = credentials.token
        signed: dict[str, list[str]] = {}
        for name, value in [*headers.items(), *added.items()]:
            lower = name.lower()
            if lower not in UNSIGNED_HEADERS:
                signed.setdefault(lower, []).append(" ".join(value.split()))
        signed.setdefault("host", [host])
        names = sorted(signed)
        signed_headers = ";".join(names)
        canonical = "\n".join(
            (
                method.upper(),
                canonical_path(path),
                canonical_query(query),
                "".join(f"{name}:{','.join(signed[name])}\n" for name in names),
                signed_headers,
                hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
            )
        )
        scope = f"{timestamp[:8]}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key(credentials.secret_key, timestamp[:8]), to_sign.encode(), "sha256")
        added["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature.hexdigest()}"
        )
        return added

    def _key(self, secret: str, date: str) -> bytes:
        """The signing key for ``date``: four HMACs, derived once a day per secret (not once a request)."""
        cached = self._keys.get((secret, date))
        if cached is not None:
            return cached
        key = _hmac(f"AWS4{secret}".encode(), date)
        for part in (self.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        with self._lock:
            # Only the current day's keys are wanted: a new day or a rotated secret starts afresh.
            if len(self._keys) >= 4:
                self._keys.clear()
            self._keys[(secret, date)] = key
        return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), "sha256").digest()


def canonical_path(path: str) -> str:
    """The path as SigV4 signs it: dot segments and repeated slashes removed, then URI-encoded."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    normalized = "/".join(segments)
    if path.startswith("/"):
        normalized = "/" + normalized
    if path.endswith("/") and segments:
        normalized += "/"
    return quote(normalized or "/", safe="/~")


def canonical_query(query: list[tuple[str, str]]) -> str:
    """The query's parameters URI-encoded and sorted by name, then value."""
    pairs = sorted((quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in query)
    return "&".join(f"{name}={value}" for name, value in pairs)
