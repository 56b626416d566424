"""The production checklist's budget: with MonthlyBudget set (US dollars; empty, the default: no budget),
an AWS Budgets cost budget over what carries this deployment's ``cost-center`` tag (tags.py), which
tells the alarm topic when the month's actual cost passes 80% of it and when the forecast passes 100%.

The topic's policy lets AWS Budgets publish to it, and CloudWatch too: a topic policy replaces the
default one, so the alarms need their own statement. It exists whether or not a budget does, so the
alarms publish through the same policy in every configuration. Both service principals are held to
this account (aws:SourceAccount) and to their own kind of source (aws:SourceArn)."""

from __future__ import annotations

from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_parameter
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import string_parameter
from cloudformation.transforms.observability import TOPIC
from cloudformation.transforms.tags import COST_CENTER
from cloudformation.transforms.tags import PARAMETER as COST_CENTER_PARAMETER

AMOUNT = "MonthlyBudget"
ENABLED = "HasBudget"
BUDGET = "Budget"
# (notification type, percent of the amount)
THRESHOLDS = (("ACTUAL", 80), ("FORECASTED", 100))
PUBLISHERS = {
    # service principal -> the ARNs of its sources in this account
    "cloudwatch.amazonaws.com": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
    "budgets.amazonaws.com": "arn:${AWS::Partition}:budgets::${AWS::AccountId}:*",
}


def _topic_policy() -> dict:
    return {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [{"Ref": TOPIC}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": service.split(".")[0].capitalize() + "Publish",
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "sns:Publish",
                        "Resource": {"Ref": TOPIC},
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                            "ArnLike": {"aws:SourceArn": {"Fn::Sub": sources}},
                        },
                    }
                    for service, sources in PUBLISHERS.items()
                ],
            },
        },
    }


def _budget() -> dict:
    return {
        "Type": "AWS::Budgets::Budget",
        "Condition": ENABLED,
        "Properties": {
            "Budget": {
                # Budgets are per account, not per region: the region keeps two regions' stacks apart.
                "BudgetName": {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"},
                "BudgetType": "COST",
                "TimeUnit": "MONTHLY",
                "BudgetLimit": {"Amount": {"Ref": AMOUNT}, "Unit": "USD"},
                "CostFilters": {"TagKeyValue": [{"Fn::Sub": "user:cost-center$${" + COST_CENTER + "}"}]},
            },
            "NotificationsWithSubscribers": [
                {
                    "Notification": {
                        "NotificationType": kind,
                        "ComparisonOperator": "GREATER_THAN",
                        "Threshold": percent,
                        "ThresholdType": "PERCENTAGE",
                    },
                    "Subscribers": [{"SubscriptionType": "SNS", "Address": {"Ref": TOPIC}}],
                }
                for kind, percent in THRESHOLDS
            ],
        },
    }


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameter(
        out,
        AMOUNT,
        **string_parameter(
            "US dollars a month for what carries this deployment's cost-center tag; the alarm topic hears at "
            "80% spent and at 100% forecast (empty: no budget)",
            AllowedPattern=r"^([0-9]{1,9}(\.[0-9]{1,2})?)?$",
        ),
    )
    add_parameter(out, COST_CENTER, **COST_CENTER_PARAMETER)
    add_condition(out, ENABLED, {"Fn::Not": [{"Fn::Equals": [{"Ref": AMOUNT}, ""]}]})
    add_resource(out, "AlarmTopicPolicy", _topic_policy())
    add_resource(out, BUDGET, _budget())
    return out
