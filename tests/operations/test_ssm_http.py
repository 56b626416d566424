"""SSM through the standard-library transport (chalicelib/operations/ssm.py) against a local server answering
as SSM does: requests shaped and signed as botocore's SSM client sends them, replies and errors translated at
the boundary, the secret's value in no error."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime

import pytest

from chalicelib.errors import ChatCommandsUnavailable
from chalicelib.errors import RegionSwitchUnavailable
from chalicelib.operations import ssm
from chalicelib.store.sigv4 import Credentials
from tests.store.test_sigv4 import botocore_signature
from tests.support.ssm_stub import running_ssm

CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
SWITCH = "/tasks-api/prod/region/switch"
SECRET = "/tasks-api/prod/slack/signing-secret"


@pytest.fixture
def server():
    with running_ssm() as server:
        yield server


@pytest.fixture
def client(server):
    client = ssm.client("eu-west-1", endpoint_url=server.url, credentials=CREDENTIALS)
    yield client
    client.close()


def test_get_parameter_is_sent_as_botocores_ssm_client_sends_it_and_signed_as_its_signer_signs(
    server, client, fake_aws
):
    import boto3

    server.put(SECRET, "s3cr3t", "SecureString")
    botocore = boto3.session.Session().client(
        "ssm",
        region_name="eu-west-1",
        endpoint_url=server.url,
        aws_access_key_id=CREDENTIALS.access_key,
        aws_secret_access_key=CREDENTIALS.secret_key,
        aws_session_token=CREDENTIALS.token,
    )
    theirs = botocore.get_parameter(Name=SECRET, WithDecryption=True)
    ours = client.get_parameter(Name=SECRET, WithDecryption=True)

    assert ours["Parameter"] == theirs["Parameter"] and ours["Parameter"]["Value"] == "s3cr3t"
    (their_headers, their_body), (our_headers, our_body) = server.requests
    assert our_body == their_body == {"Name": SECRET, "WithDecryption": True}
    for name in ("x-amz-target", "content-type", "host", "x-amz-security-token"):
        assert our_headers[name] == their_headers[name], name
    assert our_headers["x-amz-target"] == "AmazonSSM.GetParameter"
    assert our_headers["content-type"] == "application/x-amz-json-1.1"
    # The signature botocore's signer gives the very request we sent, at the time we signed it.
    when = datetime.strptime(our_headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    signed = {"Host": our_headers["host"], "Content-Type": our_headers["content-type"]}
    signed["X-Amz-Target"] = our_headers["x-amz-target"]
    signed["Content-Length"] = our_headers["content-length"]
    body = json.dumps(our_body, separators=(",", ":")).encode()
    expected = botocore_signature("POST", server.url + "/", [], signed, body, CREDENTIALS, "eu-west-1", "ssm", when)
    assert our_headers["authorization"] == expected["Authorization"]
    assert (
        "Credential=AKIDEXAMPLE/" + when.strftime("%Y%m%d") + "/eu-west-1/ssm/aws4_request" in expected["Authorization"]
    )


def test_the_region_switch_reads_and_overwrites_its_string_parameter(server, client):
    server.put(SWITCH, "serving")
    switch = ssm.SSMRegionSwitch(client, SWITCH)

    assert switch.read() == "serving"
    switch.write("failed")

    assert server.parameters[SWITCH]["Value"] == "failed" and server.parameters[SWITCH]["Type"] == "String"
    assert switch.read() == "failed"
    put = server.requests[1][1]
    assert put == {"Name": SWITCH, "Value": "failed", "Type": "String", "Overwrite": True}


def test_a_missing_switch_parameter_or_an_unreachable_ssm_is_region_switch_unavailable(server, client):
    with pytest.raises(RegionSwitchUnavailable, match="ParameterNotFound"):
        ssm.SSMRegionSwitch(client, SWITCH).read()
    server.replies.append((500, {"__type": "InternalServerError", "message": "boom"}))
    with pytest.raises(RegionSwitchUnavailable, match="InternalServerError"):
        ssm.SSMRegionSwitch(client, SWITCH).write("failed")
    nowhere = ssm.client("eu-west-1", endpoint_url="http://127.0.0.1:9", credentials=CREDENTIALS)
    with pytest.raises(RegionSwitchUnavailable, match="Unreachable"):
        ssm.SSMRegionSwitch(nowhere, SWITCH).read()


@pytest.mark.parametrize("reply", [(200, {}), (200, {"Parameter": None}), (200, {"Parameter": {}})])
def test_a_reply_that_is_not_ssms_is_region_switch_unavailable_so_the_last_state_is_kept(server, client, reply):
    server.replies.append(reply)
    with pytest.raises(RegionSwitchUnavailable, match="unreadable"):
        ssm.SSMRegionSwitch(client, SWITCH).read()


def test_the_secret_is_read_decrypted_and_a_failure_names_the_code_never_a_value(server, client):
    server.put(SECRET, "8f742231b10e8888abcd99yyyzzz85a5", "SecureString")
    assert ssm.secret(client, SECRET) == "8f742231b10e8888abcd99yyyzzz85a5"
    assert server.requests[-1][1] == {"Name": SECRET, "WithDecryption": True}

    server.replies.append((400, {"__type": "AccessDeniedException", "message": "not authorized"}))
    with pytest.raises(ChatCommandsUnavailable) as refused:
        ssm.secret(client, SECRET)
    assert "AccessDeniedException" in refused.value.detail and "8f74" not in refused.value.detail


def test_reads_on_health_give_up_fast_one_attempt_with_short_timeouts(server):
    client = ssm.client("eu-west-1", endpoint_url=server.url, credentials=CREDENTIALS)
    server.replies.append((400, {"__type": "ThrottlingException", "message": "Rate exceeded"}))

    with pytest.raises(RegionSwitchUnavailable):
        ssm.SSMRegionSwitch(client, SWITCH).read()

    assert len(server.requests) == 1 and client.max_attempts == ssm.MAX_ATTEMPTS == 1
    assert ssm.CONNECT_TIMEOUT + ssm.READ_TIMEOUT < 2  # Route 53 waits 2 s for the status after connecting
