"""The optional private network behind ``PrivateNetwork`` (docs/DEPLOY.md, "Private network"): the functions
in private subnets with no route to the internet, reaching AWS only through VPC endpoints.

``off`` (the default) adds nothing and every function keeps Lambda's own networking. ``created`` builds a VPC
(DNS support and hostnames, which the interface endpoints' private DNS needs), two private subnets in two
Availability Zones sharing one route table, no internet gateway and no NAT; a gateway endpoint for DynamoDB on
that route table and an interface endpoint (private DNS) for each other service a function in the VPC calls.
``existing`` puts the functions in the team's ``SubnetIds`` (of ``VpcId``) and brings no endpoint: the team's
VPC provides them (or a NAT), as DEPLOY.md lists, since a second interface endpoint with private DNS for a
service the VPC already has one for cannot be created.

Two functions stay outside either way, each for a call no endpoint serves: the notifier posts to Slack's
webhook on the internet; and in the HTTP flavour the streaming function behind its function URL verifies tokens
itself, fetching the user pool's signing keys (JWKS) from Cognito's public endpoint (a user pool with a domain,
which the stack's own pool needs for its OAuth scope, cannot be reached through PrivateLink).

iam.py grants the functions placed here the network-interface actions Lambda calls with their role
(``statements``). Runs after notifier (who posts to Slack) and function_url (who verifies tokens itself)."""

from __future__ import annotations

from typing import Any

from cloudformation.template import NO_VALUE
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import checkov_skip
from cloudformation.template import clone
from cloudformation.template import functions
from cloudformation.template import resources
from cloudformation.template import string_parameter
from cloudformation.transforms import stream
from cloudformation.transforms.functions import BEDROCK_ENABLED
from cloudformation.transforms.notifier import notifiers

PARAMETER = "PrivateNetwork"
OFF, CREATED, EXISTING = "off", "created", "existing"
ON = "PrivateNetworkOn"  # created, or existing with its subnets and VPC: the functions have a VpcConfig
CREATE = "PrivateNetworkCreated"  # the stack builds the VPC, its subnets and its endpoints
EXISTING_NETWORK = "PrivateNetworkExisting"
CHAT_COMMANDS = "ChatCommandsAllowed"  # someone may run a chat command (SlackAllowedUsers or ...Channels)

VPC = "PrivateVpc"
SUBNETS = ("PrivateSubnetA", "PrivateSubnetB")  # one per Availability Zone: the first two of the region's
ROUTE_TABLE = "PrivateRouteTable"
FUNCTIONS_SG = "FunctionsSecurityGroup"
ENDPOINTS_SG = "EndpointsSecurityGroup"
DYNAMODB_ENDPOINT = "DynamoDbEndpoint"
# The created VPC's range: two /20 subnets (4,091 usable addresses each) out of it. Nothing routes to or from
# it but its own endpoints, so it cannot clash with anything unless the team peers it.
VPC_CIDR = "10.0.0.0/16"
SUBNET_BITS = 12  # host bits per subnet: /20
HTTPS = 443


def service_name(service: str) -> dict[str, str]:
    return {"Fn::Sub": "com.amazonaws.${AWS::Region}." + service}


# Interface endpoints, by logical id: (the service's endpoint name, the condition it exists under beyond
# CREATE). Exactly what a function in the VPC calls (grep chalicelib for aws.client, lazy_client and
# the standard-library transports); event source mappings poll SQS and the table's stream from Lambda's
# side, and the runtime ships logs (and the EMF metrics in them) itself: neither needs an endpoint.
INTERFACE_ENDPOINTS: dict[str, tuple[str, str | None]] = {
    # GET /health reads the region switch (chalicelib/operations/ssm.py) on every cold cache, the chat
    # commands read their signing secret and fail/restore write the switch: always, from the API function.
    "SsmEndpoint": ("ssm", None),
    # Every function traces actively (functions.py): the X-Ray daemon in the execution environment sends the
    # segments from the function's network interface.
    "XRayEndpoint": ("xray", None),
    # The forwarder sends each change's events to the activity queue (chalicelib/events/sqs.py); it exists
    # only with the table and the queue.
    "SqsEndpoint": ("sqs", stream.ENABLED),
    # The assistant's ConverseStream (chalicelib/assistant/bedrock.py), from the API and streaming functions.
    "BedrockRuntimeEndpoint": ("bedrock-runtime", BEDROCK_ENABLED),
    # The chat command `status` lists the stack's alarms (DescribeAlarms, chalicelib/operations/alarms.py);
    # without an allowed user or channel no command runs, so the endpoint is not paid for.
    "MonitoringEndpoint": ("monitoring", CHAT_COMMANDS),
}

