"""The notifier as Lambda invokes it: a CloudWatch alarm's SNS notification (the documented shape) through
app.py's ``on_alarm`` handler, posted over real HTTP to a stand-in Slack whose URL is a SecureString in
SSM (moto); Slack's 429 and 5xx retried after its Retry-After (waits recorded, never slept); a dead
webhook logged and counted while the function returns normally; the URL in no line of output."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace
from typing import Any

import pytest

import app
from chalicelib.errors import SecretUnavailable
from tests.alerts.conftest import DASHBOARD
from tests.alerts.conftest import PARAMETER
from tests.support.invoke import alarm_message
from tests.support.invoke import sns_event
from tests.support.output import Output
from tests.support.slack import NO_SERVICE
from tests.support.slack import OK
from tests.support.slack import RATE_LIMITED
from tests.support.slack import SECRET_PART
from tests.support.slack import SERVER_ERROR
from tests.support.slack import WEBHOOK_PATH
from tests.support.slack import Answer
from tests.support.slack import fake_slack
from tests.support.slack import self_signed_tls

CONTEXT = SimpleNamespace(aws_request_id="lambda-request-1", function_name="tasks-api-prod-on_alarm")


def invoke(event: dict[str, Any]) -> Any:
    """app.py's SNS handler, called as Lambda calls it."""
    return app.on_alarm(event, CONTEXT)


def emf_counts(out: Output) -> dict[str, float]:
    counts: dict[str, float] = {}
    for document in out.emf:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                counts[metric["Name"]] = counts.get(metric["Name"], 0) + document[metric["Name"]]
    return counts


@pytest.fixture
def captured(capsys, caplog):
    """Everything the app wrote (stdout, stderr) and every log record any handler saw, for the no-secret
    checks (the app's loggers at DEBUG, the most an operator can ask for: LOG_LEVEL=DEBUG)."""
    capsys.readouterr()

    def take() -> tuple[Output, str]:
        got = capsys.readouterr()
        records = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
        return Output.parse(got.out, got.err), got.out + got.err + records

    return take


def test_an_alarm_state_change_is_posted_with_name_state_reason_region_stage_and_dashboard_link(
    notifier_env, slack, captured
):
    message = alarm_message()

    assert invoke(sns_event(message)) == {"posted": 1, "not_posted": 0}

    [received] = slack.received
    assert received.path == WEBHOOK_PATH
    assert received.headers["Content-Type"] == "application/json"
    posted = received.json()
    shown = json.dumps(posted)
    assert message["AlarmName"] in posted["text"] and "ALARM" in posted["text"]
    assert "(was OK)" in shown
    assert "Threshold Crossed: 1 out of the last 1 datapoints" in shown
    assert "us-east-1" in shown and "US East (N. Virginia)" in shown
    assert "*Stage*\\nprod" in shown
    dashboard = f"https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name={DASHBOARD}"
    assert f"<{dashboard}|Dashboard>" in shown
    out, everything = captured()
    assert emf_counts(out)["NotificationsSent"] == 1
    assert any(line["message"] == "alarm posted to the chat" and line["state"] == "ALARM" for line in out.logs)
    assert SECRET_PART not in everything


def test_a_429_is_retried_after_its_retry_after_and_the_message_delivered_once(notifier_env, slack, waits, captured):
    slack.script(RATE_LIMITED, OK)

    assert invoke(sns_event(alarm_message(state="OK", previous="ALARM"))) == {"posted": 1, "not_posted": 0}

    assert [r.status for r in slack.received] == [429, 200]
    assert len(slack.delivered()) == 1
    assert slack.received[0].body == slack.received[1].body  # the same message, sent again
    assert waits == [7.0]  # as the header said
    out, everything = captured()
    assert emf_counts(out).get("NotificationFailures", 0) == 0
    assert SECRET_PART not in everything


def test_a_5xx_is_retried_and_a_server_that_keeps_failing_is_logged_counted_and_survived(
    notifier_env, slack, waits, captured
):
    slack.script(SERVER_ERROR)  # every time

    assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 1}

    assert len(slack.received) == 4  # the adapter's bounded attempts
    assert waits == [1.0, 2.0, 4.0]  # no Retry-After: a doubling backoff
    out, everything = captured()
    [failure] = [line for line in out.logs if line["message"].startswith("alarm not posted")]
    assert failure["level"] == "WARNING" and "HTTP 500 rollup_error" in failure["message"]
    assert failure["code"] == "chat_unavailable"
    assert emf_counts(out)["NotificationFailures"] == 1
    assert SECRET_PART not in everything


def test_a_retry_after_beyond_the_wait_budget_is_not_waited_for(notifier_env, slack, waits, captured):
    slack.script(Answer(429, "rate_limited", {"Retry-After": "3600"}))

    assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 1}

    assert len(slack.received) == 1 and waits == []
    out, _ = captured()
    assert emf_counts(out)["NotificationFailures"] == 1


