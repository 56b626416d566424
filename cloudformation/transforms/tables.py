"""Feature-flagged DynamoDB tables: each behind an ``Enable<Name>Table`` parameter. Disabled means no
table, no IAM statement (see iam.py) and ``STORE=off`` with an empty ``TABLE_NAME``: the routes that
need it answer ``503 feature_disabled``. The tasks table has a change stream, which stream.py forwards.

Regions (``TableRegions``, a comma list, first = the home region; docs/DEPLOY.md "Two regions"): empty is
one region and the ``AWS::DynamoDB::Table`` of old. Listed, the same template deployed in each listed region
makes one global table: the home region's stack creates the ``AWS::DynamoDB::GlobalTable`` (a replica per
listed region, one consistency mode, ``TableConsistency``), and every other region's stack creates no table
and uses its own region's replica, whose name is fixed (``<stack name>-tasks``, the same stack name in every
region) and whose stream ARN the deploy passes in (``TableStreamArn``: a replica's stream ARN carries a label
only DynamoDB knows). ``table_name``, ``table_arns`` and ``stream_arn`` answer for the three cases, so what
names the table elsewhere never asks which one it is in.

CloudFormation has no loop, so a list of regions becomes at most ``MAX_REGIONS`` replica entries, each kept
by a condition on the list's length (the parameter's pattern refuses a longer list). Its Rules refuse what
DynamoDB would refuse for multi-Region strong consistency (``STRONG``): anything but three regions of one
Region set, or two and a witness of that set (``strong_consistency_rule``). A Rule cannot tell the home
region (Rules have no Fn::Select or Fn::Split), so a non-home stack without ``TableStreamArn`` is stopped by
Lambda refusing the forwarder's empty event source instead; scripts/deploy.sh always passes it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from chalicelib.keys import TTL_ATTRIBUTE
from chalicelib.settings import TABLE_CONSISTENCIES
from chalicelib.store.dynamodb import GSI1
from chalicelib.store.dynamodb import GSI1PK
from chalicelib.store.dynamodb import GSI1SK
from chalicelib.store.dynamodb import PK
from chalicelib.store.dynamodb import SK
from cloudformation.template import NO_VALUE
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameter
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.template import string_parameter
from cloudformation.transforms.tags import TAGS as COST_TAGS


@dataclass(frozen=True)
class Table:
    name: str  # Tasks -> EnableTasksTable, TasksTableEnabled, TasksTable, TasksGlobalTable

    @property
    def parameter(self) -> str:
        return f"Enable{self.name}Table"

    @property
    def condition(self) -> str:
        """The table is on (somewhere): the app uses it."""
        return f"{self.name}TableEnabled"

    @property
    def resource(self) -> str:
        return f"{self.name}Table"

    @property
    def single_condition(self) -> str:
        """On, in one region: the ``AWS::DynamoDB::Table`` exists."""
        return f"{self.name}SingleTable"

    @property
    def global_resource(self) -> str:
        return f"{self.name}GlobalTable"

    @property
    def global_condition(self) -> str:
        """On, in the home region of several: the ``AWS::DynamoDB::GlobalTable`` exists."""
        return f"{self.name}GlobalTableCreated"

    @property
    def fixed_name(self) -> str:
        """The table's name in every region of several (an Fn::Sub): the replicas share one name."""
        return "${AWS::StackName}-" + self.name.lower()


TASKS = Table("Tasks")
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
TABLES = (TASKS,)

