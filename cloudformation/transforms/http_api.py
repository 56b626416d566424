"""The HTTP flavour's API: Chalice's REST API (the ``AWS::Serverless::Api`` with its swagger, its invoke
permissions and outputs) becomes an API Gateway v2 HTTP API in front of the same API function.

- One route per (method, path) of the swagger Chalice wrote, which is the app's route table (after the
  cognito and streaming steps): a route whose method carries the Cognito security requirement gets the JWT
  authorizer and that requirement's scopes (the API scope, as REST requires it), every other route is
  public (``/health``, ``/openapi.json``), and so is the app's greedy catch-all route (``UNROUTED_PATH``),
  which the same methods also get on the root (``unrouted_root_routes``): a request no other route matches
  reaches the app, which answers 404 or 405. No OPTIONS route: with a CORS configuration the HTTP API
  answers preflights itself, and ignores CORS headers from the integration (AWS: "Configure CORS for HTTP
  APIs"); a ``$default`` route would take the preflights (AWS: a ``$default`` route catches every method
  not routed, OPTIONS included), so there is none.
- The JWT authorizer: issuer = the user pool's issuer URL, audience = the accepted app client ids. Cognito
  access tokens carry no ``aud``; API Gateway then matches ``client_id`` against the audience (AWS:
  "Troubleshooting issues with HTTP API JWT authorizers").
- One Lambda proxy integration, payload format 1.0 (the REST-shaped event Chalice routes unchanged).
- The ``$default`` stage: auto-deployed, default route throttling (ThrottlingRateLimit/BurstLimit, the REST
  parameters), JSON access logs (HTTP API $context variables) to the same 30-day log group as REST's. HTTP
  APIs write access logs with the deployer's log-delivery permissions, so no account-wide role is needed.
- CORS from parameters: CorsAllowOrigins (empty: no CORS), CorsAllowMethods (default: the route table's
  methods), CorsAllowHeaders, CorsMaxAge; the API function gets no CORS settings (the app adds no headers).
- One invoke permission, for this API only (as REST's).

Raw ``AWS::ApiGatewayV2::*`` rather than ``AWS::Serverless::HttpApi``: SAM would need each route as an
event on the function (one permission per route) and rewrites CORS and authorizers into an OpenAPI body
of its own; here each route is a resource a test reads directly, and parameters feed CORS as they are.

Not offered by HTTP APIs (docs/DEPLOY.md): response streaming (the function URL serves the stream), stage
X-Ray tracing (the functions keep active tracing), gateway responses (API Gateway's own 401/403/429/5xx
bodies are its plain JSON, not problem documents; a 404 is the app's, through the catch-all routes), usage
plans and API keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.protocol.cors import EXPOSE_HEADERS
from chalicelib.vocabulary import UNROUTED_PATH
from cloudformation.template import NO_VALUE
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import checkov_skip
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.template import resources
from cloudformation.template import string_parameter
from cloudformation.template import the_api
from cloudformation.transforms import api as rest
from cloudformation.transforms import cognito
from cloudformation.transforms.functions import API_FUNCTION
from cloudformation.transforms.functions import API_GATEWAY_TIMEOUT_SECONDS

API = "HttpApi"
STAGE = "HttpApiStage"
STAGE_NAME = "$default"
INTEGRATION = "HttpApiIntegration"
AUTHORIZER = "HttpApiJwtAuthorizer"
PERMISSION = f"{API_FUNCTION}HttpApiInvokePermission"
ACCESS_LOG_GROUP = rest.ACCESS_LOG_GROUP
CORS_ENABLED = rest.CORS_ENABLED
PAYLOAD_FORMAT_VERSION = "1.0"
# Swagger's method keys -> HTTP API route methods; OPTIONS is answered by the CORS configuration.
METHODS = {m: m.upper() for m in ("get", "put", "post", "delete", "patch", "head")}
METHODS["x-amazon-apigateway-any-method"] = "ANY"
# The app's settings that only its own CORS handling reads (REST flavour).
APP_CORS_SETTINGS = ("CORS_ALLOW_ORIGINS", "CORS_ALLOW_HEADERS", "CORS_MAX_AGE")

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.authorizer.claims.sub",
        "time": "$context.requestTime",
        "method": "$context.httpMethod",
        "route": "$context.routeKey",
        "status": "$context.status",
        "length": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationMs": "$context.integrationLatency",
        "error": "$context.error.responseType",
        "authorizerError": "$context.authorizer.error",
        "userAgent": "$context.identity.userAgent",
    },
    separators=(",", ":"),
)


def routes(definition: dict) -> list[tuple[str, str, list | None]]:
    """(METHOD, path, scopes or None for a public route) for each route of the swagger, in its order."""
    found = []
    security_names = set(definition.get("securityDefinitions", {}))
    for path, methods in definition.get("paths", {}).items():
        for key, method in methods.items():
            if key == "options" or not isinstance(method, dict):
                continue
            if key not in METHODS:
                raise ValueError(f"{key} {path}: not a method an HTTP API route can have")
            requirements = method.get("security") or []
            scopes = None
            for requirement in requirements:
                for name, required in requirement.items():
                    if name not in security_names or name != cognito_authorizer(definition):
                        raise ValueError(f"{key} {path}: only the Cognito authorizer maps to the JWT authorizer")
                    scopes = list(required)
            found.append((METHODS[key], path, scopes))
    return found


def unrouted_root_routes(table: list[tuple[str, str, list | None]]) -> list[tuple[str, str, None]]:
    """Public routes on the root for each method of the app's catch-all route (app.py's ``UNROUTED_PATH``) the
    root has no route for. An HTTP API answers a request no route matches with its own ``404
    {"message":"Not Found"}``; the greedy routes (``GET /{proxy+}``, ...) take every path below the root
    that no other route matches, with any of their methods, and these take the root, so the app answers
    them all as its 404 or 405 problem with the request id (chalicelib/web/routing.py). The cost: such
    requests invoke the API function (throttled with the stage, and billed as invocations)."""
    greedy = [method for method, path, _ in table if path == UNROUTED_PATH]
    rooted = {method for method, path, _ in table if path == "/"}
    return [(method, "/", None) for method in greedy if method not in rooted]


def cognito_authorizer(definition: dict) -> str:
    """The name of the swagger's Cognito user pool authorizer (app.py declares one)."""
    names = [
        name
        for name, auth in definition.get("securityDefinitions", {}).items()
        if auth.get("x-amazon-apigateway-authorizer", {}).get("type") == "cognito_user_pools"
    ]
    if len(names) != 1:
        raise ValueError(f"expected one Cognito authorizer in the swagger, found {names}")
    return names[0]


