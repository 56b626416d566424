"""The REST API's stage and edge: a REGIONAL endpoint (a stream's idle timeout is 5 minutes there,
30 s on EDGE), stage throttling, X-Ray tracing, JSON access logs, tags, every request no route serves sent
to the app (its 404 and 405 problems), and API Gateway's own error responses rewritten as the API's
RFC 9457 problem documents, readable by the first CORS origin.

CORS on API Gateway's own responses: a gateway response's header can be a static value or a value mapped
from the request (``method.request.header.Origin``; AWS's x-amazon-apigateway-gateway-responses.responseParameters
page), but never a choice between the two. Echoing the request's Origin would let every origin read them,
which the app's allow-list does not; so the header is the first origin of ``CorsAllowOrigins`` (static),
and only when CORS is on. With several origins the others cannot read the gateway's 401/403/404/413/429/5xx
bodies (a browser reports a network error); the app's own responses answer each listed origin."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.observability import metrics
from chalicelib.protocol.cors import EXPOSE_HEADERS
from chalicelib.vocabulary import UNROUTED_PATH
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import checkov_skip
from cloudformation.template import clone
from cloudformation.template import number_parameter
from cloudformation.template import string_parameter
from cloudformation.template import the_api
from cloudformation.transforms.observability import APP_NAMESPACE
from cloudformation.transforms.observability import LOG_GROUP_SKIPS
from cloudformation.transforms.observability import RETENTION_DAYS

ACCESS_LOG_GROUP = "ApiAccessLogGroup"
CREATE_LOGGING_ROLE = "CreateApiGatewayLoggingRole"

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.authorizer.claims.sub",
        "time": "$context.requestTime",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "length": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationMs": "$context.integration.latency",
        "error": "$context.error.responseType",
        "userAgent": "$context.identity.userAgent",
    },
    separators=(",", ":"),
)


def _problem(title: str, code: str, status: int | None, detail: str, *, bearer: bool = False) -> dict:
    body = {
        "type": "about:blank",
        "title": title,
        **({"status": status} if status else {}),
        "code": code,
        "detail": detail,
        "request_id": "$context.requestId",
    }
    headers = {
        "gatewayresponse.header.Content-Type": "'application/problem+json'",
        "gatewayresponse.header.X-Request-Id": "context.requestId",
    }
    if bearer:
        headers["gatewayresponse.header.WWW-Authenticate"] = "'Bearer'"
    response: dict[str, Any] = {
        "responseParameters": headers,
        "responseTemplates": {"application/json": json.dumps(body, separators=(",", ":"))},
    }
    if status:
        response["statusCode"] = str(status)
    return response


# API Gateway answers these itself, before the app sees the request: the contract (docs/API.md)
# still promises a problem document, a request id, and `WWW-Authenticate: Bearer` on a 401.
GATEWAY_RESPONSES = {
    "UNAUTHORIZED": _problem("Unauthorized", "unauthorized", 401, "a valid bearer token is required", bearer=True),
    "ACCESS_DENIED": _problem("Forbidden", "forbidden", 403, "access denied"),
    # A path or method the API does not have: API Gateway's default is a misleading 403. With the app's
    # catch-all route (``_unrouted_to_the_app``) no request reaches it; kept for an app without one.
    "MISSING_AUTHENTICATION_TOKEN": _problem("Not Found", "not_found", 404, "no such resource"),
    "THROTTLED": _problem("Too Many Requests", "rate_limited", 429, "slow down and retry"),
    "REQUEST_TOO_LARGE": _problem("Payload Too Large", "payload_too_large", 413, "the request body is too large"),
    "DEFAULT_4XX": _problem("Bad Request", "bad_request", None, "the request was rejected"),
    "DEFAULT_5XX": _problem("Internal Server Error", "internal_error", None, "please retry later"),
}


ANY_METHOD = "x-amazon-apigateway-any-method"


def _unrouted_to_the_app(definition: dict) -> None:
    """Every request no route serves goes to the API function, which answers it as the app's 404 or 405
    problem with the request id (chalicelib/web/routing.py), as ``chalice local`` does.

    API Gateway answers a path it has no resource for, and a method a resource does not have, with its
    MISSING_AUTHENTICATION_TOKEN response; but when the request carries an ``Authorization`` header (every
    client of this API sends its bearer token) it answers a 403 about a malformed SigV4 header instead,
    which that response does not cover (as reported on AWS re:Post, and as Chalice's local gateway mimics).
    So nothing is left for API Gateway to miss: the app's greedy route (``UNROUTED_PATH``) takes every
    method (ANY, below every resource without a route of its own), and ANY on every other resource and on
    the root takes the methods they do not declare (declared methods take precedence over ANY). All public:
    the app answers them without a token. The cost: such requests invoke the API function (throttled with
    the stage, and billed as invocations)."""
    paths = definition.get("paths", {})
    catch_all = paths.get(UNROUTED_PATH)
    if not catch_all:
        return
    declared = next(method for method in catch_all.values() if isinstance(method, dict))
    any_method = {
        "parameters": [{"name": UNROUTED_PATH.strip("/{+}"), "in": "path", "required": True, "type": "string"}],
        "responses": declared.get("responses", {}),
        "x-amazon-apigateway-integration": declared["x-amazon-apigateway-integration"],
    }
    paths[UNROUTED_PATH] = {ANY_METHOD: any_method}
    unparameterized = {key: value for key, value in any_method.items() if key != "parameters"}
    for path, methods in paths.items():
        if path != UNROUTED_PATH:
            methods.setdefault(ANY_METHOD, clone(unparameterized))
    paths.setdefault("/", {}).setdefault(ANY_METHOD, clone(unparameterized))


def access_log_group() -> dict:
    """The API's access log group (either flavour): /<stack>/api-access, kept 30 days."""
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "LogGroupName": {"Fn::Sub": "/${AWS::StackName}/api-access"},
            "RetentionInDays": RETENTION_DAYS,
        },
        "Metadata": {"checkov": {"skip": list(LOG_GROUP_SKIPS)}},
    }