REGIONS_PARAMETER = "TableRegions"
CONSISTENCY_PARAMETER = "TableConsistency"
WITNESS_PARAMETER = "TableWitnessRegion"
STREAM_PARAMETER = "TableStreamArn"
EVENTUAL, STRONG = "EVENTUAL", "STRONG"
MULTI_REGION = "MultiRegion"
HOME = "TableHome"
REPLICA = "TableReplica"  # several regions, and this is not the home one: no table resource here
STRONGLY_CONSISTENT = "TableStronglyConsistent"
WITNESSED = "TableWitnessed"
# Replica entries the template can hold: three, what multi-Region strong consistency takes (and enough for
# an active-active pair plus one). A longer list is refused by the parameter's pattern.
MAX_REGIONS = 3
_EVENTUAL_WRITES, _STRONG_WRITES = TABLE_CONSISTENCIES  # the app's TABLE_CONSISTENCY values
# The Region sets multi-Region strong consistency allows; its replicas and witness are all of one set
# (AWS::DynamoDB::GlobalTable GlobalTableWitness, https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-dynamodb-globaltable-globaltablewitness.html).
STRONG_REGION_SETS = {
    "US": ("us-east-1", "us-east-2", "us-west-2"),
    "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
}
_REGION = r"[a-z]{2}(-[a-z]+)+-[0-9]"
REGIONS_PATTERN = f"^({_REGION}(,{_REGION}){{0,{MAX_REGIONS - 1}}})?$"
STREAM_ARN_PATTERN = r"^(arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+/stream/.+)?$"

# The list, padded so index MAX_REGIONS - 1 always exists ("" where the list is shorter).
_PADDED = {"Fn::Split": [",", {"Fn::Sub": "${" + REGIONS_PARAMETER + "}" + "," * (MAX_REGIONS - 1)}]}


def listed_region(index: int) -> dict:
    """The list's ``index``-th region ("" past its end); 0 is the home region."""
    return {"Fn::Select": [index, _PADDED]}


def has_region(index: int) -> str:
    return f"TableRegions{index + 1}"  # TableRegions2: the list names a second region


PARAMETERS = {
    REGIONS_PARAMETER: string_parameter(
        "REGIONS: comma-separated regions of a global table, the home region (which creates it) first; "
        f"at most {MAX_REGIONS}. Empty: one region, a single table",
        AllowedPattern=REGIONS_PATTERN,
        ConstraintDescription=f"empty, or up to {MAX_REGIONS} comma-separated region names (us-east-1,eu-west-1)",
    ),
    CONSISTENCY_PARAMETER: string_parameter(
        "With TableRegions: the global table's multi-Region consistency (STRONG: three regions of one Region "
        "set, or two and TableWitnessRegion; no TTL). Fixed once the table exists",
        EVENTUAL,
        AllowedValues=[EVENTUAL, STRONG],
    ),
    WITNESS_PARAMETER: string_parameter(
        "With TableConsistency STRONG and two TableRegions: the witness region (same Region set)",
        AllowedPattern=f"^({_REGION})?$",
    ),
    STREAM_PARAMETER: string_parameter(
        "In a region of TableRegions other than the first: this region's replica's stream ARN (scripts/deploy.sh "
        "looks it up); the forwarder reads it",
        AllowedPattern=STREAM_ARN_PATTERN,
        ConstraintDescription="empty, or a DynamoDB stream ARN (arn:aws:dynamodb:<region>:<account>:table/...)",
    ),
}


def _conditions(table: Table) -> dict:
    not_empty = {"Fn::Not": [{"Fn::Equals": [{"Ref": REGIONS_PARAMETER}, ""]}]}
    found = {
        MULTI_REGION: not_empty,
        HOME: {"Fn::And": [{"Condition": MULTI_REGION}, {"Fn::Equals": [{"Ref": "AWS::Region"}, listed_region(0)]}]},
        REPLICA: {"Fn::And": [{"Condition": MULTI_REGION}, {"Fn::Not": [{"Condition": HOME}]}]},
        STRONGLY_CONSISTENT: {"Fn::Equals": [{"Ref": CONSISTENCY_PARAMETER}, STRONG]},
        WITNESSED: {"Fn::Not": [{"Fn::Equals": [{"Ref": WITNESS_PARAMETER}, ""]}]},
        table.single_condition: {
            "Fn::And": [{"Condition": table.condition}, {"Fn::Not": [{"Condition": MULTI_REGION}]}]
        },
        table.global_condition: {"Fn::And": [{"Condition": table.condition}, {"Condition": HOME}]},
    }
    for index in range(1, MAX_REGIONS):
        found[has_region(index)] = {"Fn::Not": [{"Fn::Equals": [listed_region(index), ""]}]}
    return found


