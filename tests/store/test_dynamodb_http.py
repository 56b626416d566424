"""The lean DynamoDB transport (chalicelib/store/dynamodb_http.py) against a local server that answers as
DynamoDB does, documented error bodies included: errors translated as with botocore's client, retries and
their limits, a dropped connection reopened, the reply's CRC32 checked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.errors import ConditionFailed
from chalicelib.errors import StoreUnavailable
from chalicelib.store.base import Absent
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Update
from chalicelib.store.dynamodb_http import MODELED_RETRYABLE_CODES
from chalicelib.store.dynamodb_http import ClientError
from chalicelib.store.dynamodb_http import DynamoDBClient
from chalicelib.store.dynamodb_http import Unreachable
from chalicelib.store.sigv4 import Credentials
from tests.support.dynamodb_stub import DROP
from tests.support.dynamodb_stub import Server
from tests.support.dynamodb_stub import running_stub
from tests.support.tls import self_signed

PREFIX = "com.amazonaws.dynamodb.v20120810#"
STORED = {"PK": {"S": "USER#a"}, "SK": {"S": "TASK#1"}, "title": {"S": "stored"}, "version": {"N": "2"}}


def error(code: str, message: str = "", status: int = 400, **members: Any) -> tuple[int, dict[str, Any]]:
    """An error reply as DynamoDB writes it: ``__type``, ``message`` and the error's own members."""
    return status, {"__type": PREFIX + code, "message": message, **members}


@pytest.fixture
def server() -> Iterator[Server]:
    with running_stub() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server, sleeps) -> Iterator[DynamoDBClient]:
    client = DynamoDBClient(
        endpoint_url=server.url,
        region="eu-west-1",
        credentials=Credentials("AKID", "secret", "token"),
        sleep=sleeps.append,
        jitter=lambda: 1.0,  # the backoff's ceiling, so the waits are known
    )
    yield client
    client.close()


@pytest.fixture(params=["lean", "boto3"])
def store(request, server, fake_aws, monkeypatch):
    """The adapter on each transport, against the scripted server, without retries."""
    from chalicelib.store.dynamodb import DynamoDBStore

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = DynamoDBStore("tasks", endpoint_url=server.url, transport=request.param)
    yield store
    store.requests.close()


# --- the adapter sees the same errors through either transport ------------------------------------


def test_a_conditional_failure_comes_back_with_the_stored_record(store, server):
    server.replies.append(error("ConditionalCheckFailedException", "The conditional request failed", Item=STORED))

    with pytest.raises(ConditionFailed) as raised:
        store.put(Put(Key("USER#a", "TASK#1"), {"title": "new"}, condition=Absent()))

    assert raised.value.existing == {"title": "stored", "version": 2}


def test_a_cancelled_transaction_names_the_failed_operation_and_its_stored_record(store, server):
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "failed", "Item": STORED}]
    server.replies.append(error("TransactionCanceledException", "Transaction cancelled", CancellationReasons=reasons))

    with pytest.raises(ConditionFailed) as raised:
        store.transact(
            [Put(Key("USER#a", "TASK#2"), {"title": "x"}), Update(Key("USER#a", "TASK#1"), set={"title": "y"})]
        )

    assert (raised.value.index, raised.value.existing) == (1, {"title": "stored", "version": 2})


def test_throttling_is_store_unavailable(store, server):
    server.replies.append(error("ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed"))

    with pytest.raises(StoreUnavailable):
        store.get(Key("USER#a", "TASK#1"))


def test_a_validation_error_reaches_the_caller_untranslated_with_its_code(store, server):
    server.replies.append(error("ValidationException", "One or more parameter values were invalid"))

    with pytest.raises(Exception) as raised:
        store.get(Key("USER#a", "TASK#1"))

    assert raised.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "One or more parameter values were invalid",
    }


def test_an_endpoint_nobody_listens_on_is_store_unavailable(fake_aws):
    from chalicelib.store.dynamodb import DynamoDBStore

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = DynamoDBStore("tasks", endpoint_url=f"http://127.0.0.1:{port}", transport="lean")
    store.requests._sleep = lambda _: None

    with pytest.raises(StoreUnavailable) as raised:
        store.get(Key("USER#a", "METADATA"))

    assert isinstance(raised.value.__cause__, Unreachable)


# --- the request -----------------------------------------------------------------------------------