# Every 401 the API answered, whoever refused the token (the authorizer, error UNAUTHORIZED, or the app):
# the access line's status is a JSON string. The line holds no token, and the metric only counts.
SIGN_IN_FAILURES_FILTER = "ApiSignInFailuresFilter"
UNAUTHORIZED_PATTERN = '{ $.status = "401" }'


def sign_in_failures_filter() -> dict:
    """The access log's 401s as ApiSignInFailures (either flavour), which SignInFailuresAlarm reads."""
    return {
        "Type": "AWS::Logs::MetricFilter",
        "Properties": {
            "LogGroupName": {"Ref": ACCESS_LOG_GROUP},
            "FilterPattern": UNAUTHORIZED_PATTERN,
            "MetricTransformations": [
                {
                    "MetricNamespace": APP_NAMESPACE,
                    "MetricName": metrics.API_SIGN_IN_FAILURES,
                    "MetricValue": "1",
                    "DefaultValue": 0,
                }
            ],
        },
    }


def _logging_role(out: Template) -> None:
    # Access logs need the account-wide API Gateway CloudWatch role. The stack sets it unless told the
    # account already has one; the role is retained so deleting the stack never breaks other APIs.
    add_resource(
        out,
        "ApiGatewayLoggingRole",
        {
            "Type": "AWS::IAM::Role",
            "Condition": CREATE_LOGGING_ROLE,
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "PushToCloudWatchLogs",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "logs:CreateLogGroup",
                                        "logs:CreateLogStream",
                                        "logs:DescribeLogGroups",
                                        "logs:DescribeLogStreams",
                                        "logs:PutLogEvents",
                                        "logs:GetLogEvents",
                                        "logs:FilterLogEvents",
                                    ],
                                    # Account-wide by nature (every API of the account logs through it), but this
                                    # region and account only.
                                    "Resource": {
                                        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"  # noqa: E501
                                    },
                                }
                            ],
                        },
                    }
                ],
            },
        },
    )
    add_resource(
        out,
        "ApiGatewayAccount",
        {
            "Type": "AWS::ApiGateway::Account",
            "Condition": CREATE_LOGGING_ROLE,
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}},
        },
    )
    # A free, unconditional resource that depends on the account setting only when the stack makes
    # it, so the API can depend on it either way (DependsOn cannot name a conditional resource).
    add_resource(
        out,
        "ApiGatewayAccountReady",
        {
            "Type": "AWS::CloudFormation::WaitConditionHandle",
            "Metadata": {"Account": {"Fn::If": [CREATE_LOGGING_ROLE, {"Ref": "ApiGatewayAccount"}, ""]}},
        },
    )


