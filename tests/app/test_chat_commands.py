"""POST /chat/slack, Slack's slash command, through the app: accepted only when Slack signed it (Slack's own
documented example verifies), fresh, never seen before, from an allowed user or channel; ``fail`` makes
GET /health answer 503 and ``restore`` brings it back. The signing secret comes from an SSM stand-in over
real HTTP, and appears in no log line."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlencode

import pytest

from chalicelib.tasks.region import CACHE_SECONDS
from chalicelib.vocabulary import SLACK_COMMAND_PATH
from tests.support.api import assert_problem
from tests.support.ssm_stub import running_ssm

# "Verifying requests from Slack" (docs.slack.dev / api.slack.com): its example signing secret, request body,
# timestamp and the signature Slack documents for them.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SECRET_PARAMETER = "/tasks-api/local/slack/signing-secret"
ALLOWED_USER, ALLOWED_CHANNEL = "U2CERLKJA", "COPS"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ssm():
    with running_ssm() as server:
        server.put(SECRET_PARAMETER, SLACK_SECRET, "SecureString")
        yield server


@pytest.fixture
def clocks(env, ssm):
    """(wall clock, monotonic clock) handed to the app; the wall clock 30 s after Slack's example request."""
    wall, monotonic = Clock(SLACK_TIMESTAMP + 30), Clock(500.0)
    env(
        SLACK_SIGNING_SECRET_PARAMETER=SECRET_PARAMETER,
        AWS_ENDPOINT_URL_SSM=ssm.url,
        SLACK_ALLOWED_USERS=ALLOWED_USER,
        SLACK_ALLOWED_CHANNELS=ALLOWED_CHANNEL,
    )
    env.install(clock=wall, monotonic=monotonic)
    return wall, monotonic


def command(text: str, *, user: str = ALLOWED_USER, channel: str = "CGENERAL") -> str:
    return urlencode(
        {"command": "/tasks", "text": text, "user_id": user, "user_name": "ops", "channel_id": channel},
    )


def send(api, body: str, *, at: int, secret: str = SLACK_SECRET, signature: str | None = None):
    if signature is None:
        base = f"v0:{at}:{body}".encode()
        signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(at),
        "X-Slack-Signature": signature,
    }
    return api.post(SLACK_COMMAND_PATH, user=None, headers=headers, raw=body.encode())


def health(api):
    return api.get("/health", user=None)


def test_slacks_documented_example_request_verifies(api, clocks):
    reply = send(api, SLACK_BODY, at=SLACK_TIMESTAMP, signature=SLACK_SIGNATURE)

    assert reply.status == 200, reply.body
    assert reply.json["response_type"] == "ephemeral" and "status" in reply.json["text"]  # no text: the usage


def test_our_signing_of_slacks_example_gives_slacks_documented_signature():
    from chalicelib.protocol import slack

    assert slack.signature(SLACK_SECRET, str(SLACK_TIMESTAMP), SLACK_BODY.encode()) == SLACK_SIGNATURE


def test_fail_makes_health_answer_503_and_restore_brings_it_back(api, clocks):
    wall, _ = clocks
    assert health(api).status == 200

    failed = send(api, command("fail"), at=int(wall.now))
    assert failed.status == 200, failed.body
    assert failed.json["response_type"] == "in_channel" and "failed" in failed.json["text"]
    problem = assert_problem(health(api), 503, "region_failed")
    assert "failed over" in problem["detail"]

    wall.now += 1
    restored = send(api, command("restore"), at=int(wall.now))
    assert restored.status == 200 and "serving" in restored.json["text"]
    assert health(api).status == 200


def test_a_region_failed_by_another_instance_answers_503_here_within_the_cache_time(api, clocks, env):
    import os

    from chalicelib.operations.files import FILE_NAME
    from chalicelib.operations.files import FileRegionSwitch

    _, monotonic = clocks
    assert health(api).status == 200  # read and cached here
    FileRegionSwitch(os.path.join(os.environ["DATA_DIR"], FILE_NAME)).write("failed")  # the other instance

    monotonic.now += CACHE_SECONDS - 1
    assert health(api).status == 200
    monotonic.now += 1
    assert_problem(health(api), 503, "region_failed")


