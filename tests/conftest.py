"""Shared fixtures: an isolated environment per test (with fake AWS credentials), the app's services with
the replacements a test installs, the app's test client, real local tokens, and the app parametrized
over both store adapters (SQLite file; DynamoDB Local). Helpers live in tests/support/."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from collections.abc import Iterator

import pytest

from tests.support.api import Api
from tests.support.environment import Environment
from tests.support.environment import use_dynamodb
from tests.support.environment import use_fake_aws


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    from tests.support.dynamodb_local import running_dynamodb_local

    with running_dynamodb_local() as endpoint:
        yield endpoint


@pytest.fixture
def fake_aws(monkeypatch, tmp_path) -> None:
    """Fake AWS credentials and no machine AWS configuration (``env`` includes this)."""
    use_fake_aws(monkeypatch, tmp_path)


@pytest.fixture
def env(tmp_path, monkeypatch) -> Iterator[Environment]:
    """Start from a clean environment on a temporary data dir; call it to set more variables, and
    ``env.install(queue=..., provider=..., ...)`` to hand the app replacements (tests/support/environment.py)."""
    environment = Environment(monkeypatch, tmp_path)
    yield environment
    environment.close()


@pytest.fixture(params=["sqlite", "dynamodb"])
def adapter(request, env) -> str:
    """Runs the test once on each store adapter, through the whole app."""
    if request.param == "dynamodb":
        use_dynamodb(env, request.getfixturevalue("dynamodb_endpoint"))
    return request.param


@pytest.fixture(params=["eventual", "strong"])
def table_consistency(request, env) -> str:
    """Runs the test once with the store's transactions (``eventual``) and once without them (``strong``: a
    table in multi-Region strong consistency), whose use-cases write one record at a time."""
    env(TABLE_CONSISTENCY=request.param)
    return request.param


@pytest.fixture
def recording_queue(env):
    """The activity queue replaced by one that records and never delivers (see tests/support/queues.py)."""
    from tests.support.queues import RecordingQueue

    queue = RecordingQueue()
    env.install(queue=queue)
    return queue


@pytest.fixture
def client(env):
    from chalice.test import Client

    from app import app
    from chalicelib.web.local_gateway import serve_unrouted_paths

    # As app.py does where chalice.local is loaded first (`chalice local`); here app.py may have been
    # imported before Chalice's test client loaded it.
    serve_unrouted_paths()
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def token_for(env) -> Callable[..., str]:
    """Mint a real RS256 token from the local development issuer."""
    from chalicelib.auth.local_issuer import mint
    from tests.support.issuer_key import seed_issuer_key

    seed_issuer_key(os.environ["DATA_DIR"])  # one key pair for the run: making one per test was most of its time

    def make(username: str = "alice", **claims) -> str:
        return mint(username, **claims)

    return make


# --- tokens of any shape for ``auth_settings`` (tests/auth/conftest.py: its own; tests/app/test_auth_http.py:
# the app's), signed by its issuer's key or by another (tests/support/tokens.py) -------------------------


@pytest.fixture
def issuer_key(auth_settings):
    """The local issuer's key pair for ``auth_settings`` (made on first use)."""
    from chalicelib.auth.local_issuer import ensure_keys
    from chalicelib.auth.local_issuer import issuer_dir

    return ensure_keys(issuer_dir(auth_settings.data_dir))


@pytest.fixture(scope="session")
def other_key():
    """An RSA key the issuer never published: signatures made with it must never verify."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def make_token(auth_settings, issuer_key) -> Callable[..., str]:
    """``make_token(username="alice", *, alg="RS256", kid=<issuer kid>, key=<issuer key>, header=None,
    payload=None, **claims)``: see ``forge`` in tests/support/tokens.py."""
    from tests.support.tokens import forge

    return functools.partial(forge, auth_settings, issuer_key)


@pytest.fixture
def auth(token_for) -> Callable[..., dict[str, str]]:
    def headers(username: str = "alice", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(username)}", **extra}

    return headers


@pytest.fixture
def api(client, token_for) -> Api:
    """The JSON-speaking test client (tests/support/api.py), calling as alice unless told otherwise."""
    return Api(client, token_for)