CORS_ENABLED = "CorsEnabled"
# The first of the comma-separated CorsAllowOrigins, as a gateway response's static header value.
FIRST_ORIGIN = {
    "Fn::Sub": ["'${Origin}'", {"Origin": {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "CorsAllowOrigins"}]}]}}]
}
CORS_CONDITION = {"Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowOrigins"}, ""]}]}


def _readable_by_first_origin(response: dict) -> dict:
    """The gateway response with its headers chosen by CorsEnabled: plus Allow-Origin and Expose-Headers."""
    headers = response["responseParameters"]
    with_cors = {
        **headers,
        "gatewayresponse.header.Access-Control-Allow-Origin": FIRST_ORIGIN,
        "gatewayresponse.header.Access-Control-Expose-Headers": f"'{EXPOSE_HEADERS}'",
    }
    return {**response, "responseParameters": {"Fn::If": [CORS_ENABLED, with_cors, headers]}}


PARAMETERS = {
    "ThrottlingRateLimit": number_parameter("Stage-wide steady requests per second", 100, MinValue=1),
    "ThrottlingBurstLimit": number_parameter("Stage-wide burst of concurrent requests", 200, MinValue=1),
    "ApiGatewayAccountLogging": string_parameter(
        "create: set the account's API Gateway CloudWatch role; existing: the account has one",
        "create",
        AllowedValues=["create", "existing"],
    ),
}


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameters(out, PARAMETERS)
    add_condition(out, CREATE_LOGGING_ROLE, {"Fn::Equals": [{"Ref": "ApiGatewayAccountLogging"}, "create"]})
    add_condition(out, CORS_ENABLED, CORS_CONDITION)
    _logging_role(out)
    add_resource(out, ACCESS_LOG_GROUP, access_log_group())
    add_resource(out, SIGN_IN_FAILURES_FILTER, sign_in_failures_filter())
    _, api = the_api(out)
    api["DependsOn"] = sorted(
        {
            *([api["DependsOn"]] if isinstance(api.get("DependsOn"), str) else api.get("DependsOn", [])),
            "ApiGatewayAccountReady",
        }
    )
    props = api["Properties"]
    props["Name"] = {"Ref": "AWS::StackName"}  # the ApiName dimension the alarms and dashboard use
    props["EndpointConfiguration"] = {"Type": "REGIONAL"}
    props["TracingEnabled"] = True
    props["MethodSettings"] = [
        {
            # Per-method metrics are custom metrics billed per method; the stage's own are free and
            # are what the alarms and the dashboard read.
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "MetricsEnabled": False,
            "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        }
    ]
    props["AccessLogSetting"] = {
        "DestinationArn": {"Fn::GetAtt": [ACCESS_LOG_GROUP, "Arn"]},
        "Format": ACCESS_LOG_FORMAT,
    }
    props["Tags"] = {"app": "tasks-api"}
    checkov_skip(
        api,
        "CKV_AWS_120",
        "Responses are per caller and mostly writes; a stage cache bills by the "
        "hour, which would end the storage-only idle cost.",
    )
    definition = props["DefinitionBody"]
    definition.setdefault("info", {})["title"] = {"Ref": "AWS::StackName"}  # the same name, however imported
    _unrouted_to_the_app(definition)
    definition.setdefault("x-amazon-apigateway-gateway-responses", {}).update(
        {kind: _readable_by_first_origin(response) for kind, response in GATEWAY_RESPONSES.items()}
    )
    add_output(out, "ApiStage", props.get("StageName", "api"))
    return out