def route_name(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path)
    return "Route" + method.title() + ("".join(w[:1].upper() + w[1:] for w in words) or "Root")


def _references(value: Any, name: str) -> bool:
    text = json.dumps(value)
    return any(
        marker in text
        for marker in (f'{{"Ref": "{name}"}}', f'"Fn::GetAtt": ["{name}"', "${" + name + "}", "${" + name + ".")
    )


def _drop_rest_api(out: Template, name: str) -> None:
    """The REST API and everything that names it: Chalice's (and streaming's) invoke permissions, outputs."""
    del resources(out)[name]
    for other in [n for n, r in resources(out).items() if _references(r, name)]:
        del resources(out)[other]
    outputs = out.get("Outputs", {})
    for other in [n for n, o in outputs.items() if _references(o, name)]:
        del outputs[other]


def _route(route_key: str, scopes: list | None) -> dict:
    props: dict[str, Any] = {
        "ApiId": {"Ref": API},
        "RouteKey": route_key,
        "Target": {"Fn::Join": ["/", ["integrations", {"Ref": INTEGRATION}]]},
    }
    if scopes is None:
        props["AuthorizationType"] = "NONE"
    else:
        props.update({"AuthorizationType": "JWT", "AuthorizerId": {"Ref": AUTHORIZER}, "AuthorizationScopes": scopes})
    route = {"Type": "AWS::ApiGatewayV2::Route", "Properties": props}
    if scopes is None:
        checkov_skip(
            route,
            "CKV_AWS_309",
            "A public route by design (health check, OpenAPI document, the 404/405 answer to a request no "
            "route serves): app.py declares it without the authorizer, and tests/cloudformation checks every "
            "other route carries the JWT authorizer.",
        )
    return route


