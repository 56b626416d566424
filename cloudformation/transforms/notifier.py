"""Chat alerts behind ``EnableChatAlerts``: the notifier app.py declares (``@app.on_sns_message(topic=ALARMS)``)
subscribed to the stack's alarm topic, told where the Slack webhook's URL is kept and which dashboard to
link, and an alarm on the messages it could not post (reaching the e-mail subscription).

Chalice's decorator takes a literal topic name; the placeholder (chalicelib/events/base.py) becomes the
alarm topic observability.py creates (``AlarmTopic``). The webhook's URL is a SecureString the operator
puts under the stage's SSM prefix (CloudFormation cannot create a SecureString); the function gets its
full name, ``/tasks-api/<AppStage>/slack/webhook-url`` (chalicelib/vocabulary.py), and iam.py grants reading
exactly that parameter. Switched off (the default), there is no notifier and no subscription.
"""

from __future__ import annotations

from chalicelib.events.base import ALARMS
from chalicelib.observability import metrics
from chalicelib.vocabulary import SSM_PREFIX
from chalicelib.vocabulary import SSM_SLACK_WEBHOOK_URL
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.template import string_parameter
from cloudformation.transforms.observability import APP_NAMESPACE
from cloudformation.transforms.observability import DASHBOARD_NAME
from cloudformation.transforms.observability import TOPIC

ENABLED = "ChatAlertsEnabled"
# The webhook's parameter under the stage's prefix: its name for the app, its ARN for the grant (a name
# that starts with "/" follows "parameter" directly).
WEBHOOK_PARAMETER = SSM_PREFIX.format(stage="${AppStage}") + "/" + SSM_SLACK_WEBHOOK_URL
WEBHOOK_PARAMETER_NAME = {"Fn::Sub": WEBHOOK_PARAMETER}
WEBHOOK_PARAMETER_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + WEBHOOK_PARAMETER
}
FAILURES_ALARM = "NotificationFailuresAlarm"

PARAMETERS = {
    "EnableChatAlerts": string_parameter(
        "Post every alarm state change to Slack: the notifier subscribed to the alarm topic, reading the "
        "webhook URL from the SecureString /tasks-api/<AppStage>/slack/webhook-url (docs/OPERATIONS.md)",
        "false",
        AllowedValues=["true", "false"],
    ),
}


def _topic_name(topic: object) -> str:
    # Chalice writes arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:<name> in an Fn::Sub.
    text = topic.get("Fn::Sub") if isinstance(topic, dict) else topic
    if not isinstance(text, str):
        raise ValueError(f"unrecognised SNS topic reference {topic!r}")
    return text.rsplit(":", 1)[-1]


def notifiers(template: Template) -> list[str]:
    """The functions subscribed to the alarm topic (after this transform ran)."""
    return [
        name
        for name, function in functions(template)
        if any(
            event.get("Type") == "SNS" and event["Properties"]["Topic"] == {"Ref": TOPIC}
            for event in function["Properties"].get("Events", {}).values()
        )
    ]


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameters(out, PARAMETERS)
    add_condition(out, ENABLED, {"Fn::Equals": [{"Ref": "EnableChatAlerts"}, "true"]})
    found = False
    for name, function in functions(out):
        subscriptions = [e for e in function["Properties"].get("Events", {}).values() if e.get("Type") == "SNS"]
        for event in subscriptions:
            topic = _topic_name(event["Properties"]["Topic"])
            if topic != ALARMS:
                raise ValueError(
                    f"{name} subscribes to the topic {topic!r}, which the stack does not create "
                    f"(known: the placeholder {ALARMS!r}, chalicelib/events/base.py)"
                )
            event["Properties"]["Topic"] = {"Ref": TOPIC}
        if subscriptions:
            found = True
            function["Condition"] = ENABLED
            environment(function).update(
                {"SLACK_WEBHOOK_PARAMETER": WEBHOOK_PARAMETER_NAME, "DASHBOARD_NAME": DASHBOARD_NAME}
            )
    if found:
        # Its own failures cannot reach the chat; the alarm topic's e-mail subscription hears of them.
        add_resource(
            out,
            FAILURES_ALARM,
            {
                "Type": "AWS::CloudWatch::Alarm",
                "Condition": ENABLED,
                "Properties": {
                    "AlarmDescription": "Alarm changes were not posted to the chat (webhook refused, Slack "
                    "down, or its SSM parameter missing)",
                    "AlarmActions": [{"Ref": TOPIC}],
                    "OKActions": [{"Ref": TOPIC}],
                    "TreatMissingData": "notBreaching",
                    "EvaluationPeriods": 1,
                    "Namespace": APP_NAMESPACE,
                    "MetricName": metrics.NOTIFICATION_FAILURES.name,
                    "Statistic": "Sum",
                    "Period": 300,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "Threshold": 1,
                },
            },
        )
    return out
