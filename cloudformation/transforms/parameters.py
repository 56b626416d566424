"""SSM instead of exports: the app stack publishes what other stacks and the operator need (its API's
URL, the table's name, the activity queue's URL, the alarm topic's ARN) as String parameters under the
stage's prefix (chalicelib/vocabulary.py SSM_PREFIX, the stage being AppStage), and nothing else
couples the stacks: no Outputs Export, no Fn::ImportValue (docs/DEPLOY.md "What the stacks exchange").

A parameter of a feature-flagged resource exists under the resource's own condition. The API's URL is
whatever the template's EndpointURL output says (Chalice's for REST, http_api.py's for HTTP)."""

from __future__ import annotations

from typing import Any

from chalicelib.vocabulary import SSM_ALARM_TOPIC_ARN
from chalicelib.vocabulary import SSM_API_URL
from chalicelib.vocabulary import SSM_PREFIX
from chalicelib.vocabulary import SSM_QUEUE_URL
from chalicelib.vocabulary import SSM_TABLE_NAME
from cloudformation.template import Template
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import with_condition
from cloudformation.transforms.observability import TOPIC
from cloudformation.transforms.queues import ACTIVITY_QUEUE
from cloudformation.transforms.queues import ENABLED as SQS_ENABLED
from cloudformation.transforms.tables import TASKS
from cloudformation.transforms.tables import table_name

STAGE_PARAMETER = "AppStage"
ENDPOINT_OUTPUT = "EndpointURL"


def ssm_path(name: str) -> str:
    """The full name of the stage's parameter ``name`` (one of vocabulary's SSM_*), for an Fn::Sub."""
    return SSM_PREFIX.format(stage="${" + STAGE_PARAMETER + "}") + "/" + name


def ssm_name(name: str) -> dict[str, str]:
    """The full name of the stage's parameter ``name``, as the stack computes it."""
    return {"Fn::Sub": ssm_path(name)}


def _parameter(name: str, value: Any, description: str, condition: str | None = None) -> dict:
    return with_condition(
        {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": ssm_name(name), "Type": "String", "Value": value, "Description": description},
        },
        condition,
    )


def transform(template: Template) -> Template:
    out = clone(template)
    endpoint = out.get("Outputs", {}).get(ENDPOINT_OUTPUT)
    if endpoint is None:
        raise ValueError(f"the template has no {ENDPOINT_OUTPUT} output to publish")
    published = [
        ("ApiUrlParameter", SSM_API_URL, endpoint["Value"], "The API's base URL", None),
        ("TableNameParameter", SSM_TABLE_NAME, table_name(TASKS), "The table's name", TASKS.condition),
        (
            "ActivityQueueUrlParameter",
            SSM_QUEUE_URL,
            {"Ref": ACTIVITY_QUEUE},
            "The activity queue's URL",
            SQS_ENABLED,
        ),
        ("AlarmTopicArnParameter", SSM_ALARM_TOPIC_ARN, {"Ref": TOPIC}, "The alarm topic's ARN", None),
    ]
    for resource, name, value, description, condition in published:
        add_resource(out, resource, _parameter(name, value, f"{description} (published by the app stack)", condition))
    return out
