"""The private network (cloudformation/transforms/network.py), read from the built app's templates as a deployment
with given parameters would have them (support/resolve.py): what ``created`` builds, the endpoints for exactly what
the functions call, the security groups, which functions are put in the subnets, and that ``off`` adds nothing."""

from __future__ import annotations

import pytest

from cloudformation.template import functions
from cloudformation.transforms import network
from cloudformation.transforms.notifier import notifiers
from cloudformation.transforms.streaming import FUNCTION as STREAM_FUNCTION
from tests.cloudformation.support.resolve import resolve
from tests.cloudformation.support.resolve import value
from tests.cloudformation.support.stack import EXISTING_NETWORK
from tests.cloudformation.support.stack import PROJECT

FLAVOURS = ["rest", "http"]
PSEUDO = {"AWS::Region": "eu-west-1"}
CREATED = {"PrivateNetwork": "created"}
EXISTING = {"PrivateNetwork": "existing", **EXISTING_NETWORK}
# Every feature an endpoint serves: the forwarder's queue (table and queue on, the defaults), the assistant on
# Bedrock, someone allowed to run the chat command status.
EVERY_CALLER = {**CREATED, "AssistantProvider": "bedrock", "SlackAllowedUsers": "U0123ABCD"}
NO_WAY_OUT = (
    "AWS::EC2::InternetGateway",
    "AWS::EC2::EgressOnlyInternetGateway",
    "AWS::EC2::NatGateway",
    "AWS::EC2::EIP",
    "AWS::EC2::Route",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::TransitGatewayAttachment",
)


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == kind}


def _endpoints(template: dict) -> dict[str, str]:
    """Service name -> endpoint type of every VPC endpoint, names as deployed in eu-west-1."""
    return {
        value(props["ServiceName"], PSEUDO): props["VpcEndpointType"]
        for props in of_type(template, "AWS::EC2::VPCEndpoint").values()
    }


def _in_vpc(template: dict) -> set[str]:
    return {name for name, function in functions(template) if "VpcConfig" in function["Properties"]}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_off_by_default_the_stack_has_no_network_and_every_function_lambdas_own(stacks, flavour):
    deployed = resolve(stacks[flavour], {})
    assert deployed["ResolvedParameters"]["PrivateNetwork"] == "off"
    assert not [name for name, r in deployed["Resources"].items() if r["Type"].startswith("AWS::EC2::")]
    assert _in_vpc(deployed) == set()
    assert "FunctionsSecurityGroupId" not in deployed["Outputs"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_created_is_a_vpc_with_two_private_subnets_in_two_zones_and_no_way_to_the_internet(stacks, flavour):
    deployed = resolve(stacks[flavour], CREATED)
    (vpc,) = of_type(deployed, "AWS::EC2::VPC").values()
    # Interface endpoints' private DNS needs both (AWS PrivateLink guide).
    assert vpc["EnableDnsSupport"] is True and vpc["EnableDnsHostnames"] is True
    subnets = of_type(deployed, "AWS::EC2::Subnet")
    assert sorted(subnets) == sorted(network.SUBNETS)
    zones = [props["AvailabilityZone"] for props in subnets.values()]
    assert sorted(zone["Fn::Select"][0] for zone in zones) == [0, 1]
    assert all(zone["Fn::Select"][1] == {"Fn::GetAZs": ""} for zone in zones)
    assert all(props["MapPublicIpOnLaunch"] is False for props in subnets.values())
    (table,) = of_type(deployed, "AWS::EC2::RouteTable")
    associations = of_type(deployed, "AWS::EC2::SubnetRouteTableAssociation").values()
    assert sorted(a["SubnetId"]["Ref"] for a in associations) == sorted(network.SUBNETS)
    assert {a["RouteTableId"]["Ref"] for a in associations} == {table}
    assert not [n for n, r in deployed["Resources"].items() if r["Type"] in NO_WAY_OUT]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    ("parameters", "extra"),
    [
        # The defaults: the forwarder sends to the queue.
        (CREATED, {"sqs"}),
        (EVERY_CALLER, {"sqs", "bedrock-runtime", "monitoring"}),
        # No queue, no forwarder: nothing sends to SQS (consumers are polled by Lambda itself).
        ({**CREATED, "EnableSqsIntegration": "false"}, set()),
        # A channel allowed to run the chat commands is enough for status's DescribeAlarms.
        ({**CREATED, "SlackAllowedChannels": "C0123ABCD"}, {"sqs", "monitoring"}),
    ],
    ids=["defaults", "every-caller", "no-queue", "chat-channel"],
)
def test_created_has_an_endpoint_for_exactly_each_service_a_function_in_it_calls(stacks, flavour, parameters, extra):
    deployed = resolve(stacks[flavour], parameters)
    # Always: DynamoDB (free, a gateway), SSM for /health's region switch, X-Ray for active tracing.
    expected = {"dynamodb": "Gateway", "ssm": "Interface", "xray": "Interface"} | dict.fromkeys(extra, "Interface")
    assert _endpoints(deployed) == {f"com.amazonaws.eu-west-1.{service}": kind for service, kind in expected.items()}
    subnets = [{"Ref": subnet} for subnet in network.SUBNETS]
    for name, props in of_type(deployed, "AWS::EC2::VPCEndpoint").items():
        assert props["VpcId"] == {"Ref": network.VPC}, name
        if props["VpcEndpointType"] == "Gateway":
            assert props["RouteTableIds"] == [{"Ref": network.ROUTE_TABLE}], name
            continue
        assert props["PrivateDnsEnabled"] is True, name
        assert props["SubnetIds"] == subnets, name
        assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [network.ENDPOINTS_SG, "GroupId"]}], name