def _rule(condition: dict, assertion: dict, description: str) -> dict:
    return {"RuleCondition": condition, "Assertions": [{"Assert": assertion, "AssertDescription": description}]}


def _any(conditions: list) -> dict:
    """Fn::Or of any number of conditions (a Rule's Fn::Or takes 2 to 10)."""
    if len(conditions) == 1:
        return conditions[0]
    if len(conditions) <= 10:
        return {"Fn::Or": conditions}
    return {"Fn::Or": [_any(conditions[:9]), _any(conditions[9:])]}


def strong_consistency_rule() -> dict:
    """STRONG only where DynamoDB allows it: three replicas of one Region set, or two and a witness of that
    set (a Rule can only compare whole values, so every allowed list is written out: there are few)."""
    three: list[str] = []
    witnessed: list[dict] = []
    for regions in STRONG_REGION_SETS.values():
        three.extend(",".join(chosen) for chosen in itertools.permutations(regions, 3))
        for witness in regions:
            pairs = [",".join(pair) for pair in itertools.permutations([r for r in regions if r != witness], 2)]
            witnessed.append(
                {
                    "Fn::And": [
                        {"Fn::Equals": [{"Ref": WITNESS_PARAMETER}, witness]},
                        {"Fn::Contains": [pairs, {"Ref": REGIONS_PARAMETER}]},
                    ]
                }
            )
    no_witness = {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": WITNESS_PARAMETER}, ""]},
            {"Fn::Contains": [three, {"Ref": REGIONS_PARAMETER}]},
        ]
    }
    return _rule(
        {"Fn::Equals": [{"Ref": CONSISTENCY_PARAMETER}, STRONG]},
        _any([no_witness, *witnessed]),
        "TableConsistency STRONG needs TableRegions of three regions of one Region set (US: us-east-1, us-east-2, "
        "us-west-2; EU: eu-west-1, eu-west-2, eu-west-3, eu-central-1; AP: ap-northeast-1, -2, -3), or two and a "
        "TableWitnessRegion of that set",
    )


RULES = {
    "TableStrongConsistencyRegions": strong_consistency_rule(),
    "TableWitnessOnlyWithStrongConsistency": _rule(
        {"Fn::Not": [{"Fn::Equals": [{"Ref": WITNESS_PARAMETER}, ""]}]},
        {"Fn::Equals": [{"Ref": CONSISTENCY_PARAMETER}, STRONG]},
        "TableWitnessRegion is for TableConsistency STRONG only",
    ),
    "TableStreamOnlyWithRegions": _rule(
        {"Fn::Not": [{"Fn::Equals": [{"Ref": STREAM_PARAMETER}, ""]}]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": REGIONS_PARAMETER}, ""]}]},
        "TableStreamArn is a replica's stream: it needs TableRegions",
    ),
}

_CHECKOV = {
    "checkov": {
        "skip": [
            {
                "id": "CKV_AWS_119",
                "comment": "Encrypted with the AWS managed key (aws/dynamodb); a customer managed key costs "
                "$1/month idle and adds nothing for a single-account app.",
            }
        ]
    }
}
_TAGS = [{"Key": "app", "Value": "tasks-api"}]


def _schema() -> dict:
    """The key schema, index, TTL, stream and encryption a table has in one region or in several."""
    return {
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
    }


# The data outlives the stack: deleting or replacing the stack never deletes the table.
_RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
_PITR = {"PointInTimeRecoveryEnabled": True}


def _single_table(table: Table) -> dict:
    return {
        "Type": "AWS::DynamoDB::Table",
        "Condition": table.single_condition,
        **_RETAIN,
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            **_schema(),
            "PointInTimeRecoverySpecification": _PITR,
            "Tags": _TAGS,
        },
        "Metadata": _CHECKOV,
    }


def _replica(index: int) -> dict:
    # Point-in-time recovery and tags are each replica's own (DynamoDB does not synchronise them); the cost
    # allocation tags go on each replica here, as the tags step cannot reach into the replica list.
    tagged = [{"Key": key, "Value": value} for key, value in COST_TAGS.items()]
    return {"Region": listed_region(index), "PointInTimeRecoverySpecification": _PITR, "Tags": tagged}


