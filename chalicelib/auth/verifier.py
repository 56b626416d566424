"""RS256 verification of Cognito-shaped JWTs against an issuer's JWKS, with a rate-limited key cache.

``TokenVerifier.verify`` either returns a ``Caller`` or raises ``Unauthorized``; nothing else escapes.
With a required scope (AUTH_REQUIRED_SCOPE) it also refuses an access token whose ``scope`` lacks it, and
every ID token (which carries no scope), as API Gateway's authorizers do when a route names scopes.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidJTIError
from jwt.exceptions import InvalidSubjectError
from jwt.types import Options

from chalicelib.auth import Caller
from chalicelib.auth import caller_from_claims
from chalicelib.errors import Unauthorized
from chalicelib.settings import ConfigError
from chalicelib.vocabulary import BAD_SIGNATURE
from chalicelib.vocabulary import EXPIRED
from chalicelib.vocabulary import INVALID_CLAIMS
from chalicelib.vocabulary import KEYS_UNAVAILABLE
from chalicelib.vocabulary import MALFORMED_TOKEN
from chalicelib.vocabulary import MISSING_SCOPE
from chalicelib.vocabulary import NOT_YET_VALID
from chalicelib.vocabulary import UNKNOWN_KEY
from chalicelib.vocabulary import WRONG_ALGORITHM
from chalicelib.vocabulary import WRONG_ISSUER
from chalicelib.vocabulary import RejectionReason

if TYPE_CHECKING:
    from chalicelib.settings import Settings

log = logging.getLogger("tasks.auth")

ALGORITHM = "RS256"
MAX_LEEWAY = 30
# An unknown kid may mean the issuer rotated its keys, so it triggers a refetch; but anyone can
# send unknown kids, so at most one fetch per window, whatever they send.
REFETCH_INTERVAL = 60.0
FETCH_TIMEOUT = 3.0
MAX_JWKS_BYTES = 1 << 20
# Cognito's tokens are 1-2 KB; anything far larger is not one, and is refused before any parsing.
MAX_TOKEN_LENGTH = 16 * 1024

Fetch = Callable[[str], Any]

_PYJWT_OPTIONS: Options = {
    "require": ["exp", "iat", "sub", "iss"],
    # Time checks are done here against the injectable clock; PyJWT would use the wall clock.
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    # aud is only meaningful for ID tokens and is checked by caller_from_claims.
    "verify_aud": False,
    "verify_iss": True,
    "verify_sub": True,
    "enforce_minimum_key_length": True,
}


class TokenVerifier:
    """One issuer's verifier; its key cache lives as long as the instance (see ``get_verifier``)."""

    def __init__(
        self,
        issuer: str,
        client_ids: tuple[str, ...] | list[str],
        jwks_url: str,
        *,
        leeway: float = MAX_LEEWAY,
        clock: Callable[[], float] = time.time,
        fetch: Fetch | None = None,
        required_scope: str | None = None,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigError(f"token leeway must be 0-{MAX_LEEWAY} seconds")
        if fetch is None:
            if not jwks_url.startswith(("file://", "http://", "https://")):
                raise ConfigError("AUTH_JWKS_URL must be a file://, http:// or https:// URL")
            fetch = fetch_jwks
        self.issuer = issuer
        self.client_ids = tuple(client_ids)
        self.jwks_url = jwks_url
        self.leeway = leeway
        self.required_scope = required_scope
        self._clock = clock
        self._fetch = fetch
        self._lock = threading.Lock()
        # Replaced wholesale on each successful fetch, so readers need no lock.
        self._keys: dict[str, Any] = {}
        self._last_attempt: float | None = None
        self._last_fetch_failed = False

    def verify(self, token: Any) -> Caller:
        try:
            return self._verify(token)
        except Unauthorized:
            raise
        except jwt.PyJWTError as error:
            detail, reason = _describe(error)
            raise Unauthorized(detail, reason=reason) from None
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError):
            raise Unauthorized("malformed token", reason=MALFORMED_TOKEN) from None
        except Exception as error:  # the contract: a verifier answers 401, never a 500
            log.warning("unexpected error while verifying a token: %s", type(error).__name__)
            raise Unauthorized("invalid token", reason=MALFORMED_TOKEN) from None

    def _verify(self, token: Any) -> Caller:
        if isinstance(token, (bytes, bytearray, memoryview)):
            token = bytes(token).decode("ascii")
        if not isinstance(token, str) or not token:
            raise Unauthorized("malformed token", reason=MALFORMED_TOKEN)
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthorized("token too large", reason=MALFORMED_TOKEN)
        if not token.isascii() or token.count(".") != 2:
            raise Unauthorized("malformed token", reason=MALFORMED_TOKEN)

        header = jwt.get_unverified_header(token)
        # Decided from the header alone, before any key is looked up: 'none', HS256 (including
        # HS256 keyed with our public key), RS512, PS256, ... never reach a key.
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("token algorithm must be RS256", reason=WRONG_ALGORITHM)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token has no key id", reason=UNKNOWN_KEY)
        key = self._key_for(kid)

        claims = jwt.decode(token, key=key, algorithms=[ALGORITHM], options=_PYJWT_OPTIONS, issuer=self.issuer)
        self._check_times(claims)
        caller = caller_from_claims(claims, issuer=self.issuer, client_ids=self.client_ids)
        if self.required_scope is not None and self.required_scope not in _scopes(claims):
            raise Unauthorized("token lacks the required scope", reason=MISSING_SCOPE)
        return caller

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        exp = _timestamp(claims, "exp")
        iat = _timestamp(claims, "iat")
        if exp is None:
            raise Unauthorized("token exp is invalid", reason=INVALID_CLAIMS)
        if iat is None:
            raise Unauthorized("token iat is invalid", reason=INVALID_CLAIMS)
        if now >= exp + self.leeway:
            raise Unauthorized("token expired", reason=EXPIRED)
        if iat > now + self.leeway:
            raise Unauthorized("token issued in the future", reason=NOT_YET_VALID)
        nbf = _timestamp(claims, "nbf")
        if "nbf" in claims and nbf is None:
            raise Unauthorized("token nbf is invalid", reason=INVALID_CLAIMS)
        if nbf is not None and nbf > now + self.leeway:
            raise Unauthorized("token not yet valid", reason=NOT_YET_VALID)

    # --- keys -----------------------------------------------------------------------------------

    def _key_for(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            # Another thread may have fetched while this one waited.
            key = self._keys.get(kid)
            if key is not None:
                return key
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < REFETCH_INTERVAL:
                if self._last_fetch_failed:
                    raise Unauthorized("signing keys unavailable", reason=KEYS_UNAVAILABLE)
                raise Unauthorized("unknown signing key", reason=UNKNOWN_KEY)
            self._last_attempt = now
            try:
                keys = _load_keys(self._fetch(self.jwks_url))
            except Exception as error:
                self._last_fetch_failed = True
                log.warning("could not fetch signing keys from %s: %s", self.jwks_url, type(error).__name__)
                raise Unauthorized("signing keys unavailable", reason=KEYS_UNAVAILABLE) from None
            self._keys = keys
            self._last_fetch_failed = False
        key = keys.get(kid)
        if key is None:
            raise Unauthorized("unknown signing key", reason=UNKNOWN_KEY)
        return key


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    """An access token's scopes: Cognito's ``scope`` claim is one space-separated string (RFC 6749 section
    3.3; cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html). An ID token
    has no ``scope``: none."""
    scope = claims.get("scope")
    return scope.split(" ") if isinstance(scope, str) and claims.get("token_use") == "access" else []


def _timestamp(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    # bool is an int in Python, and JSON's NaN/Infinity parse as floats: neither is a time.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _describe(error: jwt.PyJWTError) -> tuple[str, RejectionReason]:
    if isinstance(error, jwt.InvalidSignatureError):
        return "token signature is invalid", BAD_SIGNATURE
    if isinstance(error, jwt.InvalidIssuerError):
        return "token issuer is not trusted", WRONG_ISSUER
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"token lacks the {error.claim} claim", INVALID_CLAIMS
    if isinstance(error, (InvalidSubjectError, InvalidJTIError)):
        return "malformed token", INVALID_CLAIMS  # a sub or jti that is not a string
    if isinstance(error, jwt.InvalidKeyError):
        # The issuer published a key this verifier will not use (too short, say): ours to fix.
        return "signing key is unusable", KEYS_UNAVAILABLE
    return "malformed token", MALFORMED_TOKEN


def _load_keys(document: Any) -> dict[str, Any]:
    """Every usable RS256 public key of a JWKS, by kid; keys of other types are skipped."""
    if isinstance(document, (bytes, bytearray, str)):
        document = json.loads(document)
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, Any] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
            continue
        if jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = RSAAlgorithm.from_jwk(dict(jwk))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            log.warning("skipping an unusable key in the JWKS (kid %r)", kid[:64])
            continue
        # A JWKS should only publish public keys; if one carries private parts, use its public half.
        keys[kid] = key.public_key() if isinstance(key, RSAPrivateKey) else key
    return keys


def fetch_jwks(url: str) -> bytes:
    """The JWKS document at ``url`` (``file://`` or ``http(s)://``), as bytes."""
    if url.startswith("file://"):
        # Taken verbatim, not URL-decoded: Settings builds this URL from a plain filesystem path.
        path = url[len("file://") :]
        with open(path, "rb") as handle:
            return handle.read(MAX_JWKS_BYTES + 1)[:MAX_JWKS_BYTES]
    if not url.startswith(("http://", "https://")):
        raise ValueError("unsupported JWKS URL scheme")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
        return response.read(MAX_JWKS_BYTES)


def get_verifier(settings: Settings) -> TokenVerifier:
    """The process-wide verifier for these settings (its key cache lives as long as the process)."""
    local_dir = None
    if settings.auth_is_local:
        # The local issuer (key files, RSA key generation) loads only where this process verifies its tokens.
        from chalicelib.auth import local_issuer

        if settings.auth_jwks_url == local_issuer.jwks_url(settings.data_dir):
            local_dir = local_issuer.issuer_dir(settings.data_dir)
    return _verifier(
        settings.auth_issuer,
        tuple(settings.auth_client_ids),
        settings.auth_jwks_url,
        local_dir,
        settings.auth_required_scope,
    )


@lru_cache(maxsize=16)
def _verifier(
    issuer: str, client_ids: tuple[str, ...], jwks_url: str, local_dir: str | None, required_scope: str | None
) -> TokenVerifier:
    fetch: Fetch | None = None
    if local_dir is not None:
        from chalicelib.auth import local_issuer

        def fetch(url: str) -> bytes:
            # The app must work before anyone minted a token, so the first fetch makes the keys.
            local_issuer.ensure_keys(local_dir)
            return fetch_jwks(url)

    return TokenVerifier(issuer, client_ids, jwks_url, fetch=fetch, required_scope=required_scope)