def _rule(props: dict) -> tuple:
    peer = (
        props.get("SourceSecurityGroupId")
        or props.get("DestinationSecurityGroupId")
        or props.get("DestinationPrefixListId")
        or props.get("CidrIp")
    )
    return props["IpProtocol"], props["FromPort"], props["ToPort"], peer


DYNAMODB_PREFIX_LIST = "pl-02cd2c6b"  # the shape EC2 gives com.amazonaws.<region>.dynamodb


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("mode", "given"), [("created", True), ("created", False), ("existing", True)])
def test_the_functions_send_https_to_dynamodbs_prefix_list_only_when_the_created_network_knows_it(
    stacks, flavour, mode, given
):
    parameters = {**(CREATED if mode == "created" else EXISTING)}
    if given:
        parameters[network.PREFIX_LIST] = DYNAMODB_PREFIX_LIST
    group = resolve(stacks[flavour], parameters)["Resources"][network.FUNCTIONS_SG]["Properties"]
    # Created: its only ways out are the endpoints and DynamoDB. Existing: the team's endpoints (or NAT) are at
    # addresses of theirs, so any; and created without the id: any, which the route table confines.
    expected = {"Ref": network.PREFIX_LIST} if mode == "created" and given else "0.0.0.0/0"
    assert [_rule(r) for r in group["SecurityGroupEgress"]] == [("tcp", 443, 443, expected)]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_created_security_groups_allow_only_https_from_the_functions_to_the_endpoints_and_dynamodb(stacks, flavour):
    deployed = resolve(stacks[flavour], CREATED)
    groups = of_type(deployed, "AWS::EC2::SecurityGroup")
    assert sorted(groups) == sorted([network.FUNCTIONS_SG, network.ENDPOINTS_SG])
    functions_sg = {"Fn::GetAtt": [network.FUNCTIONS_SG, "GroupId"]}
    endpoints_sg = {"Fn::GetAtt": [network.ENDPOINTS_SG, "GroupId"]}
    # Nothing may connect to the functions; they reach the endpoints and, through the route table, DynamoDB.
    assert "SecurityGroupIngress" not in groups[network.FUNCTIONS_SG]
    egress = [_rule(r) for r in groups[network.FUNCTIONS_SG]["SecurityGroupEgress"]]
    rules = of_type(deployed, "AWS::EC2::SecurityGroupEgress").values()
    egress += [_rule(r) for r in rules if r["GroupId"] == functions_sg]
    assert sorted(egress, key=str) == sorted([("tcp", 443, 443, endpoints_sg), ("tcp", 443, 443, "0.0.0.0/0")], key=str)
    # The endpoints answer the functions' HTTPS only, and start nothing.
    assert "SecurityGroupIngress" not in groups[network.ENDPOINTS_SG]
    ingress = [_rule(r) for r in of_type(deployed, "AWS::EC2::SecurityGroupIngress").values()]
    assert ingress == [("tcp", 443, 443, functions_sg)]
    assert [_rule(r) for r in groups[network.ENDPOINTS_SG]["SecurityGroupEgress"]] == [
        ("icmp", 252, 86, "255.255.255.255/32")
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("mode", ["created", "existing"])
def test_every_function_but_those_calling_the_internet_runs_in_the_private_subnets(stacks, flavour, mode):
    chat_alerts = {"EnableChatAlerts": "true"}  # the notifier exists
    deployed = resolve(stacks[flavour], {**(CREATED if mode == "created" else EXISTING), **chat_alerts})
    everyone = {name for name, _ in functions(deployed)}
    # The notifier posts to Slack; in the HTTP flavour the stream's function verifies tokens against Cognito's
    # public JWKS. Neither has an endpoint to reach.
    outside = set(notifiers(deployed)) | ({STREAM_FUNCTION} if flavour == "http" else set())
    assert notifiers(deployed) and outside < everyone
    assert _in_vpc(deployed) == everyone - outside
    subnets = [{"Ref": subnet} for subnet in network.SUBNETS] if mode == "created" else {"Ref": "SubnetIds"}
    for name in everyone - outside:
        assert dict(functions(deployed))[name]["Properties"]["VpcConfig"] == {
            "SubnetIds": subnets,
            "SecurityGroupIds": [{"Fn::GetAtt": [network.FUNCTIONS_SG, "GroupId"]}],
        }, name


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_existing_brings_the_teams_subnets_and_endpoints_and_creates_only_the_functions_group(stacks, flavour):
    deployed = resolve(stacks[flavour], EXISTING)
    ec2 = {name: r["Type"] for name, r in deployed["Resources"].items() if r["Type"].startswith("AWS::EC2::")}
    assert ec2 == {network.FUNCTIONS_SG: "AWS::EC2::SecurityGroup"}
    group = deployed["Resources"][network.FUNCTIONS_SG]["Properties"]
    assert group["VpcId"] == {"Ref": "VpcId"}
    assert [_rule(r) for r in group["SecurityGroupEgress"]] == [("tcp", 443, 443, "0.0.0.0/0")]
    # The team's endpoints admit this group by its id.
    assert deployed["Outputs"]["FunctionsSecurityGroupId"]["Value"] == {"Fn::GetAtt": [network.FUNCTIONS_SG, "GroupId"]}


def _assertions_hold(template: dict, parameters: dict[str, str]) -> bool:
    """Whether the network's rule lets a deployment with these parameters through (Rules' own functions)."""
    values = {**{n: str(p.get("Default", "")) for n, p in template["Parameters"].items()}, **parameters}

    def evaluate(expr):
        if not isinstance(expr, dict):
            return expr
        ((key, arg),) = expr.items()
        if key == "Ref":
            parameter = template["Parameters"][arg]
            return values[arg].split(",") if parameter["Type"] == "CommaDelimitedList" else values[arg]
        if key == "Fn::Equals":
            return evaluate(arg[0]) == evaluate(arg[1])
        if key == "Fn::Not":
            return not evaluate(arg[0])
        if key == "Fn::Contains":
            return evaluate(arg[1]) in evaluate(arg[0])
        raise AssertionError(f"unexpected rule function {key}")

    rule = template["Rules"]["ExistingNetworkNeedsSubnetsAndVpc"]
    if not evaluate(rule["RuleCondition"]):
        return True
    return all(evaluate(a["Assert"]) for a in rule["Assertions"])


def test_existing_is_refused_without_its_subnets_or_its_vpc(built):
    assert _assertions_hold(built, EXISTING)
    assert _assertions_hold(built, {"PrivateNetwork": "created"})
    assert not _assertions_hold(built, {"PrivateNetwork": "existing"})
    assert not _assertions_hold(built, {**EXISTING, "VpcId": ""})
    assert not _assertions_hold(built, {**EXISTING, "SubnetIds": ""})
    assert not _assertions_hold(built, {**EXISTING, "SubnetIds": "subnet-0123456789abcdef0,"})


@pytest.mark.parametrize("mode", ["created", "existing"])
def test_lambda_may_create_interfaces_only_in_the_networks_subnets_with_the_functions_group(built, mode):
    deployed = resolve(built, CREATED if mode == "created" else EXISTING)
    statements = deployed["Resources"]["APIHandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (create,) = [s for s in statements if s["Action"] == list(network.CREATE_ACTIONS)]
    arn = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
    # The team's subnets may be shared from another account (AWS RAM): any account's, in this region.
    subnets = (
        [{"Fn::Sub": arn + "subnet/${PrivateSubnetA}"}, {"Fn::Sub": arn + "subnet/${PrivateSubnetB}"}]
        if mode == "created"
        else [{"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:*:subnet/*"}]
    )
    assert create["Resource"] == [
        {"Fn::Sub": arn + "network-interface/*"},
        *subnets,
        {"Fn::Sub": arn + "security-group/${FunctionsSecurityGroup.GroupId}"},
    ]


HOURS_A_MONTH = 730
ENDPOINT_HOUR = 0.01  # $ per interface endpoint per Availability Zone per hour, us-east-1 (AWS PrivateLink pricing)


def _cells(text: str, label: str) -> list[str]:
    (row,) = [line for line in text.splitlines() if line.startswith(f"| {label}")]
    return [cell.strip() for cell in row.strip("|").split("|")[1:]]


def test_the_documented_monthly_cost_of_the_endpoints_is_the_built_templates(stacks):
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    deploy = (PROJECT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    zones = len(network.SUBNETS)
    each = zones * HOURS_A_MONTH * ENDPOINT_HOUR
    for flavour in FLAVOURS:
        counts = [
            sum(kind == "Interface" for kind in _endpoints(resolve(stacks[flavour], parameters)).values())
            for parameters in (CREATED, EVERY_CALLER)
        ]
        default, every = counts
        readme_text = (
            f"{default} x {zones} AZs x {HOURS_A_MONTH} h x ${ENDPOINT_HOUR:.2f} = ${default * each:.2f} "
            f"(every caller: {every}, ${every * each:.2f})"
        )
        column = FLAVOURS.index(flavour)
        assert _cells(readme, "private network (`PrivateNetwork=created`)")[column] == readme_text, flavour
        assert _cells(deploy, "defaults (table and queue on)")[1] == f"{default} x ${each:.2f} = ${default * each:.2f}"
        assert _cells(deploy, "every caller")[1] == f"{every} x ${each:.2f} = ${every * each:.2f}"
