"""Two (or more) regions, read from the built templates as each region's stack would deploy them (the
goldens, both API flavours, resolved with this region's pseudo parameters): the home region's global table
and its replicas, the other regions' use of their replica by exact ARNs and the stream they are given, one
region as before; the Rules that refuse what DynamoDB would refuse; and the routing (custom domain, latency
record, health check on the region's own /health)."""

from __future__ import annotations

import json

import pytest

from chalicelib.settings import Settings
from cloudformation.template import functions
from cloudformation.transforms import domain
from cloudformation.transforms import tables
from cloudformation.transforms import tags
from cloudformation.transforms.http_api import STAGE
from tests.cloudformation.support.expected import GOLDEN_HTTP_OUTPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import read
from tests.cloudformation.support.resolve import refused_by
from tests.cloudformation.support.resolve import resolve

GOLDENS = {"rest": GOLDEN_OUTPUT, "http": GOLDEN_HTTP_OUTPUT}
ACCOUNT = "123456789012"
STACK = "tasks"  # the same stack name in every region
TABLE = f"{STACK}-tasks"
HOME, OTHER = "us-east-1", "eu-west-1"
TWO = f"{HOME},{OTHER}"
AP_WITNESS = "ap-northeast-2"
REPLICA_STREAM = f"arn:aws:dynamodb:{OTHER}:{ACCOUNT}:table/{TABLE}/stream/2026-12-01T00:00:00.000"
DOMAIN = {
    "DomainName": "api.example.com",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "CertificateArn": f"arn:aws:acm:{OTHER}:{ACCOUNT}:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
}


def pseudo(region: str) -> dict[str, str]:
    return {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": STACK,
        "AWS::URLSuffix": "amazonaws.com",
    }


@pytest.fixture(scope="module", params=list(GOLDENS))
def built(request) -> dict:
    return read(GOLDENS[request.param])


def deployed(template: dict, region: str, **overrides: str) -> dict:
    return resolve(template, overrides, pseudo(region))


def variables(template: dict, function: str) -> dict:
    return template["Resources"][function]["Properties"]["Environment"]["Variables"]


def statement(template: dict, role: str, sid: str) -> dict:
    (found,) = (
        s
        for s in template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if s.get("Sid") == sid
    )
    return found


def forwarded_stream(template: dict) -> object:
    (event,) = template["Resources"]["OnTableChange"]["Properties"]["Events"].values()
    return event["Properties"]["Stream"]


TABLE_KINDS = {"AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"}


def table_resources(template: dict) -> dict[str, dict]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] in TABLE_KINDS}


# --- the table in each region ------------------------------------------------------------------------


def test_one_region_keeps_the_single_table_and_tells_every_function_no_regions(built):
    stack = deployed(built, HOME)
    assert set(table_resources(stack)) == {"TasksTable"}
    for name, _ in functions(stack):
        assert variables(stack, name)["REGIONS"] == "", name
    assert variables(stack, "APIHandler")["TABLE_NAME"] == {"Ref": "TasksTable"}
    assert forwarded_stream(stack) == {"Fn::GetAtt": ["TasksTable", "StreamArn"]}
    assert statement(stack, "APIHandlerRole", "TasksTable")["Resource"] == [
        {"Fn::GetAtt": ["TasksTable", "Arn"]},
        {"Fn::Sub": "${TasksTable.Arn}/index/GSI1"},
    ]


