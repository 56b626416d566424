"""The local development issuer: a Cognito-shaped RS256 token minter whose key pair lives in the data dir.

``python -m chalicelib.auth.local_issuer alice`` prints an access token for user ``alice``. Like Cognito, each
token names its sign-in (``origin_jti``, ``auth_time``): every mint is a new sign-in unless it is given one
(``session=``, or ``--refresh <token>``, which is what Cognito's refresh does: new tokens, the same sign-in).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from typing import NamedTuple

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chalicelib.settings import LOCAL_ISSUER
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from chalicelib.settings import get_settings

__all__ = [
    "OMIT",
    "LocalIssuerDisabled",
    "LocalKey",
    "SignIn",
    "build_claims",
    "ensure_keys",
    "issuer_dir",
    "jwks_url",
    "main",
    "mint",
    "sign_in",
    "sign_in_of",
    "sub_for",
    "thumbprint",
]

PRIVATE_KEY_FILE = "private_key.pem"
JWKS_FILE = "jwks.json"
KEY_SIZE = 2048
ACCESS_SCOPE = "aws.cognito.signin.user.admin"
# The same user name always maps to the same sub, so a re-minted token finds the same data.
_SUB_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, LOCAL_ISSUER)


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


# Pass as a claim value (mint("bob", sub=OMIT, exp=OMIT)) to leave that claim out of the token.
OMIT: Any = _Omit()


class LocalIssuerDisabled(RuntimeError):
    """AUTH_ISSUER names a real issuer; local tokens would never verify there."""


@dataclass(frozen=True)
class LocalKey:
    private_key: rsa.RSAPrivateKey
    kid: str
    jwks: dict[str, Any]


def issuer_dir(data_dir: str) -> str:
    return os.path.abspath(os.path.join(data_dir, "issuer"))


def jwks_url(data_dir: str) -> str:
    """The default AUTH_JWKS_URL of a local setup (the same string Settings derives)."""
    return "file://" + os.path.join(issuer_dir(data_dir), JWKS_FILE)


def sub_for(username: str) -> str:
    return str(uuid.uuid5(_SUB_NAMESPACE, username))


# --- the key pair ---------------------------------------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], LocalKey]] = {}


def ensure_keys(directory: str) -> LocalKey:
    """The issuer's key pair in ``directory``, created (once, whoever races) if it is missing."""
    directory = os.path.abspath(directory)
    with _lock:
        key = _cached(directory)
        if key is None:
            private_key = _load_or_create_private_key(directory)
            key = _local_key(private_key)
            stamp = _stamp(os.path.join(directory, PRIVATE_KEY_FILE))
            if stamp is not None:
                _cache[directory] = (stamp, key)
        _write_jwks(directory, key.jwks)
        return key


def _cached(directory: str) -> LocalKey | None:
    entry = _cache.get(directory)
    # The files may have been deleted and recreated by another process since they were read.
    if entry is None or entry[0] != _stamp(os.path.join(directory, PRIVATE_KEY_FILE)):
        return None
    return entry[1]


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def _load_or_create_private_key(directory: str) -> rsa.RSAPrivateKey:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, PRIVATE_KEY_FILE)
    for _ in range(25):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            _create_private_key(path)
            continue
        try:
            key = _parse_private_key(data)
        except ValueError:
            # Only the no-hard-link fallback below can expose a half-written file; wait for it.
            time.sleep(0.02)
            continue
        if not isinstance(key, rsa.RSAPrivateKey):
            break
        return key
    raise RuntimeError(f"{path} is not a usable RSA private key; delete {directory} to make a new one")


@functools.lru_cache(maxsize=4)
def _parse_private_key(data: bytes) -> Any:
    # Parsing checks the key (tens of ms); the same bytes are the same key, in each new data dir of a test run too.
    return serialization.load_pem_private_key(data, password=None)


def _create_private_key(path: str) -> None:
    """Publish a new private key at ``path`` unless one appeared first (then that one wins)."""
    pem = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    directory = os.path.dirname(path)
    # mkstemp creates the file with mode 0600, so the key is never readable by others.
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".private_key.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # A hard link publishes the complete file atomically and fails if the name exists, so two
        # processes racing on first use end with the same single key (os.replace would let the
        # second overwrite the key the first already signed tokens with).
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        except OSError:
            _create_exclusive(path, pem)
    finally:
        os.unlink(temp)