def _global_table(table: Table) -> dict:
    schema = _schema()
    # Multi-Region strong consistency does not support Time to Live: the app's own expiry checks still hold
    # (an expired record reads as absent), only DynamoDB's deletion of them stops (docs/DEPLOY.md).
    schema["TimeToLiveSpecification"] = {"Fn::If": [STRONGLY_CONSISTENT, NO_VALUE, schema["TimeToLiveSpecification"]]}
    replicas: list = [_replica(0)]
    replicas.extend({"Fn::If": [has_region(i), _replica(i), NO_VALUE]} for i in range(1, MAX_REGIONS))
    return {
        "Type": "AWS::DynamoDB::GlobalTable",
        "Condition": table.global_condition,
        **_RETAIN,
        "Properties": {
            "TableName": {"Fn::Sub": table.fixed_name},
            "BillingMode": "PAY_PER_REQUEST",
            **schema,
            "MultiRegionConsistency": {"Ref": CONSISTENCY_PARAMETER},
            "GlobalTableWitnesses": {"Fn::If": [WITNESSED, [{"Region": {"Ref": WITNESS_PARAMETER}}], NO_VALUE]},
            "Replicas": replicas,
        },
        "Metadata": _CHECKOV,
    }


def _switch(table: Table, home: object, replica: object, single: object) -> dict:
    """One value per case: the home region's global table, another region's replica, the single table.
    Meaningful only where the table is on (every use sits under its condition)."""
    return {"Fn::If": [table.global_condition, home, {"Fn::If": [REPLICA, replica, single]}]}


def table_name(table: Table) -> dict:
    return _switch(table, {"Ref": table.global_resource}, {"Fn::Sub": table.fixed_name}, {"Ref": table.resource})


def stream_arn(table: Table) -> dict:
    """The table's change stream in this region (its current one: a new stream gets a new ARN)."""
    return _switch(
        table,
        {"Fn::GetAtt": [table.global_resource, "StreamArn"]},
        {"Ref": STREAM_PARAMETER},
        {"Fn::GetAtt": [table.resource, "StreamArn"]},
    )


def _replica_arn(table: Table, suffix: str = "") -> dict:
    return {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/" + table.fixed_name + suffix
    }


def table_arns(table: Table, *, index: bool) -> list:
    """The exact ARNs a statement on this table names, this region's replica where there are several (its
    index only when queried)."""
    arns: list = [
        _switch(
            table,
            {"Fn::GetAtt": [table.global_resource, "Arn"]},
            _replica_arn(table),
            {"Fn::GetAtt": [table.resource, "Arn"]},
        )
    ]
    if index:
        arns.append(
            _switch(
                table,
                {"Fn::Sub": "${" + table.global_resource + ".Arn}/index/" + GSI1},
                _replica_arn(table, "/index/" + GSI1),
                {"Fn::Sub": "${" + table.resource + ".Arn}/index/" + GSI1},
            )
        )
    return arns


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameters(out, PARAMETERS)
    out.setdefault("Rules", {}).update(RULES)
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
        for name, condition in _conditions(table).items():
            add_condition(out, name, condition)
        add_resource(out, table.resource, _single_table(table))
        add_resource(out, table.global_resource, _global_table(table))
        add_output(out, table.resource + "Name", table_name(table), table.condition)
        # What scripts/deploy.sh passes the other regions as TableStreamArn, read from the home region's stack.
        add_output(out, table.resource + "StreamArn", stream_arn(table), table.condition)
    for _, function in functions(out):
        environment(function).update(
            {
                "STORE": {"Fn::If": [TASKS.condition, "dynamodb", "off"]},
                "TABLE_NAME": {"Fn::If": [TASKS.condition, table_name(TASKS), ""]},
                "REGIONS": {"Ref": REGIONS_PARAMETER},
                # A strongly consistent global table has no transactions: the app writes in single-item steps.
                "TABLE_CONSISTENCY": {"Fn::If": [STRONGLY_CONSISTENT, _STRONG_WRITES, _EVENTUAL_WRITES]},
            }
        )
    return out
