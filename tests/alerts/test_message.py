"""What the chat shows of an alarm change (pure: no HTTP), and the notifier's settings."""

from __future__ import annotations

import json

import pytest

from chalicelib.alerts.message import AlarmChange
from chalicelib.alerts.message import Notice
from chalicelib.alerts.message import parse
from chalicelib.alerts.message import render
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from tests.support.invoke import alarm_message
from tests.support.invoke import sns_event


def record(message) -> dict:
    return sns_event(message)["Records"][0]


def test_the_documented_alarm_notification_parses_into_its_change():
    found = parse(record(alarm_message(region="eu-west-1", region_name="EU (Ireland)")))

    assert isinstance(found, AlarmChange)
    assert (found.state, found.previous, found.region, found.region_name) == (
        "ALARM",
        "OK",
        "eu-west-1",
        "EU (Ireland)",
    )
    assert found.reason.startswith("Threshold Crossed")


def test_without_its_own_region_the_links_use_the_alarms_region():
    shown = json.dumps(
        render(parse(record(alarm_message(region="eu-west-1"))), stage="prod", region=None, dashboard="d")
    )

    assert "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=d" in shown


def test_mrkdwn_control_characters_in_a_reason_are_shown_literally():
    message = alarm_message(reason="<!channel> & <https://evil.example|click>")
    shown = json.dumps(render(parse(record(message)), stage="prod", region="us-east-1", dashboard=None))

    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in shown
    assert "<!channel>" not in shown


def test_a_very_long_reason_is_cut_to_what_a_block_holds():
    rendered = render(
        parse(record(alarm_message(reason="x" * 10_000))), stage="prod", region="us-east-1", dashboard=None
    )

    assert all(len(block["text"]["text"]) <= 3000 for block in rendered["blocks"] if "text" in block)


def test_a_message_that_is_not_an_alarms_json_is_a_notice():
    assert parse(record("plain text")) == Notice(None, "plain text")
    assert isinstance(parse(record(json.dumps({"AlarmName": "only a name"}))), Notice)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SLACK_WEBHOOK_PARAMETER", "/tasks-api/prod/slack webhook"), ("DASHBOARD_NAME", "a/b")],
)
def test_a_malformed_notifier_setting_is_refused(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_the_notifier_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {"SLACK_WEBHOOK_PARAMETER": "/tasks-api/prod/slack/webhook-url", "DASHBOARD_NAME": "tasks-api-prod"}
    )

    assert (settings.slack_webhook_parameter, settings.dashboard_name) == (
        "/tasks-api/prod/slack/webhook-url",
        "tasks-api-prod",
    )
    assert Settings.from_env({}).slack_webhook_parameter is None