# The network-interface actions Lambda calls with the function's role to attach it to the subnets (Lambda
# developer guide, "Giving Lambda functions access to resources in an Amazon VPC", execution role
# permissions; the AWSLambdaVPCAccessExecutionRole managed policy holds them too).
CREATE_ACTIONS = ("ec2:CreateNetworkInterface",)
INTERFACE_ACTIONS = ("ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")
# Only on "*" (same page); DescribeSubnets is the managed policy's since its January 2024 version (IPv6 dual stack).
DESCRIBE_ACTIONS = ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")
ACTIONS = CREATE_ACTIONS + INTERFACE_ACTIONS + DESCRIBE_ACTIONS

_EC2_ARN = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
NETWORK_INTERFACES = {"Fn::Sub": _EC2_ARN + "network-interface/*"}
# The created subnets exactly; the team's by this account and region: a list parameter's members cannot each
# be turned into an ARN in CloudFormation (Fn::Join takes no function as its delimiter), and their VpcConfig
# already names them.
CREATED_SUBNET_ARNS = [{"Fn::Sub": _EC2_ARN + "subnet/${" + subnet + "}"} for subnet in SUBNETS]
# Any account: a team's subnets may be shared with this account from another (AWS RAM), whose id their ARN holds.
ANY_SUBNET_ARN = {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:*:subnet/*"}
# The endpoints that reach this account's data (the table, the queues, the parameters) admit nothing of another
# account's through them: a function in the VPC cannot be made to write elsewhere (VPC endpoint policies).
THIS_ACCOUNT_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ],
}
ACCOUNT_BOUND = ("dynamodb", "sqs", "ssm")
SECURITY_GROUP_ARN = {"Fn::Sub": _EC2_ARN + "security-group/${" + FUNCTIONS_SG + ".GroupId}"}

PREFIX_LIST = "DynamoDBPrefixListId"
PREFIX_LIST_KNOWN = "DynamoDBPrefixListKnown"

PARAMETERS = {
    PARAMETER: string_parameter(
        "off: Lambda's own networking; created: the functions in two private subnets of a VPC this stack "
        "creates, with VPC endpoints and no NAT; existing: in SubnetIds of VpcId, whose endpoints (or NAT) the "
        "team provides (docs/DEPLOY.md, Private network)",
        OFF,
        AllowedValues=[OFF, CREATED, EXISTING],
    ),
    "SubnetIds": {
        "Type": "CommaDelimitedList",
        "Default": "",
        "Description": "With PrivateNetwork existing: the private subnets (two or more Availability Zones) the "
        "functions run in",
    },
    "VpcId": string_parameter(
        "With PrivateNetwork existing: the VPC of SubnetIds (the functions' security group is created in it)",
        AllowedPattern="^(vpc-([0-9a-f]{8}|[0-9a-f]{17}))?$",
    ),
    PREFIX_LIST: string_parameter(
        "With PrivateNetwork created: the AWS-managed prefix list com.amazonaws.<region>.dynamodb (scripts/deploy.sh "
        "looks it up), the functions' only HTTPS destination besides the endpoints; empty: any address",
        AllowedPattern="^(pl-[0-9a-f]{8,17})?$",
    ),
}

CHECKOV_VPC_SKIPS = {
    "CKV2_AWS_11": "No flow logs: the VPC has no internet gateway or NAT, so its only traffic is the "
    "functions' HTTPS to AWS service endpoints, which X-Ray traces per request; a flow log would add a role "
    "and a log group billed per GB to show those same connections.",
    "CKV2_AWS_12": "The VPC's default security group is unused (every function and endpoint has its own) and "
    "CloudFormation cannot empty its rules without a custom resource; nothing is placed in it.",
}


def _tags() -> list[dict[str, str]]:
    return [{"Key": "app", "Value": "tasks-api"}]


def _created_network(out: Template) -> None:
    add_resource(
        out,
        VPC,
        {
            "Type": "AWS::EC2::VPC",
            "Condition": CREATE,
            "Properties": {
                "CidrBlock": VPC_CIDR,
                # Interface endpoints answer their service's public name with their private addresses only
                # when the VPC resolves DNS and gives hostnames (AWS PrivateLink guide, private DNS).
                "EnableDnsSupport": True,
                "EnableDnsHostnames": True,
                "Tags": _tags(),
            },
        },
    )
    for check, why in CHECKOV_VPC_SKIPS.items():
        checkov_skip(resources(out)[VPC], check, why)
    cidrs = {"Fn::Cidr": [{"Fn::GetAtt": [VPC, "CidrBlock"]}, len(SUBNETS), SUBNET_BITS]}
    add_resource(
        out,
        ROUTE_TABLE,
        {
            # Shared by both subnets: the local route and the DynamoDB gateway endpoint's, nothing else (no
            # internet gateway, no NAT).
            "Type": "AWS::EC2::RouteTable",
            "Condition": CREATE,
            "Properties": {"VpcId": {"Ref": VPC}, "Tags": _tags()},
        },
    )
    for n, subnet in enumerate(SUBNETS):
        add_resource(
            out,
            subnet,
            {
                "Type": "AWS::EC2::Subnet",
                "Condition": CREATE,
                "Properties": {
                    "VpcId": {"Ref": VPC},
                    "AvailabilityZone": {"Fn::Select": [n, {"Fn::GetAZs": ""}]},
                    "CidrBlock": {"Fn::Select": [n, cidrs]},
                    "MapPublicIpOnLaunch": False,
                    "Tags": _tags(),
                },
            },
        )
        add_resource(
            out,
            f"{subnet}RouteTableAssociation",
            {
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Condition": CREATE,
                "Properties": {"SubnetId": {"Ref": subnet}, "RouteTableId": {"Ref": ROUTE_TABLE}},
            },
        )
    add_resource(
        out,
        ENDPOINTS_SG,
        {
            "Type": "AWS::EC2::SecurityGroup",
            "Condition": CREATE,
            "Properties": {
                "GroupDescription": "The VPC endpoints: HTTPS from the functions only",
                "VpcId": {"Ref": VPC},
                # An endpoint only answers (security groups are stateful): no egress at all. One rule that
                # matches nothing (ICMP type 252 code 86 to the broadcast address) replaces the default allow-all.
                "SecurityGroupEgress": [
                    {
                        "IpProtocol": "icmp",
                        "FromPort": 252,
                        "ToPort": 86,
                        "CidrIp": "255.255.255.255/32",
                        "Description": "No egress: this rule matches nothing, replacing the default allow-all",
                    }
                ],
                "Tags": _tags(),
            },
        },
    )
    # Its own resource: inline, the two groups would name each other (a dependency cycle); likewise the
    # functions' egress to this group (_functions_security_group).
    add_resource(
        out,
        f"{ENDPOINTS_SG}Ingress",
        _https_between("Ingress", ENDPOINTS_SG, FUNCTIONS_SG, "HTTPS from the functions"),
    )
    add_resource(
        out,
        DYNAMODB_ENDPOINT,
        {
            # A gateway endpoint: a route to DynamoDB's prefix list on the route table, free of charge. The
            # store's requests (boto3 or the standard-library transport) go to dynamodb.<region>.amazonaws.com.
            "Type": "AWS::EC2::VPCEndpoint",
            "Condition": CREATE,
            "Properties": {
                "VpcEndpointType": "Gateway",
                "ServiceName": service_name("dynamodb"),
                "VpcId": {"Ref": VPC},
                "RouteTableIds": [{"Ref": ROUTE_TABLE}],
                "PolicyDocument": THIS_ACCOUNT_ONLY,
                "Tags": _tags(),
            },
        },
    )
    for name, (service, condition) in INTERFACE_ENDPOINTS.items():
        add_resource(
            out,
            name,
            {
                "Type": "AWS::EC2::VPCEndpoint",
                "Condition": f"{name}Enabled" if condition else CREATE,
                "Properties": {
                    "VpcEndpointType": "Interface",
                    "ServiceName": service_name(service),
                    "VpcId": {"Ref": VPC},
                    "SubnetIds": [{"Ref": subnet} for subnet in SUBNETS],
                    "SecurityGroupIds": [{"Fn::GetAtt": [ENDPOINTS_SG, "GroupId"]}],
                    "PrivateDnsEnabled": True,
                    # Bedrock's models, X-Ray and CloudWatch are not this account's resources: their defaults.
                    **({"PolicyDocument": THIS_ACCOUNT_ONLY} if service in ACCOUNT_BOUND else {}),
                    "Tags": _tags(),
                },
            },
        )
        if condition:
            add_condition(out, f"{name}Enabled", {"Fn::And": [{"Condition": CREATE}, {"Condition": condition}]})


def _https_between(direction: str, group: str, peer: str, description: str) -> dict:
    """One rule of the created network: HTTPS in from, or out to, the other group (rules of their own, not the
    groups' inline lists, so the two groups name each other without a cycle)."""
    return {
        "Type": f"AWS::EC2::SecurityGroup{direction}",
        "Condition": CREATE,
        "Properties": {
            "GroupId": {"Fn::GetAtt": [group, "GroupId"]},
            "IpProtocol": "tcp",
            "FromPort": HTTPS,
            "ToPort": HTTPS,
            ("SourceSecurityGroupId" if direction == "Ingress" else "DestinationSecurityGroupId"): {
                "Fn::GetAtt": [peer, "GroupId"]
            },
            "Description": description,
        },
    }


def _functions_security_group(out: Template) -> None:
    egress = [
        {
            # DynamoDB's gateway endpoint is reached at DynamoDB's public addresses, named by an AWS-managed
            # prefix list: its id (which CloudFormation cannot look up without a custom resource) is given, so
            # HTTPS goes there only. Not given: HTTPS to any address, which the route tables confine (created:
            # to the gateway endpoint, the only route out).
            "IpProtocol": "tcp",
            "FromPort": HTTPS,
            "ToPort": HTTPS,
            "DestinationPrefixListId": {"Fn::If": [PREFIX_LIST_KNOWN, {"Ref": PREFIX_LIST}, NO_VALUE]},
            "CidrIp": {"Fn::If": [PREFIX_LIST_KNOWN, NO_VALUE, "0.0.0.0/0"]},
            "Description": "HTTPS to DynamoDB: its prefix list when known, else where the route tables lead",
        },
    ]
    add_resource(
        out,
        FUNCTIONS_SG,
        {
            "Type": "AWS::EC2::SecurityGroup",
            "Condition": ON,
            "Properties": {
                "GroupDescription": "The functions: no ingress, HTTPS out to the endpoints and DynamoDB",
                "VpcId": {"Fn::If": [CREATE, {"Ref": VPC}, {"Ref": "VpcId"}]},
                "SecurityGroupEgress": egress,
                "Tags": _tags(),
            },
        },
    )
    # The created endpoints' group, named by its own resource (as the endpoints' ingress: no cycle).
    add_resource(
        out,
        f"{FUNCTIONS_SG}ToEndpoints",
        _https_between("Egress", FUNCTIONS_SG, ENDPOINTS_SG, "HTTPS to the interface endpoints"),
    )
    add_output(out, "FunctionsSecurityGroupId", {"Fn::GetAtt": [FUNCTIONS_SG, "GroupId"]}, ON)


def outside(template: Template) -> set[str]:
    """The functions that stay out of the VPC: the notifier (Slack's webhook is on the internet) and, in the
    HTTP flavour, the one behind a function URL (it fetches Cognito's JWKS to verify tokens itself)."""
    behind_url = {
        resource["Properties"]["TargetFunctionArn"]["Fn::GetAtt"][0]
        for resource in resources(template).values()
        if resource.get("Type") == "AWS::Lambda::Url"
    }
    return set(notifiers(template)) | behind_url


def private(function: dict[str, Any]) -> bool:
    """Whether the function is put in the VPC when the network is on (this transform gave it a VpcConfig)."""
    config = function.get("Properties", {}).get("VpcConfig")
    return isinstance(config, dict) and config.get("Fn::If", [None])[0] == ON


def statements() -> list[dict[str, Any]]:
    """What a private function's role needs for Lambda to attach it, only while the network is on: create
    its interfaces in its subnets with its security group, manage those interfaces, and describe them."""
    return [
        {"Fn::If": [ON, statement, NO_VALUE]}
        for statement in (
            {
                "Sid": "CreateNetworkInterfaces",
                "Effect": "Allow",
                "Action": list(CREATE_ACTIONS),
                "Resource": {
                    "Fn::If": [
                        CREATE,
                        [NETWORK_INTERFACES, *CREATED_SUBNET_ARNS, SECURITY_GROUP_ARN],
                        [NETWORK_INTERFACES, ANY_SUBNET_ARN, SECURITY_GROUP_ARN],
                    ]
                },
            },
            {
                "Sid": "ManageNetworkInterfaces",
                "Effect": "Allow",
                "Action": list(INTERFACE_ACTIONS),
                "Resource": NETWORK_INTERFACES,
            },
            {"Sid": "DescribeNetwork", "Effect": "Allow", "Action": list(DESCRIBE_ACTIONS), "Resource": "*"},
        )
    ]


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameters(out, PARAMETERS)
    add_condition(out, CREATE, {"Fn::Equals": [{"Ref": PARAMETER}, CREATED]})
    # Existing, with its subnets and VPC named (the rule below refuses it without them): so cfn-lint, too,
    # never resolves an empty SubnetIds or VpcId into a VpcConfig or a security group.
    add_condition(
        out,
        EXISTING_NETWORK,
        {
            "Fn::And": [
                {"Fn::Equals": [{"Ref": PARAMETER}, EXISTING]},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcId"}, ""]}]},
                {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "SubnetIds"}]}, ""]}]},
            ]
        },
    )
    add_condition(out, ON, {"Fn::Or": [{"Condition": CREATE}, {"Condition": EXISTING_NETWORK}]})
    # Only in the created network: a team's own (existing) reaches its endpoints, or NAT, at addresses of its own.
    add_condition(
        out,
        PREFIX_LIST_KNOWN,
        {"Fn::And": [{"Condition": CREATE}, {"Fn::Not": [{"Fn::Equals": [{"Ref": PREFIX_LIST}, ""]}]}]},
    )
    add_condition(
        out,
        CHAT_COMMANDS,
        {
            "Fn::Or": [
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "SlackAllowedUsers"}, ""]}]},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "SlackAllowedChannels"}, ""]}]},
            ]
        },
    )
    out.setdefault("Rules", {})["ExistingNetworkNeedsSubnetsAndVpc"] = {
        "RuleCondition": {"Fn::Equals": [{"Ref": PARAMETER}, EXISTING]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Contains": [{"Ref": "SubnetIds"}, ""]}]},
                "AssertDescription": "SubnetIds is required with PrivateNetwork existing (no empty member)",
            },
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcId"}, ""]}]},
                "AssertDescription": "VpcId is required with PrivateNetwork existing",
            },
        ],
    }
    _created_network(out)
    _functions_security_group(out)
    subnets = {"Fn::If": [CREATE, [{"Ref": subnet} for subnet in SUBNETS], {"Ref": "SubnetIds"}]}
    kept_out = outside(out)
    for name, function in functions(out):
        if name in kept_out:
            continue
        function["Properties"]["VpcConfig"] = {
            "Fn::If": [
                ON,
                {"SubnetIds": subnets, "SecurityGroupIds": [{"Fn::GetAtt": [FUNCTIONS_SG, "GroupId"]}]},
                NO_VALUE,
            ]
        }
    return out