def _create_exclusive(path: str, pem: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _local_key(private_key: rsa.RSAPrivateKey) -> LocalKey:
    public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    kid = thumbprint(public)
    jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": public["n"], "e": public["e"]}
    return LocalKey(private_key=private_key, kid=kid, jwks={"keys": [jwk]})


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an RSA JWK: stable for the key, distinct for any other."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _write_jwks(directory: str, jwks: dict[str, Any]) -> None:
    path = os.path.join(directory, JWKS_FILE)
    content = (json.dumps(jwks, indent=2, sort_keys=True) + "\n").encode()
    try:
        with open(path, "rb") as handle:
            if handle.read() == content:
                return
    except FileNotFoundError:
        pass
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".jwks.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temp, 0o644)
        # Racers derive the same content from the same private key, so the last replace is harmless.
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


# --- tokens ---------------------------------------------------------------------------------------


class SignIn(NamedTuple):
    """One sign-in: what every token refreshed from it repeats (Cognito's ``origin_jti`` and ``auth_time``)."""

    origin_jti: str
    auth_time: int


def sign_in(now: int | None = None) -> SignIn:
    """A new sign-in, at ``now`` (epoch seconds; default the current time)."""
    return SignIn(str(uuid.uuid4()), int(time.time()) if now is None else now)


def sign_in_of(token: str, *, settings: Settings | None = None) -> SignIn:
    """The sign-in of a token this issuer signed (checked; expired is fine, as a refresh token outlives it)."""
    settings = settings or get_settings()
    key = ensure_keys(issuer_dir(settings.data_dir))
    claims = jwt.decode(
        token,
        key.private_key.public_key(),
        algorithms=["RS256"],
        issuer=settings.auth_issuer,
        options={"verify_exp": False, "verify_aud": False, "require": ["origin_jti", "auth_time"]},
    )
    origin_jti, auth_time = claims["origin_jti"], claims["auth_time"]
    if not isinstance(origin_jti, str) or isinstance(auth_time, bool) or not isinstance(auth_time, int):
        raise ValueError("the token names no sign-in this issuer made")
    return SignIn(origin_jti, auth_time)


def build_claims(
    username: str,
    /,
    *,
    settings: Settings,
    token_use: str = "access",
    ttl: int = 3600,
    sub: str | None = None,
    email: str | None = None,
    now: int | None = None,
    session: SignIn | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Cognito-shaped claims of a token issued at ``now`` from ``session`` (default: a new sign-in at ``now``);
    ``overrides`` replace or add claims, ``OMIT`` removes one."""
    if not isinstance(username, str) or not username:
        raise ValueError("username must be a non-empty string")
    now = int(time.time()) if now is None else now
    session = sign_in(now) if session is None else session
    claims: dict[str, Any] = {
        "sub": sub_for(username) if sub is None else sub,
        "iss": settings.auth_issuer,
    }
    if token_use == "id":
        claims.update(
            {
                "aud": settings.auth_client_ids[0],
                "token_use": "id",
                "auth_time": session.auth_time,
                "exp": now + ttl,
                "iat": now,
                "jti": str(uuid.uuid4()),
                "origin_jti": session.origin_jti,
                "cognito:username": username,
                "email": f"{username}@example.com" if email is None else email,
            }
        )
    else:
        # Anything but "id" gets the access-token shape, so tests can mint token_use="refresh".
        claims.update(
            {
                "client_id": settings.auth_client_ids[0],
                "token_use": token_use,
                "scope": ACCESS_SCOPE,
                "auth_time": session.auth_time,
                "exp": now + ttl,
                "iat": now,
                "jti": str(uuid.uuid4()),
                "origin_jti": session.origin_jti,
                "username": username,
            }
        )
        if email is not None:
            claims["email"] = email
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not OMIT}


def mint(
    username: str,
    /,
    *,
    settings: Settings | None = None,
    token_use: str = "access",
    ttl: int = 3600,
    sub: str | None = None,
    email: str | None = None,
    now: int | None = None,
    session: SignIn | None = None,
    **overrides: Any,
) -> str:
    """A token for ``username`` signed by the local issuer (the key pair is made on first use), from
    ``session`` (default: a new sign-in)."""
    settings = settings or get_settings()
    if not settings.auth_is_local:
        raise LocalIssuerDisabled("AUTH_ISSUER is set, so the local development issuer is not trusted")
    key = ensure_keys(issuer_dir(settings.data_dir))
    claims = build_claims(
        username,
        settings=settings,
        token_use=token_use,
        ttl=ttl,
        sub=sub,
        email=email,
        now=now,
        session=session,
        **overrides,
    )
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


# --- the command line -----------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.auth.local_issuer",
        description="Print a token from the local development issuer (only when AUTH_ISSUER is unset).",
    )
    parser.add_argument("username", help="any user name; the same name always maps to the same sub")
    parser.add_argument("--id", action="store_true", help="mint an ID token instead of an access token")
    parser.add_argument("--ttl", type=_positive_int, default=3600, help="lifetime in seconds (default 3600)")
    parser.add_argument(
        "--refresh",
        metavar="TOKEN",
        help="a token of this issuer: mint from its sign-in (as Cognito's refresh does) instead of a new one",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"error: {error} (the local development issuer needs AUTH_ISSUER unset)", file=sys.stderr)
        return 2
    if not settings.auth_is_local:
        print(
            f"error: AUTH_ISSUER is set ({settings.auth_issuer}); the app does not trust the local "
            "issuer, so its tokens would be rejected. Unset AUTH_ISSUER to use it.",
            file=sys.stderr,
        )
        return 2
    try:
        session = sign_in_of(args.refresh, settings=settings) if args.refresh else None
    except (jwt.PyJWTError, ValueError):
        # Never the token itself in the message.
        print("error: --refresh takes a token of this issuer that names a sign-in", file=sys.stderr)
        return 2
    try:
        token = mint(
            args.username, settings=settings, token_use="id" if args.id else "access", ttl=args.ttl, session=session
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