def test_the_deployed_switch_is_the_ssm_parameter_and_fail_writes_it(api, clocks, env, ssm):
    wall, monotonic = clocks
    switch = "/tasks-api/local/region/switch"
    ssm.put(switch, "serving")
    env(REGION_SWITCH_PARAMETER=switch)

    assert health(api).status == 200
    assert send(api, command("fail"), at=int(wall.now)).status == 200
    assert ssm.parameters[switch]["Value"] == "failed"
    assert_problem(health(api), 503, "region_failed")

    ssm.put(switch, "serving")  # restored by hand (aws ssm put-parameter): seen within the cache time
    monotonic.now += CACHE_SECONDS
    assert health(api).status == 200
    reads = [t for t in ssm.operations() if t == "AmazonSSM.GetParameter"]
    assert len(reads) == 3  # the secret once, the switch once per cache period: never once per request


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "old timestamp", "future timestamp", "no signature", "tampered body", "unknown user"],
)
def test_a_refused_request_changes_nothing(api, clocks, case):
    wall, _ = clocks
    now = int(wall.now)
    body = command("fail")
    if case == "wrong secret":
        reply = send(api, body, at=now, secret="not-the-signing-secret")
    elif case == "old timestamp":
        reply = send(api, body, at=now - 5 * 60 - 1)
    elif case == "future timestamp":
        reply = send(api, body, at=now + 5 * 60 + 1)
    elif case == "no signature":
        reply = send(api, body, at=now, signature="")
    elif case == "tampered body":  # the signature of a `status` request, on a `fail` body
        base = f"v0:{now}:{command('status')}".encode()
        reply = send(api, body, at=now, signature="v0=" + hmac.new(SLACK_SECRET.encode(), base, "sha256").hexdigest())
    else:
        reply = send(api, command("fail", user="UNKNOWN", channel="CGENERAL"), at=now)

    if case == "unknown user":
        assert_problem(reply, 403, "forbidden")
    else:
        assert_problem(reply, 401, "invalid_signature")
    assert health(api).status == 200


def test_a_replayed_request_is_refused(api, clocks):
    wall, _ = clocks
    at = int(wall.now)
    first = send(api, command("status"), at=at)
    assert first.status == 200

    wall.now += 60
    assert_problem(send(api, command("status"), at=at), 401, "invalid_signature")
    replayed_fail = send(api, command("fail"), at=at)  # a new body is a new signature: accepted once
    assert replayed_fail.status == 200
    send(api, command("restore"), at=int(wall.now))
    assert_problem(send(api, command("fail"), at=at), 401, "invalid_signature")
    assert health(api).status == 200


def test_an_allowed_channel_admits_any_of_its_users(api, clocks):
    wall, _ = clocks
    reply = send(api, command("status", user="USOMEONE", channel=ALLOWED_CHANNEL), at=int(wall.now))
    assert reply.status == 200


def test_nobody_is_allowed_when_the_lists_are_empty(api, clocks, env):
    wall, _ = clocks
    env(SLACK_ALLOWED_USERS="", SLACK_ALLOWED_CHANNELS="")
    assert_problem(send(api, command("fail"), at=int(wall.now)), 403, "forbidden")
    assert health(api).status == 200


def test_status_reports_region_stage_version_switch_and_the_alarms_in_alarm(api, clocks, env):
    class Firing:
        def firing(self):
            return ["tasks-prod-Api5xx-ABC", "tasks-prod-Latency-DEF"]

    wall, _ = clocks
    env.install(alarms=Firing())
    env(APP_STAGE="dev", AWS_REGION="eu-west-1")

    reply = send(api, command("status"), at=int(wall.now))

    assert reply.status == 200 and reply.json["response_type"] == "ephemeral"
    text = reply.json["text"]
    for expected in ("eu-west-1", "dev", "0.1.0", "serving", "2: tasks-prod-Api5xx-ABC, tasks-prod-Latency-DEF"):
        assert expected in text


