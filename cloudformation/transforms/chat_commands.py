"""This region's switch and the Slack chat commands (docs/OPERATIONS.md): the switch as an SSM String parameter
(``serving``; the commands ``fail`` and ``restore`` overwrite it, GET /health reads it), and the API function
told the names it reads: the switch, the Slack signing secret (a SecureString the operator puts, since
CloudFormation cannot create one), who may run the commands, and the prefix of this stack's alarm names that
``status`` lists. The API function's grants on exactly these (``statements``) are added by iam.py."""

from __future__ import annotations

from typing import Any

from chalicelib.vocabulary import REGION_SERVING
from chalicelib.vocabulary import REGION_STATES
from chalicelib.vocabulary import SSM_PREFIX
from chalicelib.vocabulary import SSM_REGION_SWITCH
from chalicelib.vocabulary import SSM_SLACK_SIGNING_SECRET
from cloudformation.template import Template
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.template import string_parameter
from cloudformation.transforms.functions import API_FUNCTION

SWITCH = "RegionSwitchParameter"
# The stage's prefix as CloudFormation substitutes it: /tasks-api/${AppStage}.
PREFIX = SSM_PREFIX.format(stage="${AppStage}")
# CloudFormation names its alarms <stack name>-<logical id>-<suffix>: this stack's all start so.
ALARM_PREFIX = "${AWS::StackName}-"
_ID = r"^([A-Z0-9]+(,[A-Z0-9]+)*)?$"  # Slack user or channel ids, comma-separated

PARAMETERS = {
    "SlackAllowedUsers": string_parameter(
        "SLACK_ALLOWED_USERS: comma-separated Slack user ids (U...) who may run the chat commands (empty: none)",
        AllowedPattern=_ID,
    ),
    "SlackAllowedChannels": string_parameter(
        "SLACK_ALLOWED_CHANNELS: comma-separated Slack channel ids (C..., G...) where anyone may run the chat "
        "commands (empty: none)",
        AllowedPattern=_ID,
    ),
}


def parameter_name(suffix: str) -> dict[str, Any]:
    return {"Fn::Sub": f"{PREFIX}/{suffix}"}


def parameter_arn(suffix: str) -> dict[str, Any]:
    # A parameter's ARN is arn:...:parameter followed by its name, whose leading slash is kept.
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{PREFIX}/{suffix}"}


def statements() -> list[dict[str, Any]]:
    """The API function's grants for the switch and the chat commands, on exact ARNs: read the switch and the
    signing secret (a SecureString under the default aws/ssm key needs no KMS grant), overwrite the switch,
    and describe this stack's alarms only."""
    switch, secret = parameter_arn(SSM_REGION_SWITCH), parameter_arn(SSM_SLACK_SIGNING_SECRET)
    alarms = {
        "Fn::Sub": f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{ALARM_PREFIX}*"
    }
    return [
        {
            "Sid": "ReadRegionSwitchAndSlackSecret",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": [switch, secret],
        },
        {"Sid": "FlipRegionSwitch", "Effect": "Allow", "Action": ["ssm:PutParameter"], "Resource": switch},
        {"Sid": "DescribeOwnAlarms", "Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": alarms},
    ]


def transform(template: Template) -> Template:
    out = clone(template)
    api = dict(functions(out)).get(API_FUNCTION)
    if api is None:
        raise ValueError(f"no {API_FUNCTION} function to serve GET /health and the chat commands")
    add_parameters(out, PARAMETERS)
    add_resource(
        out,
        SWITCH,
        {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": parameter_name(SSM_REGION_SWITCH),
                "Type": "String",
                "Value": REGION_SERVING,
                "AllowedPattern": f"^({'|'.join(REGION_STATES)})$",
                "Description": "This region's switch: failed makes GET /health answer 503 (docs/OPERATIONS.md)",
                "Tags": {"app": "tasks-api"},
            },
        },
    )
    environment(api).update(
        {
            "REGION_SWITCH_PARAMETER": {"Ref": SWITCH},
            "SLACK_SIGNING_SECRET_PARAMETER": parameter_name(SSM_SLACK_SIGNING_SECRET),
            "SLACK_ALLOWED_USERS": {"Ref": "SlackAllowedUsers"},
            "SLACK_ALLOWED_CHANNELS": {"Ref": "SlackAllowedChannels"},
            "ALARM_NAME_PREFIX": {"Fn::Sub": ALARM_PREFIX},
        }
    )
    return out
