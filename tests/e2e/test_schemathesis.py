"""Schema-driven fuzzing: schemathesis generates requests for every operation of our own
openapi.json and sends them to a real `chalice local`; no response is a 5xx, and every status,
content type and body conforms to what the document says."""

from __future__ import annotations

import json
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.test_chalice_local import LocalServer
from tests.e2e.test_chalice_local import mint_with_cli

# Every check runs except "schema-valid data is accepted": a schema cannot say that a cursor must be
# one the server issued, or that an Idempotency-Key reused with another body is a 422, so that check
# would call correct answers failures. A 5xx, an undocumented status or content type, or a body that
# does not match its documented schema all fail.

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory):
    with LocalServer.running(tmp_path_factory.mktemp("fuzz") / ".data") as local:
        yield local


@pytest.fixture(scope="module")
def bearer(fuzzed_server) -> str:
    return mint_with_cli("fuzzer", fuzzed_server.data_dir)


@pytest.fixture(scope="module")
def operations(fuzzed_server) -> dict[str, schemathesis.APIOperation]:
    # The document the server itself serves (from_url would leave out its own /openapi.json).
    with urllib.request.urlopen(f"{fuzzed_server.url}/openapi.json", timeout=10) as response:
        schema = schemathesis.openapi.from_dict(json.load(response))
    found = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        found[operation.label] = operation
    return found


# Every operation app.py declares (the openapi tests check the document lists exactly these).
LABELS = [
    "GET /health",
    "GET /openapi.json",
    "OPTIONS /me",
    "GET /me",
    "PATCH /me",
    "OPTIONS /items",
    "GET /items",
    "POST /items",
    "OPTIONS /items/{item_id}",
    "GET /items/{item_id}",
    "PATCH /items/{item_id}",
    "DELETE /items/{item_id}",
    "OPTIONS /stats",
    "GET /stats",
    "OPTIONS /activity",
    "GET /activity",
    "OPTIONS /assistant",
    "POST /assistant",
    "OPTIONS /assistant/stream",
    "POST /assistant/stream",
    "POST /chat/slack",  # no signing secret in chalice local: every request a 401
]


@pytest.mark.parametrize("label", LABELS)
def test_every_operation_conforms_to_openapi_and_never_answers_5xx(fuzzed_server, operations, bearer, label):
    # The plugin's pytest integration predates pytest 9, so hypothesis drives the strategy directly.
    assert set(operations) == set(LABELS), sorted(operations)
    headers = {"Authorization": f"Bearer {bearer}"}

    @given(case=operations[label].as_strategy())
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(base_url=fuzzed_server.url, headers=headers, excluded_checks=[positive_data_acceptance])

    fuzz()
