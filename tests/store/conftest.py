"""Fixtures for the store contract suite: a ``store`` on each adapter and a fresh partition per test.

The DynamoDB adapter shares one table for the session (creating a table costs more than the test),
so tests isolate themselves by partition: every key they write derives from the ``pk`` fixture.
``dynamodb_endpoint`` (the session's DynamoDB Local) and ``fake_aws`` (the credentials the adapter reads
through the default chain) come from tests/conftest.py.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.aws import FAKE_AWS
from tests.support.dynamodb_local import unique_table_name


@pytest.fixture(scope="session")
def shared_dynamodb_store(dynamodb_endpoint):
    from chalicelib.store.dynamodb import DynamoDBStore

    store = DynamoDBStore(unique_table_name(), endpoint_url=dynamodb_endpoint)
    # The client resolves credentials once, when it is built, so the variables need not outlive this.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS.items():
            patch.setenv(name, value)
        store.ensure_schema()
    yield store
    store.client.close()


@pytest.fixture(scope="session")
def shared_lean_dynamodb_store(shared_dynamodb_store):
    """The same table through the lean transport (chalicelib/store/dynamodb_http.py)."""
    from chalicelib.store.dynamodb import DynamoDBStore

    store = DynamoDBStore(
        shared_dynamodb_store.table_name, endpoint_url=shared_dynamodb_store.endpoint_url, transport="lean"
    )
    with pytest.MonkeyPatch.context() as patch:  # read once, when the client is built, as Lambda's are
        for name, value in FAKE_AWS.items():
            patch.setenv(name, value)
        store.requests  # noqa: B018 - builds the client
    yield store
    store.requests.close()


@pytest.fixture
def sqlite_store(tmp_path):
    from chalicelib.store.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "data" / "store.db"))
    yield store
    store.close()


@pytest.fixture
def dynamodb_store(shared_dynamodb_store):
    return shared_dynamodb_store


@pytest.fixture
def lean_dynamodb_store(shared_lean_dynamodb_store):
    return shared_lean_dynamodb_store


@pytest.fixture(params=["sqlite", "dynamodb", "lean_dynamodb"])
def store(request):
    """The same contract, once per adapter (DynamoDB's on each of its transports)."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def pk() -> str:
    """A partition no other test touches."""
    return f"USER#{uuid.uuid4().hex}"
