"""CORS for the origins in CORS_ALLOW_ORIGINS: preflight answers and the headers of actual responses.

The app owns the allow-list (API Gateway's mock CORS can echo only one fixed origin), so preflights
reach the API function like any other request; nothing is sent for an origin not on the list.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping

# What a browser client of this API needs to read beyond the CORS-safelisted headers. What it may send
# (CORS_ALLOW_HEADERS) and how long a preflight answer holds (CORS_MAX_AGE) are settings.
EXPOSE_HEADERS = "ETag, Location, X-Request-Id, Idempotent-Replayed"


def _allowed(headers: Mapping[str, str], origins: tuple[str, ...]) -> str | None:
    origin = headers.get("origin")
    return origin if origin and origin in origins else None


def response_headers(headers: Mapping[str, str], origins: tuple[str, ...]) -> dict[str, str]:
    """Headers for an actual (non-preflight) response; ``Vary: Origin`` whenever CORS is on."""
    if not origins:
        return {}
    origin = _allowed(headers, origins)
    if origin is None:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSE_HEADERS, "Vary": "Origin"}


def preflight_headers(
    headers: Mapping[str, str],
    origins: tuple[str, ...],
    methods: Iterable[str],
    allow_headers: Iterable[str],
    max_age: int,
) -> dict[str, str]:
    """Headers for the answer to an OPTIONS preflight of a resource serving ``methods``."""
    origin = _allowed(headers, origins)
    if origin is None:
        return {"Vary": "Origin"} if origins else {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ", ".join(sorted(set(methods) | {"OPTIONS"})),
        "Access-Control-Allow-Headers": ", ".join(allow_headers),
        "Access-Control-Max-Age": str(max_age),
        "Vary": "Origin",
    }
