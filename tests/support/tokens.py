"""Token helpers: compact JWS from raw parts (attack tokens included), tokens of any shape signed as the
local issuer would or wouldn't, a JWKS fetch that counts, and a clock that moves when told (the
``make_token`` fixture of tests/conftest.py calls ``forge``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import get_default_algorithms

from chalicelib.auth.local_issuer import OMIT
from chalicelib.auth.local_issuer import LocalKey
from chalicelib.auth.local_issuer import build_claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_jws(
    header: dict[str, Any] | bytes,
    payload: dict[str, Any] | bytes,
    sign: Callable[[bytes], bytes] | bytes | None = None,
) -> str:
    """A compact JWS from raw parts; unlike ``jwt.encode`` it refuses nothing (attack tokens)."""
    raw_header = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    raw_payload = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    signing_input = f"{b64url(raw_header)}.{b64url(raw_payload)}".encode()
    signature = sign(signing_input) if callable(sign) else sign or b""
    return f"{signing_input.decode()}.{b64url(signature)}"


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class CountingFetch:
    """A JWKS fetch that counts its calls (and can be told to fail)."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self, url: str) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.document


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def forge(
    auth_settings: Any,
    issuer_key: LocalKey,
    username: str = "alice",
    /,
    *,
    alg: str = "RS256",
    kid: Any = None,
    key: Any = None,
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | bytes | None = None,
    **claims: Any,
) -> str:
    """A token for ``username`` as the issuer of ``auth_settings`` (key pair ``issuer_key``) would sign it,
    or any variation of it.

    Claims are Cognito-shaped (``build_claims``: ``token_use=``, ``ttl=``, ``sub=``, ``email=``,
    ``now=``, any claim by name, ``OMIT`` to drop one; ``payload=`` replaces them wholesale).
    ``kid=OMIT`` drops the kid; ``header=`` adds or overrides header fields. ``key`` is an RSA private
    key for RS*/PS*, the HMAC secret for HS* (default: the issuer's public key PEM, the classic
    algorithm-confusion attack), ignored for ``none``.
    """
    body = payload if payload is not None else build_claims(username, settings=auth_settings, **claims)
    jose = {"alg": alg, "typ": "JWT", "kid": issuer_key.kid if kid is None else kid, **(header or {})}
    jose = {name: value for name, value in jose.items() if value is not OMIT}
    if isinstance(alg, str) and alg.lower() == "none":
        return encode_jws(jose, body)
    if alg.startswith("HS"):
        secret = public_pem(issuer_key.private_key) if key is None else key
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return encode_jws(jose, body, lambda data: hmac.new(secret, data, digest).digest())
    algorithm = get_default_algorithms()[alg]
    signer = issuer_key.private_key if key is None else key
    return encode_jws(jose, body, lambda data: algorithm.sign(data, signer))