def _split(parameter: str) -> dict:
    return {"Fn::Split": [",", {"Ref": parameter}]}


def transform(template: Template) -> Template:
    out = clone(template)
    rest_name, rest_api = the_api(out)
    definition = rest_api["Properties"]["DefinitionBody"]
    table = routes(definition)
    if not table:
        raise ValueError("the swagger has no routes: nothing for the HTTP API to serve")
    _drop_rest_api(out, rest_name)
    # The methods the app serves: not the catch-all's, which only answer 404/405.
    methods = sorted({method for method, path, _ in table if path != UNROUTED_PATH})
    add_parameters(
        out,
        {
            "ThrottlingRateLimit": rest.PARAMETERS["ThrottlingRateLimit"],
            "ThrottlingBurstLimit": rest.PARAMETERS["ThrottlingBurstLimit"],
            "CorsAllowMethods": string_parameter(
                "The HTTP API's CORS: comma-separated methods browsers may use", ",".join(methods)
            ),
        },
    )
    add_condition(out, CORS_ENABLED, rest.CORS_CONDITION)
    cors = {
        "AllowOrigins": _split("CorsAllowOrigins"),
        "AllowMethods": _split("CorsAllowMethods"),
        "AllowHeaders": _split("CorsAllowHeaders"),
        "ExposeHeaders": [h.strip() for h in EXPOSE_HEADERS.split(",")],
        "MaxAge": {"Ref": "CorsMaxAge"},
    }
    add_resource(
        out,
        API,
        {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": {"Ref": "AWS::StackName"},
                "ProtocolType": "HTTP",
                "CorsConfiguration": {"Fn::If": [CORS_ENABLED, cors, NO_VALUE]},
                "Tags": {"app": "tasks-api"},
            },
        },
    )
    add_resource(out, ACCESS_LOG_GROUP, rest.access_log_group())
    add_resource(out, rest.SIGN_IN_FAILURES_FILTER, rest.sign_in_failures_filter())
    add_resource(
        out,
        STAGE,
        {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {
                "ApiId": {"Ref": API},
                "StageName": STAGE_NAME,
                "AutoDeploy": True,
                "DefaultRouteSettings": {
                    # Route-level (detailed) metrics are billed as custom metrics; the API's own are free.
                    "DetailedMetricsEnabled": False,
                    "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
                    "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
                },
                "AccessLogSettings": {
                    "DestinationArn": {"Fn::GetAtt": [ACCESS_LOG_GROUP, "Arn"]},
                    "Format": ACCESS_LOG_FORMAT,
                },
                "Tags": {"app": "tasks-api"},
            },
        },
    )
    add_resource(
        out,
        INTEGRATION,
        {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": API},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": [API_FUNCTION, "Arn"]},
                "PayloadFormatVersion": PAYLOAD_FORMAT_VERSION,
                # The API function stops before this (functions.py checks its timeout against it).
                "TimeoutInMillis": API_GATEWAY_TIMEOUT_SECONDS * 1000,
            },
        },
    )
    add_resource(
        out,
        AUTHORIZER,
        {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": {"Ref": API},
                "Name": cognito_authorizer(definition),
                "AuthorizerType": "JWT",
                "IdentitySource": ["$request.header.Authorization"],
                "JwtConfiguration": {
                    "Issuer": cognito.ISSUER,
                    "Audience": {"Fn::Split": [",", cognito.CLIENT_IDS]},
                },
            },
        },
    )
    for method, path, scopes in table:
        add_resource(out, route_name(method, path), _route(f"{method} {path}", scopes))
    for method, path, scopes in unrouted_root_routes(table):
        add_resource(out, route_name(method, path), _route(f"{method} {path}", scopes))
    add_resource(
        out,
        PERMISSION,
        {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": API_FUNCTION},
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                # Any route of this API, no other API.
                "SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + API + "}/*"
                },
            },
        },
    )
    for name, function in functions(out):
        if name == API_FUNCTION:
            variables = environment(function)
            for setting in APP_CORS_SETTINGS:
                variables.pop(setting, None)
    add_output(out, "EndpointURL", {"Fn::Sub": "https://${" + API + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"})
    add_output(out, "HttpApiId", {"Ref": API})
    return out
