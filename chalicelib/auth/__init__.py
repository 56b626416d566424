"""Who is calling: the one entry point (``authenticate``) that turns a request into a ``Caller`` (with the
sign-in session its token belongs to), and ``refused``, what the edge does with each ``Unauthorized``.

Cheap to import: PyJWT and cryptography load only when a token has to be verified here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

from chalicelib.errors import Unauthorized
from chalicelib.vocabulary import INVALID_CLAIMS
from chalicelib.vocabulary import MALFORMED_TOKEN
from chalicelib.vocabulary import MAX_SUB_LENGTH
from chalicelib.vocabulary import MISSING_TOKEN
from chalicelib.vocabulary import WRONG_CLIENT
from chalicelib.vocabulary import WRONG_ISSUER
from chalicelib.vocabulary import WRONG_TOKEN_USE
from chalicelib.vocabulary import valid_sub

if TYPE_CHECKING:
    from chalicelib.settings import Settings

__all__ = ["MAX_SUB_LENGTH", "Caller", "authenticate", "caller_from_claims", "refused", "valid_sub"]

log = logging.getLogger("tasks.auth")

# A sign-in session's id (Cognito's origin_jti, a UUID): visible ASCII, bounded, or not a session at all.
_SESSION = re.compile(r"[\x21-\x7e]{1,128}")
# auth_time in epoch seconds: within 2000-01-01 .. 2100-01-01, else not a time anyone signed in at. API
# Gateway's Cognito authorizer hands every claim over as a string ("1700000000"), a token has a number.
_SIGNED_IN_AT = re.compile(r"[0-9]{1,10}")
EARLIEST_SIGN_IN = 946_684_800
LATEST_SIGN_IN = 4_102_444_800


class Caller(NamedTuple):
    """Who is calling (immutable; a NamedTuple: cheaper to define than a dataclass on the cold path).

    ``session`` and ``signed_in_at`` are the sign-in the token belongs to (Cognito's ``origin_jti`` and
    ``auth_time``: the same on every ID and access token refreshed from that sign-in, new on the next one);
    None when the token carries none of the expected shape, which refuses nothing.
    """

    sub: str
    username: str
    email: str | None
    token_use: str
    client_id: str
    session: str | None = None  # the sign-in session (Cognito's origin_jti)
    signed_in_at: int | None = None  # when it signed in (auth_time)


def authenticate(headers: Mapping[str, str], request_context: Mapping[str, Any] | None, settings: Settings) -> Caller:
    """The caller of this request, or ``Unauthorized``.

    Deployed, API Gateway's authorizer (the REST API's Cognito authorizer, or the HTTP API's JWT
    authorizer) has already verified the token and hands its claims over in the request context; those
    are trusted only inside Lambda, because ``chalice local`` and the test client fill (or let a client
    forge) the same place without verifying anything.
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
        raise Unauthorized("missing bearer token", reason=MISSING_TOKEN)
    if len(values) > 1 or not isinstance(values[0], str):
        raise Unauthorized("malformed Authorization header", reason=MALFORMED_TOKEN)
    parts = values[0].strip().split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise Unauthorized("Authorization header must be 'Bearer <token>'", reason=MALFORMED_TOKEN)
    token = parts[1]
    if not token or any(ch.isspace() for ch in token):
        raise Unauthorized("Authorization header must be 'Bearer <token>'", reason=MALFORMED_TOKEN)
    return token


def caller_from_claims(claims: Mapping[str, Any], *, issuer: str, client_ids: tuple[str, ...] | list[str]) -> Caller:
    """Check the claims every accepted token shares (issuer, subject, use, client) and build the Caller.

    Signature and time checks are the verifier's (or API Gateway's) job; this part is shared so
    that both paths accept exactly the same token shapes.
    """
    if claims.get("iss") != issuer:
        raise Unauthorized("token issuer is not trusted", reason=WRONG_ISSUER)
    sub = claims.get("sub")
    if not valid_sub(sub):
        raise Unauthorized("token subject is missing or invalid", reason=INVALID_CLAIMS)
    token_use = claims.get("token_use")
    if token_use == "access":
        client_id = claims.get("client_id")
        username = claims.get("username")
    elif token_use == "id":
        client_id = claims.get("aud")
        username = claims.get("cognito:username")
    else:
        raise Unauthorized("token_use must be 'access' or 'id'", reason=WRONG_TOKEN_USE)
    if not isinstance(client_id, str) or client_id not in client_ids:
        raise Unauthorized("token was issued to another client", reason=WRONG_CLIENT)
    email = claims.get("email")
    return Caller(
        sub=sub,
        # Informative only: a token without a usable name still identifies its caller by sub.
        username=username if isinstance(username, str) and username else sub,
        email=email if isinstance(email, str) and email else None,
        token_use=token_use,
        client_id=client_id,
        session=session_of(claims.get("origin_jti")),
        signed_in_at=signed_in_at(claims.get("auth_time")),
    )


def session_of(value: Any) -> str | None:
    """The sign-in session of an ``origin_jti`` claim, or None when it is not one."""
    return value if isinstance(value, str) and _SESSION.fullmatch(value) else None


def signed_in_at(value: Any) -> int | None:
    """The epoch second of an ``auth_time`` claim (a number in a token, a decimal string from API Gateway),
    or None when it is not a plausible one."""
    if isinstance(value, str) and _SIGNED_IN_AT.fullmatch(value):
        value = int(value)
    # bool is an int in Python; a float is not a shape Cognito sends.
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if EARLIEST_SIGN_IN <= value < LATEST_SIGN_IN else None


def refused(error: Unauthorized) -> None:
    """What the edge does with each 401 it answers: count it by reason and log the reason. Nothing else:
    no token, no claim, no user (a refused request has none), so a failed sign-in is never tied to anyone."""
    from chalicelib.observability import metrics  # lazy: only a refused request needs it

    metrics.count_rejection(error.reason)
    log.info("token refused", extra={"reason": error.reason})


def _gateway_claims(request_context: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The verified token's claims where API Gateway puts them in a REST-shaped (payload 1.0) event:
    ``requestContext.authorizer.claims``, from either gateway.

    - REST API, Cognito user pool authorizer: ``authorizer.claims``, every value a string.
    - HTTP API, JWT authorizer, payload format 1.0 (the one Chalice routes): the same place, next to
      ``authorizer.scopes``, every value a string too (numbers in decimal: ``"auth_time": "1700000000"``).
      Payload 2.0 would nest them under ``authorizer.jwt.claims``, but Chalice routes no 2.0 event at
      all (chalicelib/web/middleware.py answers it as UnroutableEvent before anyone authenticates).

    Sources (AWS, API Gateway developer guide): "Create AWS Lambda proxy integrations for HTTP APIs in
    API Gateway", its 1.0 and 2.0 examples,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html;
    "Control access to HTTP APIs with JWT authorizers" (the claims reach the integration as
    ``$context.authorizer.claims``),
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html;
    a 1.0 event as delivered, numbers as decimal strings,
    https://github.com/awsdocs/amazon-api-gateway-developer-guide/issues/113.
    """
    if not isinstance(request_context, Mapping):
        return None
    authorizer = request_context.get("authorizer")
    if not isinstance(authorizer, Mapping):
        return None
    claims = authorizer.get("claims")
    return claims if isinstance(claims, Mapping) and claims else None