def test_a_request_is_json_1_0_for_its_target_signed_with_the_session_token(client, server):
    reply = client.get_item(TableName="tasks", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})

    headers, body = server.requests[0]
    assert headers["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers["x-amz-security-token"] == "token"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert "/eu-west-1/dynamodb/aws4_request" in headers["authorization"]
    assert body == {"TableName": "tasks", "Key": {"PK": {"S": "a"}, "SK": {"S": "b"}}}
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_requests_share_one_persistent_connection(client, server):
    for _ in range(3):
        client.get_item(TableName="tasks", Key={})

    assert server.connections == 1


def test_a_connection_the_server_dropped_while_idle_is_reopened_without_a_retry(client, server, sleeps):
    server.close_after_reply = True
    client.get_item(TableName="tasks", Key={})

    client.get_item(TableName="tasks", Key={})

    assert (server.connections, len(server.requests), sleeps) == (2, 2, [])


def test_without_credentials_in_the_environment_boto3s_chain_provides_them(server, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "credentials"
    shared.write_text("[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    DynamoDBClient(endpoint_url=server.url).get_item(TableName="tasks", Key={})

    headers, _ = server.requests[0]
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDPROFILE/")
    assert "x-amz-security-token" not in headers


# --- retries ---------------------------------------------------------------------------------------


def test_throttling_is_retried_with_a_doubling_backoff_until_it_succeeds(client, server, sleeps):
    server.replies.extend([error("ThrottlingException"), error("ProvisionedThroughputExceededException")])

    reply = client.query(TableName="tasks")

    assert (len(server.requests), sleeps, reply["ResponseMetadata"]["RetryAttempts"]) == (3, [1.0, 2.0], 2)


def test_a_transient_failure_is_retried_after_dynamodbs_short_backoff(client, server, sleeps):
    # The first drop reaches a reused connection: tried again at once on a new one, as no attempt.
    server.replies.extend([error("InternalServerError", status=500), DROP, DROP])

    client.query(TableName="tasks")

    assert (len(server.requests), server.connections, sleeps) == (4, 3, [0.025, 0.05])


def test_retries_stop_at_the_attempt_limit_with_the_last_error(client, server):
    server.replies.extend([error("ThrottlingException", "slow down")] * 5)

    with pytest.raises(ClientError) as raised:
        client.query(TableName="tasks")

    assert len(server.requests) == 3
    assert raised.value.response["Error"] == {"Code": "ThrottlingException", "Message": "slow down"}


def test_the_attempt_limit_follows_aws_max_attempts(server, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    server.replies.extend([error("ThrottlingException")] * 5)
    client = DynamoDBClient(endpoint_url=server.url, credentials=Credentials("a", "b"), sleep=lambda _: None)

    with pytest.raises(ClientError):
        client.query(TableName="tasks")

    assert len(server.requests) == 5


@pytest.mark.parametrize(
    ("header", "wait"),
    [("3000", 3.0), ("60000", 1.0 + 5.0), ("10", 1.0), ("-5", 1.0), ("soon", 1.0)],
    ids=["asked", "capped", "below-backoff", "negative", "unreadable"],
)
def test_the_service_retry_after_hint_raises_the_wait_as_botocore_does(client, server, sleeps, header, wait):
    from botocore.retries.standard import ExponentialBackoff

    from chalicelib.store import dynamodb_http

    assert dynamodb_http.RETRY_AFTER == ExponentialBackoff._RETRY_AFTER_HEADER
    assert dynamodb_http.RETRY_AFTER_MAX == ExponentialBackoff._RETRY_AFTER_MAX_ADDITIONAL
    server.replies.append((*error("ThrottlingException"), None, {"x-amz-retry-after": header}))

    client.query(TableName="tasks")

    assert sleeps == [wait]  # the first throttling backoff is 1 s at full jitter


def test_the_retry_quota_is_botocores():
    from botocore.retries.quota import RetryQuota
    from botocore.retries.standard import RetryQuotaChecker

    from chalicelib.store import dynamodb_http

    assert dynamodb_http.RETRY_QUOTA == RetryQuota.INITIAL_CAPACITY
    assert dynamodb_http.RETRY_COST == RetryQuotaChecker._RETRY_COST
    assert dynamodb_http.THROTTLING_RETRY_COST == RetryQuotaChecker._THROTTLING_RETRY_COST
    assert dynamodb_http.NO_RETRY_INCREMENT == RetryQuotaChecker._NO_RETRY_INCREMENT


def test_retries_stop_once_the_retry_quota_is_spent_and_successes_refill_it(client, server):
    # Each failing call retries twice at 14: 17 calls leave 500 - 17 * 28 = 24 in the bucket.
    server.replies.extend([error("InternalServerError", status=500)] * (17 * 3))
    for _ in range(17):
        with pytest.raises(ClientError):
            client.query(TableName="tasks")
    assert (len(server.requests), client.retry_quota) == (51, 24)

    server.replies.extend([error("InternalServerError", status=500)] * 3)
    with pytest.raises(ClientError):
        client.query(TableName="tasks")  # one retry (10 left), then none: 2 requests
    with pytest.raises(ClientError):
        client.query(TableName="tasks")  # 14 > 10: not retried at all
    assert (len(server.requests), client.retry_quota) == (54, 10)

    server.replies.extend([error("ThrottlingException"), (200, {})])
    client.query(TableName="tasks")  # a throttling retry costs 5, and its success gives the 5 back
    client.query(TableName="tasks")  # a success without a retry gives 1
    assert (len(server.requests), client.retry_quota) == (57, 11)


@pytest.mark.parametrize(
    "code", ["ConditionalCheckFailedException", "ValidationException", "TransactionCanceledException"]
)
def test_an_error_a_retry_cannot_fix_is_not_retried(client, server, code):
    server.replies.append(error(code))

    with pytest.raises(ClientError):
        client.put_item(TableName="tasks", Item={})

    assert len(server.requests) == 1


def test_a_reply_whose_crc32_does_not_match_is_retried(client, server):
    server.replies.append((200, {"Item": STORED}, "corrupt"))

    assert client.get_item(TableName="tasks", Key={})["ResponseMetadata"]["RetryAttempts"] == 1


def test_replies_whose_crc32_never_matches_leave_the_store_unreachable(client, server):
    server.replies.extend([(200, {"Item": STORED}, "corrupt")] * 3)

    with pytest.raises(Unreachable, match="CRC32"):
        client.get_item(TableName="tasks", Key={})


READ_PATH = r"""
import json, sys
from chalicelib.store.base import Key
from chalicelib.store.dynamodb import DynamoDBStore

store = DynamoDBStore("tasks", endpoint_url=sys.argv[1], transport="lean")
record = store.get(Key("USER#a", "TASK#1"))
page = store.query("USER#a", "TASK#", limit=10)
print(json.dumps({"record": record, "page": len(page.records), "loaded": sorted(
    name for name in sys.modules if name.split(".")[0] in ("boto3", "botocore", "s3transfer"))}))
"""


def test_reading_through_the_lean_transport_imports_no_boto3_or_botocore(server, fake_aws):
    server.replies.extend([(200, {"Item": STORED}), (200, {"Items": [STORED], "Count": 1})])

    result = subprocess.run(
        [sys.executable, "-c", READ_PATH, server.url], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )

    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert (seen["record"], seen["page"], seen["loaded"]) == ({"title": "stored", "version": 2}, 1, [])


# --- TLS -------------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(server, tmp_path):
    """The scripted server behind TLS, its certificate (for 127.0.0.1) signed by nobody anyone trusts."""
    context, cert_file = self_signed(tmp_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.url = server.url.replace("http://", "https://")
    return cert_file


def test_an_https_endpoint_whose_certificate_nobody_trusts_is_refused(server, tls_server):
    client = DynamoDBClient(endpoint_url=server.url, credentials=Credentials("a", "b"), sleep=lambda _: None)

    with pytest.raises(Unreachable) as raised:
        client.get_item(TableName="tasks", Key={})

    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)


def test_an_https_endpoint_with_a_trusted_certificate_is_answered(server, tls_server, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server))  # what ssl's default context trusts
    client = DynamoDBClient(endpoint_url=server.url, credentials=Credentials("a", "b"))

    assert client.get_item(TableName="tasks", Key={})["ResponseMetadata"]["HTTPStatusCode"] == 200
    client.close()


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"])
def test_the_sdks_endpoint_variables_point_the_transport_where_they_point_boto3(monkeypatch, variable):
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:8765")
    assert DynamoDBClient(region="eu-west-1").endpoint_url == "http://127.0.0.1:8765"
    # The app's own DYNAMODB_ENDPOINT_URL (handed in) wins, as botocore's endpoint_url argument does.
    assert (
        DynamoDBClient(region="eu-west-1", endpoint_url="http://localhost:9000").endpoint_url == "http://localhost:9000"
    )


def test_the_errors_dynamodbs_model_marks_retryable_are_botocores():
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    modeled = {
        name
        for name in model.shape_names
        if model.shape_for(name).metadata.get("exception") and model.shape_for(name).metadata.get("retryable")
    }
    assert modeled == MODELED_RETRYABLE_CODES
    assert not {name for name in modeled if model.shape_for(name).metadata["retryable"].get("throttling")}


def test_a_write_conflicting_with_another_regions_is_retried_after_the_short_backoff(client, server, sleeps):
    # Multi-Region strong consistency: the same item written through another region at the same moment.
    server.replies.append(error("ReplicatedWriteConflictException", status=409))

    reply = client.put_item(TableName="tasks", Item={})

    assert (len(server.requests), sleeps, reply["ResponseMetadata"]["RetryAttempts"]) == (2, [0.025], 1)