def test_a_webhook_nobody_answers_is_logged_counted_and_the_function_returns(env, ssm, waits, captured):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    ssm.put_parameter(Name=PARAMETER, Value=dead, Type="SecureString")
    env(LOG_FORMAT="json", LOG_LEVEL="DEBUG", METRICS="emf", QUEUE="off", SLACK_WEBHOOK_PARAMETER=PARAMETER)

    assert invoke(sns_event(alarm_message(), alarm_message(state="OK"))) == {"posted": 0, "not_posted": 2}

    out, everything = captured()
    failures = [line for line in out.logs if line["message"].startswith("alarm not posted")]
    assert len(failures) == 2 and all("ConnectionRefusedError" in line["message"] for line in failures)
    assert emf_counts(out)["NotificationFailures"] == 2
    assert SECRET_PART not in everything and str(port) not in json.dumps(failures)


def test_a_missing_webhook_parameter_is_logged_and_counted_without_raising(env, ssm, captured):
    env(
        LOG_FORMAT="json", LOG_LEVEL="DEBUG", METRICS="emf", QUEUE="off", SLACK_WEBHOOK_PARAMETER=PARAMETER
    )  # never put

    assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 1}

    out, _ = captured()
    [failure] = [line for line in out.logs if line["message"].startswith("alarm not posted")]
    assert "ParameterNotFound" in failure["message"] and failure["code"] == SecretUnavailable.code
    assert emf_counts(out)["NotificationFailures"] == 1


def test_the_webhook_url_is_read_once_and_kept(notifier_env, ssm, slack):
    assert invoke(sns_event(alarm_message()))["posted"] == 1
    ssm.delete_parameter(Name=PARAMETER)  # a second read would fail

    assert invoke(sns_event(alarm_message(state="OK")))["posted"] == 1
    assert len(slack.delivered()) == 2


def test_a_webhook_slack_no_longer_knows_is_not_retried_and_read_again_next_time(notifier_env, ssm, slack, waits):
    slack.script(NO_SERVICE)

    assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 1}
    assert len(slack.received) == 1 and waits == []  # a refusal is final

    with fake_slack() as replacement:  # the operator created a new webhook and replaced the parameter
        ssm.put_parameter(Name=PARAMETER, Value=replacement.url, Type="SecureString", Overwrite=True)
        assert invoke(sns_event(alarm_message()))["posted"] == 1
        assert len(replacement.delivered()) == 1


def test_a_bad_request_is_not_retried(notifier_env, slack, waits):
    slack.script(Answer(400, "invalid_payload"))

    assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 1}
    assert len(slack.received) == 1 and waits == []


def test_a_plain_http_webhook_off_this_machine_is_refused_without_a_request(env, ssm, captured):
    ssm.put_parameter(Name=PARAMETER, Value=f"http://hooks.example.com{WEBHOOK_PATH}", Type="SecureString")
    env(LOG_FORMAT="json", LOG_LEVEL="DEBUG", METRICS="emf", QUEUE="off", SLACK_WEBHOOK_PARAMETER=PARAMETER)

    assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 1}

    out, everything = captured()
    assert any("does not hold an https URL" in line["message"] for line in out.logs)
    assert SECRET_PART not in everything and "hooks.example.com" not in everything


def test_without_a_webhook_parameter_alerts_are_off_and_nothing_is_read(env, captured):
    class Unreadable:
        def get(self, name: str) -> str:
            raise AssertionError("alerts are off: no secret may be read")

        def forget(self, name: str) -> None:
            raise AssertionError("alerts are off")

    env.install(secrets=Unreadable())
    env(LOG_FORMAT="json", METRICS="emf", QUEUE="off")

    assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 0}

    out, _ = captured()
    assert any(line["message"].startswith("chat alerts are off") for line in out.logs)


def test_a_budget_notice_on_the_alarm_topic_is_posted_as_a_notice(notifier_env, slack):
    text = "AWS Budget Notification December 02, 2026\nAWS Account 123456789012\n\nBudget Name: tasks-api-prod"

    assert invoke(sns_event(text, subject="AWS Budgets: tasks-api-prod has exceeded your alert threshold")) == {
        "posted": 1,
        "not_posted": 0,
    }

    shown = json.dumps(slack.received[0].json())
    assert "AWS Budgets: tasks-api-prod has exceeded your alert threshold" in shown
    assert "Budget Name: tasks-api-prod" in shown and "*Stage*\\nprod" in shown


def test_an_https_webhook_whose_certificate_no_ca_signed_is_refused(env, ssm, waits, captured, tmp_path):
    with fake_slack(tls=self_signed_tls(tmp_path)) as impostor:
        assert impostor.url.startswith("https://127.0.0.1:")
        ssm.put_parameter(Name=PARAMETER, Value=impostor.url, Type="SecureString")
        env(LOG_FORMAT="json", LOG_LEVEL="DEBUG", METRICS="emf", QUEUE="off", SLACK_WEBHOOK_PARAMETER=PARAMETER)

        assert invoke(sns_event(alarm_message())) == {"posted": 0, "not_posted": 1}

        assert impostor.received == []  # the message never left the client
    out, everything = captured()
    assert any("SSLCertVerificationError" in line["message"] for line in out.logs)
    assert SECRET_PART not in everything
