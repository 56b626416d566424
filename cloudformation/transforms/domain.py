"""Routing between regions: with ``DomainName``, ``HostedZoneId`` and ``CertificateArn`` set, this region's API
answers on the shared custom domain, and Route 53 sends each caller to the nearest region that is healthy.

- A REGIONAL custom domain (TLS 1.2 at least) mapped to the API's stage at its root: REST
  ``AWS::ApiGateway::DomainName`` + ``BasePathMapping``, HTTP ``AWS::ApiGatewayV2::DomainName`` + ``ApiMapping``.
  The same name exists in every region (one per region; the certificate is this region's, from ACM here).
- A Route 53 HTTPS health check on this region's own API URL, ``<EndpointURL>health``: the execute-api host
  and stage path, not the custom domain (which latency DNS may resolve to another region). GET /health
  answers 503 while the region switch says ``failed`` (the chat commands' ``fail``), so the check fails and
  the record below stops being answered; ``restore`` brings it back.
- A latency record: an A alias of the domain to this region's regional domain name, ``SetIdentifier`` and
  ``Region`` the stack's region, with that health check and ``EvaluateTargetHealth``.

Without the parameters nothing is created and each region is reachable by its own URL (EndpointURL). A Rule
refuses a partial set."""

from __future__ import annotations

import re

from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import http_api
from cloudformation.template import string_parameter
from cloudformation.template import the_api
from cloudformation.transforms.http_api import STAGE as HTTP_STAGE
from cloudformation.transforms.parameters import ENDPOINT_OUTPUT

ENABLED = "CustomDomainEnabled"
DOMAIN = "ApiDomainName"
MAPPING = "ApiDomainMapping"
HEALTH_CHECK = "ApiHealthCheck"
RECORD = "ApiLatencyRecord"
HEALTH_PATH = "health"  # GET /health, relative to the stage's URL (app.py)
TLS = "TLS_1_2"
# Route 53's defaults, written down: a checker every 30 s; 3 failures in a row make the endpoint unhealthy.
REQUEST_INTERVAL = 30
FAILURE_THRESHOLD = 3
PARAMETER_NAMES = ("DomainName", "HostedZoneId", "CertificateArn")

PARAMETERS = {
    "DomainName": string_parameter(
        "The API's custom domain, the same in every region (api.example.com): a regional custom domain here, "
        "a latency record and a health check on /health. Empty: none (the API's own URL only)",
        AllowedPattern=r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)?$",
        ConstraintDescription="empty, or a lower-case DNS name",
    ),
    "HostedZoneId": string_parameter(
        "With DomainName: the Route 53 public hosted zone the latency record goes in", AllowedPattern="^(Z[A-Z0-9]+)?$"
    ),
    "CertificateArn": string_parameter(
        "With DomainName: an ACM certificate for it in this region (a regional domain takes only its own region's)",
        AllowedPattern=r"^(arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+)?$",
    ),
}