def test_every_command_is_logged_with_who_asked_and_never_the_secret(api, clocks, caplog):
    wall, _ = clocks
    caplog.set_level(logging.DEBUG)
    send(api, command("status"), at=int(wall.now))
    send(api, command("fail", user="UNKNOWN"), at=int(wall.now))

    lines = [r for r in caplog.records if r.name == "tasks.chat"]
    assert [(r.command, r.slack_user_id, r.slack_channel_id, r.outcome) for r in lines] == [
        ("status", ALLOWED_USER, "CGENERAL", "ran"),
        ("fail", "UNKNOWN", "CGENERAL", "refused"),
    ]
    everything = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert SLACK_SECRET not in everything


def test_without_a_signing_secret_parameter_every_command_is_refused_as_unverifiable(api, env):
    reply = send(api, SLACK_BODY, at=SLACK_TIMESTAMP, signature=SLACK_SIGNATURE)
    assert "not configured" in assert_problem(reply, 401, "invalid_signature")["detail"]


def test_a_signing_secret_ssm_cannot_give_is_503_and_read_again_on_the_next_command(api, clocks, ssm):
    wall, _ = clocks
    ssm.replies.append((400, {"__type": "ThrottlingException", "message": "Rate exceeded"}))
    assert_problem(send(api, command("status"), at=int(wall.now)), 503, "service_unavailable")
    assert send(api, command("status"), at=int(wall.now)).status == 200


def test_the_operators_command_line_fails_and_restores_the_region_too(api, env):
    import io

    from chalicelib import ops

    out = io.StringIO()
    assert ops.main(["region", "fail"], out=out) == 0 and out.getvalue() == "failed\n"
    assert_problem(health(api), 503, "region_failed")
    assert ops.main(["region", "restore"], out=out) == 0 and out.getvalue().endswith("serving\n")
    assert health(api).status == 200


def test_the_operators_command_line_says_when_the_switch_cannot_be_written(env, ssm):
    import io

    from chalicelib import ops

    env(REGION_SWITCH_PARAMETER="/tasks-api/local/region/switch", AWS_ENDPOINT_URL_SSM=ssm.url)
    ssm.replies.append((400, {"__type": "AccessDeniedException", "message": "no"}))
    out = io.StringIO()
    assert ops.main(["region", "fail"], out=out) == 1
    assert "AccessDeniedException" in out.getvalue()


@pytest.mark.parametrize("shape", ["rest", "http"])
@pytest.mark.parametrize("encoded", [False, True])
def test_slacks_example_verifies_as_either_gateway_delivers_it_base64_or_not(clocks, shape, encoded):
    import base64

    from app import app
    from tests.support.invoke import gateway_event

    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP),
        "X-Slack-Signature": SLACK_SIGNATURE,
    }
    event = gateway_event(shape, "POST", SLACK_COMMAND_PATH, headers=headers, body=SLACK_BODY)
    if encoded:  # an HTTP API hands a body it does not take for text over base64-encoded
        event["body"], event["isBase64Encoded"] = base64.b64encode(SLACK_BODY.encode()).decode(), True

    response = app(event, None)

    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["response_type"] == "ephemeral"


def test_a_switch_ssm_refuses_to_write_is_503_logged_and_changes_nothing(api, clocks, env, ssm, caplog):
    wall, _ = clocks
    switch = "/tasks-api/local/region/switch"
    ssm.put(switch, "serving")
    env(REGION_SWITCH_PARAMETER=switch)
    assert send(api, command("status"), at=int(wall.now)).status == 200  # the secret read and kept
    ssm.replies.append((400, {"__type": "AccessDeniedException", "message": "not authorized to PutParameter"}))

    assert_problem(send(api, command("fail"), at=int(wall.now)), 503, "service_unavailable")

    assert ssm.parameters[switch]["Value"] == "serving" and health(api).status == 200
    (line,) = [r for r in caplog.records if r.name == "tasks.chat" and r.command == "fail"]
    assert line.outcome == "unavailable" and "AccessDeniedException" in line.getMessage()