def test_the_home_region_creates_the_global_table_with_one_replica_per_listed_region(built):
    single = deployed(built, HOME)["Resources"]["TasksTable"]
    stack = deployed(built, HOME, TableRegions=TWO)
    assert set(table_resources(stack)) == {"TasksGlobalTable"}
    table = stack["Resources"]["TasksGlobalTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["TableName"] == TABLE  # the name every other region's stack uses
    assert props["MultiRegionConsistency"] == "EVENTUAL" and "GlobalTableWitnesses" not in props
    assert [replica["Region"] for replica in props["Replicas"]] == [HOME, OTHER]
    for replica in props["Replicas"]:
        assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert {t["Key"] for t in replica["Tags"]} >= set(tags.TAGS), replica["Region"]
    # The same table as in one region: keys, index, TTL, the outbox's stream with both images, encryption.
    for name in (
        "BillingMode",
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "TimeToLiveSpecification",
        "StreamSpecification",
        "SSESpecification",
    ):
        assert props[name] == single["Properties"][name], name
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    for name, _ in functions(stack):
        assert variables(stack, name)["REGIONS"] == TWO, name
    assert variables(stack, "APIHandler")["TABLE_NAME"] == {"Ref": "TasksGlobalTable"}
    # This region's replica's stream, and the output scripts/deploy.sh hands the other regions.
    assert forwarded_stream(stack) == {"Fn::GetAtt": ["TasksGlobalTable", "StreamArn"]}
    assert stack["Outputs"]["TasksTableStreamArn"]["Value"] == {"Fn::GetAtt": ["TasksGlobalTable", "StreamArn"]}


def test_the_home_region_lists_a_third_region_as_a_third_replica(built):
    stack = deployed(built, "eu-west-2", TableRegions="eu-west-2,eu-west-1,eu-central-1")
    replicas = stack["Resources"]["TasksGlobalTable"]["Properties"]["Replicas"]
    assert [replica["Region"] for replica in replicas] == ["eu-west-2", "eu-west-1", "eu-central-1"]


def test_strong_consistency_has_its_witness_and_no_time_to_live(built):
    stack = deployed(
        built, HOME, TableRegions=f"{HOME},us-west-2", TableConsistency="STRONG", TableWitnessRegion="us-east-2"
    )
    props = stack["Resources"]["TasksGlobalTable"]["Properties"]
    assert props["MultiRegionConsistency"] == "STRONG"
    assert props["GlobalTableWitnesses"] == [{"Region": "us-east-2"}]
    assert [replica["Region"] for replica in props["Replicas"]] == [HOME, "us-west-2"]
    assert "TimeToLiveSpecification" not in props  # DynamoDB refuses TTL on a strongly consistent table


@pytest.mark.parametrize("consistency", ["EVENTUAL", "STRONG"])
def test_every_function_writes_in_transactions_unless_the_table_is_strongly_consistent(built, consistency):
    # DynamoDB offers no transactions on a strongly consistent global table: there the app writes in
    # single-item steps (docs/DESIGN.md "Strong consistency without transactions").
    witness = {"TableWitnessRegion": "us-east-2"} if consistency == "STRONG" else {}
    for region, extra in ((HOME, {}), ("us-west-2", {"TableStreamArn": REPLICA_STREAM})):
        stack = deployed(
            built, region, TableRegions=f"{HOME},us-west-2", TableConsistency=consistency, **witness, **extra
        )
        for name, _ in functions(stack):
            given = variables(stack, name)["TABLE_CONSISTENCY"]
            assert Settings.from_env({"TABLE_CONSISTENCY": given}).table_consistency == consistency.lower()
    single = deployed(built, HOME)
    assert {variables(single, name)["TABLE_CONSISTENCY"] for name, _ in functions(single)} == {"eventual"}


def test_another_region_creates_no_table_and_uses_its_replica_by_exact_arns_and_the_given_stream(built):
    stack = deployed(built, OTHER, TableRegions=TWO, TableStreamArn=REPLICA_STREAM)
    assert table_resources(stack) == {}
    table_arn = f"arn:aws:dynamodb:{OTHER}:{ACCOUNT}:table/{TABLE}"
    for name, _ in functions(stack):
        if "TABLE_NAME" in variables(stack, name):
            assert variables(stack, name)["TABLE_NAME"] == TABLE, name
        assert variables(stack, name)["REGIONS"] == TWO, name
    assert statement(stack, "APIHandlerRole", "TasksTable")["Resource"] == [table_arn, f"{table_arn}/index/GSI1"]
    assert forwarded_stream(stack) == REPLICA_STREAM
    assert statement(stack, "OnTableChangeRole", "ReadTableStream")["Resource"] == REPLICA_STREAM
    # What names the table elsewhere names the replica too: the SSM parameter, the output, the dashboard.
    assert stack["Resources"]["TableNameParameter"]["Properties"]["Value"] == TABLE
    assert stack["Outputs"]["TasksTableName"]["Value"] == TABLE
    assert stack["Outputs"]["TasksTableStreamArn"]["Value"] == REPLICA_STREAM
    dashboard = json.dumps(stack["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    assert f'"TableName": "{TABLE}"' in dashboard
    text = json.dumps(stack["Resources"])  # nothing left naming a table resource
    for resource in ("TasksTable", "TasksGlobalTable"):
        assert f'"Ref": "{resource}"' not in text and f'["{resource}", ' not in text and "${" + resource not in text


def test_no_role_of_another_region_names_a_table_or_stream_but_its_own_regions(built):
    stack = deployed(built, OTHER, TableRegions=TWO, TableStreamArn=REPLICA_STREAM)
    text = json.dumps({n: r for n, r in stack["Resources"].items() if r["Type"] == "AWS::IAM::Role"})
    assert ":dynamodb:" in text
    assert f":dynamodb:{HOME}:" not in text and ":dynamodb:*" not in text


def test_a_switched_off_table_is_off_in_every_region(built):
    for region, extra in ((HOME, {}), (OTHER, {"TableStreamArn": REPLICA_STREAM})):
        stack = deployed(built, region, EnableTasksTable="false", TableRegions=TWO, **extra)
        assert table_resources(stack) == {}, region
        assert variables(stack, "APIHandler")["STORE"] == "off" and variables(stack, "APIHandler")["TABLE_NAME"] == ""


# --- what the Rules refuse -----------------------------------------------------------------------------

ALLOWED = [
    {},
    {"TableRegions": TWO},
    {"TableRegions": TWO, "TableStreamArn": REPLICA_STREAM},
    {"TableRegions": "us-east-1,eu-west-1,ap-northeast-1"},  # EVENTUAL: any regions
    {"TableRegions": "us-east-1,us-east-2,us-west-2", "TableConsistency": "STRONG"},
    {"TableRegions": "eu-central-1,eu-west-3,eu-west-1", "TableConsistency": "STRONG"},
    {"TableRegions": "us-west-2,us-east-1", "TableConsistency": "STRONG", "TableWitnessRegion": "us-east-2"},
    {"TableRegions": "ap-northeast-3,ap-northeast-1", "TableConsistency": "STRONG", "TableWitnessRegion": AP_WITNESS},
    DOMAIN,
]
US_TWO, US_THREE = "us-east-1,us-west-2", "us-east-1,us-east-2,us-west-2"
PATTERN, STRONG_RULE = "TableRegions: empty, or up to 3", "TableConsistency STRONG needs"
DOMAIN_RULE = "DomainName, HostedZoneId and CertificateArn go together"
REFUSED = [  # (values, what the refusal says)
    ({"TableRegions": "us-east-1,eu-west-1,ap-northeast-1,us-west-2"}, PATTERN),  # more than the template holds
    ({"TableRegions": "us-east-1 eu-west-1"}, PATTERN),
    ({"TableConsistency": "STRONG"}, STRONG_RULE),  # one region
    ({"TableRegions": TWO, "TableConsistency": "STRONG"}, STRONG_RULE),  # two regions, no witness
    ({"TableRegions": TWO, "TableConsistency": "STRONG", "TableWitnessRegion": "us-east-2"}, STRONG_RULE),  # 2 sets
    ({"TableRegions": US_TWO, "TableConsistency": "STRONG", "TableWitnessRegion": "us-west-2"}, STRONG_RULE),
    ({"TableRegions": US_THREE, "TableConsistency": "STRONG", "TableWitnessRegion": "us-east-2"}, STRONG_RULE),  # 4
    ({"TableRegions": "us-east-1,us-west-1,us-east-2", "TableConsistency": "STRONG"}, STRONG_RULE),  # us-west-1: no set
    ({"TableRegions": TWO, "TableWitnessRegion": "us-east-2"}, "TableWitnessRegion is for TableConsistency STRONG"),
    ({"TableStreamArn": REPLICA_STREAM}, "TableStreamArn is a replica's stream: it needs TableRegions"),
    ({"TableRegions": TWO, "TableStreamArn": "not-an-arn"}, "TableStreamArn: empty, or a DynamoDB stream ARN"),
    ({"DomainName": "api.example.com"}, DOMAIN_RULE),
    ({"HostedZoneId": DOMAIN["HostedZoneId"], "CertificateArn": DOMAIN["CertificateArn"]}, DOMAIN_RULE),
]


@pytest.mark.parametrize("values", ALLOWED, ids=lambda v: json.dumps(v))
def test_the_stack_accepts_what_dynamodb_and_route_53_accept(built, values):
    assert refused_by(built, values) == []


@pytest.mark.parametrize(("values", "why"), REFUSED, ids=[json.dumps(v) for v, _ in REFUSED])
def test_the_stack_refuses_before_creating_anything_what_dynamodb_would_refuse(built, values, why):
    refusals = refused_by(built, values)
    assert refusals and all(refusal.startswith(why) for refusal in refusals), refusals


def test_every_strongly_consistent_list_the_rule_allows_is_of_one_region_set(built):
    (assertion,) = built["Rules"]["TableStrongConsistencyRegions"]["Assertions"]
    lists = [
        node["Fn::Contains"][0]
        for node in _walk(assertion["Assert"])
        if isinstance(node, dict) and "Fn::Contains" in node
    ]
    sets = [set(regions) for regions in tables.STRONG_REGION_SETS.values()]
    allowed = [text.split(",") for group in lists for text in group]
    # Three of a set in any order (6 + 24 + 6), or two of a set in any order beside each witness (6 + 24 + 6).
    assert len(allowed) == 72
    for regions in allowed:
        assert len(set(regions)) == len(regions) and any(set(regions) <= s for s in sets), regions


def _walk(node):
    yield node
    if isinstance(node, dict):
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


# --- routing -----------------------------------------------------------------------------------------


def _own_api_url(stack: dict) -> tuple[dict, str]:
    """(host as the Fn::Sub the stack resolves, stage path) of the EndpointURL output."""
    text = stack["Outputs"]["EndpointURL"]["Value"]["Fn::Sub"]
    host, _, path = text.removeprefix("https://").partition("/")
    return {"Fn::Sub": host}, "/" + path


def test_without_a_domain_no_routing_resource_is_created(built):
    stack = deployed(built, OTHER)
    kinds = {r["Type"] for r in stack["Resources"].values()}
    assert not kinds & {
        "AWS::Route53::HealthCheck",
        "AWS::Route53::RecordSet",
        "AWS::ApiGateway::DomainName",
        "AWS::ApiGatewayV2::DomainName",
    }
    assert "CustomDomainURL" not in stack["Outputs"]


def test_the_health_check_asks_this_regions_own_api_for_health_over_https(built):
    stack = deployed(built, OTHER, **DOMAIN)
    config = stack["Resources"][domain.HEALTH_CHECK]["Properties"]["HealthCheckConfig"]
    host, path = _own_api_url(stack)
    assert config["Type"] == "HTTPS" and config["Port"] == 443 and config["EnableSNI"] is True
    # The region's execute-api host and stage, never the shared name latency DNS may resolve elsewhere.
    assert config["FullyQualifiedDomainName"] == host
    assert "execute-api" in host["Fn::Sub"] and DOMAIN["DomainName"] not in json.dumps(config)
    assert config["ResourcePath"] == path + "health"
    assert config["ResourcePath"] == ("/health" if "HttpApi" in stack["Resources"] else "/api/health")
    assert stack["Outputs"]["ApiHealthCheckId"]["Value"] == {"Ref": domain.HEALTH_CHECK}


def test_the_health_checked_path_is_the_apps_public_health_route(built):
    stack = deployed(built, OTHER, **DOMAIN)
    if "HttpApi" in stack["Resources"]:
        (route,) = (
            r["Properties"]
            for r in stack["Resources"].values()
            if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == "GET /health"
        )
        assert route["AuthorizationType"] == "NONE"
    else:
        health = stack["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]["/health"]["get"]
        assert not health.get("security")


def test_the_latency_record_aliases_the_shared_name_to_this_regions_domain_behind_its_health_check(built):
    stack = deployed(built, OTHER, **DOMAIN)
    record = stack["Resources"][domain.RECORD]["Properties"]
    assert record["HostedZoneId"] == DOMAIN["HostedZoneId"] and record["Name"] == DOMAIN["DomainName"]
    assert record["Type"] == "A" and record["SetIdentifier"] == OTHER and record["Region"] == OTHER
    assert record["HealthCheckId"] == {"Ref": domain.HEALTH_CHECK}
    assert record["AliasTarget"] == {
        "DNSName": {"Fn::GetAtt": [domain.DOMAIN, "RegionalDomainName"]},
        "HostedZoneId": {"Fn::GetAtt": [domain.DOMAIN, "RegionalHostedZoneId"]},
        "EvaluateTargetHealth": True,
    }


def test_the_custom_domain_is_regional_with_tls_1_2_and_maps_its_root_to_the_apis_stage(built):
    stack = deployed(built, OTHER, **DOMAIN)
    resources = stack["Resources"]
    props = resources[domain.DOMAIN]["Properties"]
    mapping = resources[domain.MAPPING]["Properties"]
    assert props["DomainName"] == DOMAIN["DomainName"]
    if "HttpApi" in resources:
        (configuration,) = props["DomainNameConfigurations"]
        assert configuration == {
            "CertificateArn": DOMAIN["CertificateArn"],
            "EndpointType": "REGIONAL",
            "SecurityPolicy": "TLS_1_2",
        }
        assert mapping == {"DomainName": {"Ref": domain.DOMAIN}, "ApiId": {"Ref": "HttpApi"}, "Stage": {"Ref": STAGE}}
    else:
        assert props["RegionalCertificateArn"] == DOMAIN["CertificateArn"]
        assert props["EndpointConfiguration"] == {"Types": ["REGIONAL"]} and props["SecurityPolicy"] == "TLS_1_2"
        stage = {"Ref": "RestAPI.Stage"}  # the stage SAM generates
        assert mapping == {"DomainName": {"Ref": domain.DOMAIN}, "RestApiId": {"Ref": "RestAPI"}, "Stage": stage}
        assert "BasePath" not in mapping  # the domain's root is the stage's


# What an account names once for every region: a second region's stack must not take the first one's name.
ACCOUNT_WIDE_NAMES = {
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Budgets::Budget": ("Budget", "BudgetName"),
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::S3::Bucket": "BucketName",
}


def _account_wide_names(stack: dict) -> dict[str, object]:
    names = {}
    for logical, resource in stack["Resources"].items():
        path = ACCOUNT_WIDE_NAMES.get(resource["Type"])
        if path is None:
            continue
        value: object = resource["Properties"]
        for key in (path,) if isinstance(path, str) else path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            names[logical] = value
    return names


def test_the_same_stack_in_two_regions_names_nothing_the_account_holds_once_alike(built):
    # CloudWatch dashboards, budgets, IAM and S3 bucket names are one per account, whatever the region.
    home = deployed(built, HOME, TableRegions=TWO, MonthlyBudget="25")
    other = deployed(built, OTHER, TableRegions=TWO, TableStreamArn=REPLICA_STREAM, MonthlyBudget="25")
    home_names, other_names = _account_wide_names(home), _account_wide_names(other)
    assert {"Dashboard", "Budget"} <= set(home_names)
    assert not set(map(json.dumps, home_names.values())) & set(map(json.dumps, other_names.values()))


HOME_POOL = f"arn:aws:cognito-idp:{HOME}:{ACCOUNT}:userpool/{HOME}_Example1"


def test_another_region_verifies_the_home_regions_tokens_with_the_home_pool(built):
    # A user pool is regional: every region accepts the tokens of the home region's pool (scripts/deploy.sh
    # passes it), and the issuer's region is the pool's, not the stack's.
    stack = deployed(
        built,
        OTHER,
        TableRegions=TWO,
        TableStreamArn=REPLICA_STREAM,
        UserPoolArn=HOME_POOL,
        UserPoolClientIds="client-a",
        ApiScope="tasks/api",
    )
    issuer = f"https://cognito-idp.{HOME}.amazonaws.com/{HOME}_Example1"
    assert "UserPool" not in stack["Resources"]
    assert {variables(stack, name)["AUTH_ISSUER"] for name, _ in functions(stack)} == {issuer}
    if "HttpApiJwtAuthorizer" in stack["Resources"]:
        assert stack["Resources"]["HttpApiJwtAuthorizer"]["Properties"]["JwtConfiguration"]["Issuer"] == issuer
    else:
        definition = stack["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
        authorizer = definition["securityDefinitions"]["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
        assert authorizer["providerARNs"] == [HOME_POOL]


def _replication_alarms(stack: dict) -> dict[str, str]:
    """Replication latency alarms of the stack: name -> the region whose receipt it watches."""
    found = {}
    for name, resource in stack["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm" and props.get("MetricName") == "ReplicationLatency":
            dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
            assert dimensions["TableName"] in (TABLE, {"Ref": "TasksGlobalTable"}), name  # home: the table made here
            found[name] = dimensions["ReceivingRegion"]
    return found


def test_each_region_watches_its_writes_reaching_every_other_region_under_eventual_consistency(built):
    three = f"{HOME},{OTHER},us-west-2"
    home = deployed(built, HOME, TableRegions=three)
    other = deployed(built, OTHER, TableRegions=three, TableStreamArn=REPLICA_STREAM)
    assert sorted(_replication_alarms(home).values()) == sorted([OTHER, "us-west-2"])
    assert sorted(_replication_alarms(other).values()) == sorted([HOME, "us-west-2"])
    # One region has no replica; a strongly consistent table replicates before a write returns.
    assert _replication_alarms(deployed(built, HOME)) == {}
    strong = deployed(
        built, HOME, TableRegions=f"{HOME},us-west-2", TableConsistency="STRONG", TableWitnessRegion="us-east-2"
    )
    assert _replication_alarms(strong) == {}
    assert _replication_alarms(deployed(built, HOME, TableRegions=TWO, EnableTasksTable="false")) == {}