def _is_set(name: str) -> dict:
    return {"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]}


RULES = {
    "CustomDomainNeedsZoneAndCertificate": {
        "RuleCondition": {"Fn::Or": [_is_set(name) for name in PARAMETER_NAMES]},
        "Assertions": [
            {"Assert": _is_set(name), "AssertDescription": "DomainName, HostedZoneId and CertificateArn go together"}
            for name in PARAMETER_NAMES
        ],
    }
}


def own_url(template: Template) -> tuple[str, str]:
    """(host, path) of this region's API URL, from the EndpointURL output either API step left: an Fn::Sub
    of ``https://<host>/<stage path>``; the path ends in ``/``."""
    endpoint = template.get("Outputs", {}).get(ENDPOINT_OUTPUT, {}).get("Value")
    text = endpoint.get("Fn::Sub") if isinstance(endpoint, dict) else None
    match = re.fullmatch(r"https://([^/]+)(/(?:.*/)?)", text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"the {ENDPOINT_OUTPUT} output is not an Fn::Sub of https://<host>/<path>/: {endpoint!r}")
    return match.group(1), match.group(2)


def _rest(out: Template) -> tuple[dict, dict]:
    name, _ = the_api(out)
    domain = {
        "Type": "AWS::ApiGateway::DomainName",
        "Condition": ENABLED,
        "Properties": {
            "DomainName": {"Ref": "DomainName"},
            "RegionalCertificateArn": {"Ref": "CertificateArn"},
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "SecurityPolicy": TLS,
        },
    }
    mapping = {
        "Type": "AWS::ApiGateway::BasePathMapping",
        "Condition": ENABLED,
        # The stage SAM generates for the API (its `<api>.Stage` reference): the domain's root is the stage's.
        "Properties": {"DomainName": {"Ref": DOMAIN}, "RestApiId": {"Ref": name}, "Stage": {"Ref": f"{name}.Stage"}},
    }
    return domain, mapping


def _http(out: Template, name: str) -> tuple[dict, dict]:
    domain = {
        "Type": "AWS::ApiGatewayV2::DomainName",
        "Condition": ENABLED,
        "Properties": {
            "DomainName": {"Ref": "DomainName"},
            "DomainNameConfigurations": [
                {"CertificateArn": {"Ref": "CertificateArn"}, "EndpointType": "REGIONAL", "SecurityPolicy": TLS}
            ],
        },
    }
    mapping = {
        "Type": "AWS::ApiGatewayV2::ApiMapping",
        "Condition": ENABLED,
        "Properties": {"DomainName": {"Ref": DOMAIN}, "ApiId": {"Ref": name}, "Stage": {"Ref": HTTP_STAGE}},
    }
    return domain, mapping


def transform(template: Template) -> Template:
    out = clone(template)
    host, path = own_url(out)
    add_parameters(out, PARAMETERS)
    out.setdefault("Rules", {}).update(RULES)
    # All three (the Rule refuses fewer); naming each lets a linter see the certificate is set where used.
    add_condition(out, ENABLED, {"Fn::And": [_is_set(name) for name in PARAMETER_NAMES]})
    name = http_api(out)
    domain, mapping = _http(out, name) if name else _rest(out)
    add_resource(out, DOMAIN, domain)
    add_resource(out, MAPPING, mapping)
    add_resource(
        out,
        HEALTH_CHECK,
        {
            "Type": "AWS::Route53::HealthCheck",
            "Condition": ENABLED,
            "Properties": {
                "HealthCheckConfig": {
                    "Type": "HTTPS",
                    "FullyQualifiedDomainName": {"Fn::Sub": host},
                    "Port": 443,
                    "ResourcePath": path + HEALTH_PATH,
                    "EnableSNI": True,
                    "RequestInterval": REQUEST_INTERVAL,
                    "FailureThreshold": FAILURE_THRESHOLD,
                },
                "HealthCheckTags": [{"Key": "Name", "Value": {"Fn::Sub": "${AWS::StackName} ${AWS::Region} health"}}],
            },
        },
    )
    add_resource(
        out,
        RECORD,
        {
            "Type": "AWS::Route53::RecordSet",
            "Condition": ENABLED,
            "Properties": {
                "HostedZoneId": {"Ref": "HostedZoneId"},
                "Name": {"Ref": "DomainName"},
                "Type": "A",
                "SetIdentifier": {"Ref": "AWS::Region"},
                "Region": {"Ref": "AWS::Region"},
                "HealthCheckId": {"Ref": HEALTH_CHECK},
                "AliasTarget": {
                    "DNSName": {"Fn::GetAtt": [DOMAIN, "RegionalDomainName"]},
                    "HostedZoneId": {"Fn::GetAtt": [DOMAIN, "RegionalHostedZoneId"]},
                    "EvaluateTargetHealth": True,
                },
            },
        },
    )
    add_output(out, "CustomDomainURL", {"Fn::Sub": "https://${DomainName}/"}, ENABLED)
    add_output(out, "ApiRegionalDomainName", {"Fn::GetAtt": [DOMAIN, "RegionalDomainName"]}, ENABLED)
    add_output(out, "ApiHealthCheckId", {"Ref": HEALTH_CHECK}, ENABLED)
    return out
