"""Cost allocation tags on every resource that takes them, the last step of the pipeline so whatever an
earlier step added is tagged too: ``app`` (tasks-api), ``stage`` (AppStage) and ``cost-center``
(CostCenter, a parameter). Activated once per account as cost allocation tags (docs/DEPLOY.md), they
split the bill by deployment, and the budget (budget.py) reads ``cost-center``.

Where and how a type takes tags differs: most a list of Key/Value pairs in ``Tags``, some a map (SAM's
resources, SSM parameters, API Gateway v2), a few under another name (a user pool's ``UserPoolTags``, a
budget's ``ResourceTags``). TAGGABLE says it per type; tests/cloudformation checks the table against the
CloudFormation schemas cfn-lint ships and that every resource of a taggable type in the built templates
carries the tags. A type the table does not know is left as it is (and that test names it). SAM's
resources also propagate their tags to what they generate (PropagateTags)."""

from __future__ import annotations

from typing import Any

from cloudformation.template import Template
from cloudformation.template import add_parameter
from cloudformation.template import clone
from cloudformation.template import resources
from cloudformation.template import string_parameter

COST_CENTER = "CostCenter"
APP = "tasks-api"
TAGS: dict[str, Any] = {
    "app": APP,
    "stage": {"Ref": "AppStage"},
    "cost-center": {"Ref": COST_CENTER},
}
LIST = "list"  # [{Key: k, Value: v}, ...]
MAP = "map"  # {k: v, ...}
# type -> (the property holding its tags, their shape)
TAGGABLE: dict[str, tuple[str, str]] = {
    "AWS::Serverless::Function": ("Tags", MAP),
    "AWS::Serverless::Api": ("Tags", MAP),
    "AWS::SSM::Parameter": ("Tags", MAP),
    "AWS::ApiGatewayV2::Api": ("Tags", MAP),
    "AWS::ApiGatewayV2::Stage": ("Tags", MAP),
    "AWS::ApiGatewayV2::DomainName": ("Tags", MAP),
    "AWS::Route53::HealthCheck": ("HealthCheckTags", LIST),
    "AWS::Cognito::UserPool": ("UserPoolTags", MAP),
    "AWS::Budgets::Budget": ("ResourceTags", LIST),
    **dict.fromkeys(
        (
            "AWS::ApiGateway::DomainName",
            "AWS::ApiGateway::RestApi",
            "AWS::ApiGateway::Stage",
            "AWS::CloudFront::Distribution",
            "AWS::CloudWatch::Alarm",
            "AWS::CloudWatch::Dashboard",
            "AWS::DynamoDB::Table",
            "AWS::EC2::RouteTable",
            "AWS::EC2::SecurityGroup",
            "AWS::EC2::Subnet",
            "AWS::EC2::VPC",
            "AWS::EC2::VPCEndpoint",
            "AWS::ECR::Repository",
            "AWS::IAM::Role",
            "AWS::Lambda::EventSourceMapping",
            "AWS::Lambda::Function",
            "AWS::Logs::LogGroup",
            "AWS::S3::Bucket",
            "AWS::SNS::Topic",
            "AWS::SQS::Queue",
        ),
        ("Tags", LIST),
    ),
}
# SAM's resources hand their tags on to the resources they generate (the stage, the event source mappings).
PROPAGATING = ("AWS::Serverless::Function", "AWS::Serverless::Api")
PARAMETER = string_parameter(
    "The cost-center tag on every resource (with app and stage): activate it as a cost allocation tag to "
    "split the bill by it; the budget counts what carries it",
    APP,
    AllowedPattern="^[A-Za-z0-9 _.:/=+@-]{1,256}$",
)


def tag(resource: dict[str, Any], tags: dict[str, Any] = TAGS) -> None:
    """Set ``tags`` on ``resource`` in the shape its type takes, keeping its other tags."""
    where, shape = TAGGABLE[resource["Type"]]
    props = resource.setdefault("Properties", {})
    if shape == MAP:
        props[where] = {**props.get(where, {}), **tags}
    else:
        kept = [t for t in props.get(where, []) if t["Key"] not in tags]
        props[where] = kept + [{"Key": key, "Value": value} for key, value in tags.items()]
    if resource["Type"] in PROPAGATING:
        props["PropagateTags"] = True


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameter(out, COST_CENTER, **PARAMETER)
    for resource in resources(out).values():
        if resource.get("Type") in TAGGABLE:
            tag(resource)
    return out
