"""Feature-flagged DynamoDB tables: each behind an ``Enable<Name>Table`` parameter. Disabled means no
table, no IAM statement (see iam.py) and ``STORE=off`` with an empty ``TABLE_NAME``: the routes that
need it answer ``503 feature_disabled``. The tasks table has a change stream, which stream.py forwards."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.keys import TTL_ATTRIBUTE
from chalicelib.store.dynamodb import GSI1
from chalicelib.store.dynamodb import GSI1PK
from chalicelib.store.dynamodb import GSI1SK
from chalicelib.store.dynamodb import PK
from chalicelib.store.dynamodb import SK
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameter
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions


@dataclass(frozen=True)
class Table:
    name: str  # Tasks -> EnableTasksTable, TasksTableEnabled, TasksTable

    @property
    def parameter(self) -> str:
        return f"Enable{self.name}Table"

    @property
    def condition(self) -> str:
        return f"{self.name}TableEnabled"

    @property
    def resource(self) -> str:
        return f"{self.name}Table"


TASKS = Table("Tasks")
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
TABLES = (TASKS,)


def _single_table(table: Table) -> dict:
    return {
        "Type": "AWS::DynamoDB::Table",
        "Condition": table.condition,
        # The data outlives the stack: deleting or replacing the stack never deletes the table.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in (PK, SK, GSI1PK, GSI1SK)],
            "KeySchema": [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": GSI1,
                    "KeySchema": [
                        {"AttributeName": GSI1PK, "KeyType": "HASH"},
                        {"AttributeName": GSI1SK, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
            # The change stream is the outbox (stream.py forwards it): both images, so the forwarder can tell
            # a create, an update and a delete apart. It exists whatever EnableSqsIntegration says (unread,
            # it costs nothing); adding it to an existing table needs no replacement.
            "StreamSpecification": {"StreamViewType": STREAM_VIEW},
            "SSESpecification": {"SSEEnabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "Tags": [{"Key": "app", "Value": "tasks-api"}],
        },
        "Metadata": {
            "checkov": {
                "skip": [
                    {
                        "id": "CKV_AWS_119",
                        "comment": "Encrypted with the AWS managed key (aws/dynamodb); a customer managed key costs "
                        "$1/month idle and adds nothing for a single-account app.",
                    }
                ]
            }
        },
    }


def transform(template: Template) -> Template:
    out = clone(template)
    for table in TABLES:
        add_parameter(
            out,
            table.parameter,
            Type="String",
            Default="true",
            AllowedValues=["true", "false"],
            Description=f"Create the {table.name} table (false: its routes answer 503 feature_disabled)",
        )
        add_condition(out, table.condition, {"Fn::Equals": [{"Ref": table.parameter}, "true"]})
        add_resource(out, table.resource, _single_table(table))
        add_output(out, table.resource + "Name", {"Ref": table.resource}, table.condition)
    for _, function in functions(out):
        environment(function).update(
            {
                "STORE": {"Fn::If": [TASKS.condition, "dynamodb", "off"]},
                "TABLE_NAME": {"Fn::If": [TASKS.condition, {"Ref": TASKS.resource}, ""]},
            }
        )
    return out


def stream_arn(table: Table) -> dict:
    """The table's change stream (its current one: a new stream gets a new ARN)."""
    return {"Fn::GetAtt": [table.resource, "StreamArn"]}


def table_arns(table: Table, *, index: bool) -> list:
    """The exact ARNs a statement on this table names (its index only when queried)."""
    arns: list = [{"Fn::GetAtt": [table.resource, "Arn"]}]
    if index:
        arns.append({"Fn::Sub": "${" + table.resource + ".Arn}/index/" + GSI1})
    return arns
