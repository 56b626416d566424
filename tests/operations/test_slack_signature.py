"""Slack's request signature (chalicelib/protocol/slack.py) at its edges: the five-minute window both ways,
timestamps that are no Unix time, signatures of any shape refused without an error; and the settings."""

from __future__ import annotations

import pytest

from chalicelib.errors import SignatureRefused
from chalicelib.protocol import slack
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"command=%2Ftasks&text=status&user_id=U1&channel_id=C1"
SENT = 1_700_000_000


def headers(timestamp: str, signature: str | None = None) -> dict[str, str]:
    signed = signature if signature is not None else slack.signature(SECRET, timestamp, BODY)
    return {slack.TIMESTAMP_HEADER: timestamp, slack.SIGNATURE_HEADER: signed}


@pytest.mark.parametrize("drift", [-300, 0, 300])
def test_a_signature_within_five_minutes_either_way_verifies(drift):
    signature, sent = slack.verify(SECRET, headers(str(SENT)), BODY, SENT + drift)
    assert sent == SENT and signature.startswith("v0=") and len(signature) == 67


@pytest.mark.parametrize("drift", [-301, 301, 86_400])
def test_a_signature_more_than_five_minutes_from_now_is_refused(drift):
    with pytest.raises(SignatureRefused, match="five minutes"):
        slack.verify(SECRET, headers(str(SENT)), BODY, SENT + drift)


@pytest.mark.parametrize("timestamp", ["", "17e8", "-1700000000", "1700000000.5", "\uff11\uff17\uff10\uff10", "9" * 40])
def test_a_timestamp_that_is_no_unix_time_is_refused(timestamp):
    with pytest.raises(SignatureRefused):
        slack.verify(SECRET, headers(timestamp, "v0=" + "0" * 64), BODY, SENT)


@pytest.mark.parametrize("signature", ["", "v0=", "v1=" + "0" * 64, "v0=" + "é" * 64, "v0=" + "0" * 6400])
def test_a_signature_of_any_other_shape_is_refused_not_an_error(signature):
    with pytest.raises(SignatureRefused):
        slack.verify(SECRET, headers(str(SENT), signature), BODY, SENT)


def test_the_chat_settings_are_read_and_a_parameter_name_must_be_a_path():
    settings = Settings.from_env(
        {
            "REGION_SWITCH_PARAMETER": " /tasks-api/prod/region/switch ",
            "SLACK_SIGNING_SECRET_PARAMETER": "/tasks-api/prod/slack/signing-secret",
            "SLACK_ALLOWED_USERS": "U1, U2,",
            "SLACK_ALLOWED_CHANNELS": "C1",
            "ALARM_NAME_PREFIX": "tasks-prod-",
        }
    )
    assert settings.region_switch_parameter == "/tasks-api/prod/region/switch"
    assert settings.slack_allowed_users == ("U1", "U2") and settings.slack_allowed_channels == ("C1",)
    assert settings.alarm_name_prefix == "tasks-prod-"
    defaults = Settings.from_env({})
    assert defaults.region_switch_parameter is None and defaults.slack_signing_secret_parameter is None
    assert defaults.slack_allowed_users == () and defaults.slack_allowed_channels == ()
    for name in ("REGION_SWITCH_PARAMETER", "SLACK_SIGNING_SECRET_PARAMETER"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: "tasks-api/prod/region switch"})
