"""Who is calling: the one entry point (``authenticate``) that turns a request into a ``Caller``.

Cheap to import: PyJWT and cryptography load only when a token has to be verified here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

from chalicelib.errors import Unauthorized
from chalicelib.vocabulary import MAX_SUB_LENGTH
from chalicelib.vocabulary import valid_sub

if TYPE_CHECKING:
    from chalicelib.settings import Settings

__all__ = ["MAX_SUB_LENGTH", "Caller", "authenticate", "caller_from_claims", "valid_sub"]


class Caller(NamedTuple):
    """Who is calling (immutable; a NamedTuple: cheaper to define than a dataclass on the cold path)."""

    sub: str
    username: str
    email: str | None
    token_use: str
    client_id: str
    session: str | None = None  # the sign-in session (Cognito's origin_jti)
    signed_in_at: int | None = None  # when it signed in (auth_time)


def authenticate(headers: Mapping[str, str], request_context: Mapping[str, Any] | None, settings: Settings) -> Caller:
    """The caller of this request, or ``Unauthorized``.

    Deployed, API Gateway's Cognito authorizer has already verified the token and hands its claims
    over in the request context; those are trusted only inside Lambda, because ``chalice local``
    and the test client fill (or let a client forge) the same place without verifying anything.
    """
    if settings.in_lambda:
        claims = _gateway_claims(request_context)
        if claims:
            return caller_from_claims(claims, issuer=settings.auth_issuer, client_ids=settings.auth_client_ids)
    token = bearer_token(headers)
    # Imported here so that routes which need no verification (/health) never load PyJWT.
    from chalicelib.auth.verifier import get_verifier

    return get_verifier(settings).verify(token)


def bearer_token(headers: Mapping[str, str] | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (both names case-insensitive)."""
    values = [
        value for name, value in (headers or {}).items() if isinstance(name, str) and name.lower() == "authorization"
    ]
    if not values:
        raise Unauthorized("missing bearer token")
    if len(values) > 1 or not isinstance(values[0], str):
        raise Unauthorized("malformed Authorization header")
    parts = values[0].strip().split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    token = parts[1]
    if not token or any(ch.isspace() for ch in token):
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token


def caller_from_claims(claims: Mapping[str, Any], *, issuer: str, client_ids: tuple[str, ...] | list[str]) -> Caller:
    """Check the claims every accepted token shares (issuer, subject, use, client) and build the Caller.

    Signature and time checks are the verifier's (or API Gateway's) job; this part is shared so
    that both paths accept exactly the same token shapes.
    """
    if claims.get("iss") != issuer:
        raise Unauthorized("token issuer is not trusted")
    sub = claims.get("sub")
    if not valid_sub(sub):
        raise Unauthorized("token subject is missing or invalid")
    token_use = claims.get("token_use")
    if token_use == "access":
        client_id = claims.get("client_id")
        username = claims.get("username")
    elif token_use == "id":
        client_id = claims.get("aud")
        username = claims.get("cognito:username")
    else:
        raise Unauthorized("token_use must be 'access' or 'id'")
    if not isinstance(client_id, str) or client_id not in client_ids:
        raise Unauthorized("token was issued to another client")
    email = claims.get("email")
    return Caller(
        sub=sub,
        # Informative only: a token without a usable name still identifies its caller by sub.
        username=username if isinstance(username, str) and username else sub,
        email=email if isinstance(email, str) and email else None,
        token_use=token_use,
        client_id=client_id,
    )


def _gateway_claims(request_context: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not isinstance(request_context, Mapping):
        return None
    authorizer = request_context.get("authorizer")
    if not isinstance(authorizer, Mapping):
        return None
    claims = authorizer.get("claims")
    return claims if isinstance(claims, Mapping) and claims else None
