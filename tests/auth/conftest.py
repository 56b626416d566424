"""Fixtures for the verifier's suite: a local issuer on a temporary data dir (``auth_settings``), the
token fixtures of tests/conftest.py for it, a clock and a counting JWKS fetch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.auth.verifier import TokenVerifier
from chalicelib.settings import Settings
from tests.support.tokens import CountingFetch
from tests.support.tokens import FakeClock
from tests.support.tokens import encode_jws


@pytest.fixture(scope="session")
def auth_settings(tmp_path_factory) -> Settings:
    """Settings of a local setup on its own data dir (the local issuer, its default client id)."""
    return Settings.from_env({"DATA_DIR": str(tmp_path_factory.mktemp("auth") / ".data")})


@pytest.fixture
def forge_token() -> Callable[..., str]:
    """``forge_token(header, payload, sign=None)``: raw parts (dicts or bytes) to a compact JWS."""
    return encode_jws


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_verifier(auth_settings, issuer_key) -> Callable[..., TokenVerifier]:
    """``make_verifier(clock=None, fetch=None, **kwargs)``: a fresh verifier (empty key cache) for
    ``auth_settings``; ``fetch`` defaults to reading the issuer's JWKS file."""

    def make(*, clock: Callable[[], float] | None = None, fetch: Any = None, **kwargs: Any) -> TokenVerifier:
        options: dict[str, Any] = dict(kwargs)
        if clock is not None:
            options["clock"] = clock
        return TokenVerifier(
            auth_settings.auth_issuer,
            auth_settings.auth_client_ids,
            auth_settings.auth_jwks_url,
            fetch=fetch,
            **options,
        )

    return make


@pytest.fixture
def counting_fetch(issuer_key) -> CountingFetch:
    return CountingFetch(issuer_key.jwks)
