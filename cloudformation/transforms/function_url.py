"""The HTTP API flavour's stream: HTTP APIs cannot stream a response, so a Lambda function URL in
``RESPONSE_STREAM`` mode fronts the streaming function (streaming.py). Public (AuthType NONE): the function
verifies the Cognito token and the API's scope itself (AUTH_REQUIRED_SCOPE), the URL's CORS configuration
answers browsers, reserved concurrency caps it, and the API function learns the URL for openapi.json.

For the HTTP flavour only; runs after functions (the CORS parameters, the shared checkov skips), cognito
(the API scope) and http_api.
"""

from __future__ import annotations

from chalicelib.protocol.cors import EXPOSE_HEADERS
from chalicelib.vocabulary import ASSISTANT_STREAM_PATH
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
from cloudformation.template import number_parameter
from cloudformation.transforms import api as rest_api
from cloudformation.transforms.cognito import CREATE
from cloudformation.transforms.cognito import SCOPE
from cloudformation.transforms.functions import API_FUNCTION
from cloudformation.transforms.streaming import FUNCTION as STREAM_FUNCTION

URL = "AssistantStreamFunctionUrl"
CORS_ENABLED = rest_api.CORS_ENABLED
CONCURRENCY_PARAMETER = "AssistantStreamConcurrency"
# CorsAllowOrigins, CorsAllowHeaders and CorsMaxAge are functions.py's, shared with the HTTP API's CORS.
PARAMETERS = {
    # lambda/latest/dg/urls-configuration.html (Throttling function URLs): beyond it the URL answers 429;
    # 0 switches the URL off.
    CONCURRENCY_PARAMETER: number_parameter(
        "Reserved concurrency of the streaming function behind its function URL (HTTP flavour): the most "
        "streams at once; 0 turns the URL off",
        10,
        MinValue=0,
        MaxValue=1000,
    ),
}
# The function URL serves one operation; the Cors type takes no OPTIONS (the URL answers preflights itself).
ALLOW_METHODS = ["POST"]


def _split(parameter: str) -> dict:
    return {"Fn::Split": [",", {"Ref": parameter}]}


def _cors() -> dict:
    return {
        "Fn::If": [
            CORS_ENABLED,
            {
                "AllowOrigins": _split("CorsAllowOrigins"),
                "AllowMethods": ALLOW_METHODS,
                "AllowHeaders": _split("CorsAllowHeaders"),
                "ExposeHeaders": [header.strip() for header in EXPOSE_HEADERS.split(",")],
                "MaxAge": {"Ref": "CorsMaxAge"},
            },
            NO_VALUE,
        ]
    }


def transform(template: Template) -> Template:
    out = clone(template)
    found = dict(functions(out))
    if STREAM_FUNCTION not in found or API_FUNCTION not in found:
        raise ValueError(f"the function URL needs {STREAM_FUNCTION} (streaming.py) and {API_FUNCTION}")
    if "CorsAllowOrigins" not in out.get("Parameters", {}) or CREATE not in out.get("Conditions", {}):
        raise ValueError("the function URL runs after functions (CorsAllowOrigins) and cognito (the API scope)")
    add_parameters(out, PARAMETERS)
    add_condition(out, CORS_ENABLED, rest_api.CORS_CONDITION)
    url = {
        "Type": "AWS::Lambda::Url",
        "Properties": {
            "TargetFunctionArn": {"Fn::GetAtt": [STREAM_FUNCTION, "Arn"]},
            "AuthType": "NONE",
            "InvokeMode": "RESPONSE_STREAM",
            "Cors": _cors(),
        },
    }
    checkov_skip(
        url,
        "CKV_AWS_258",
        "Public on purpose, as an API route is: the function verifies the Cognito token, its client and the API "
        "scope itself and answers 401 before anything streams; IAM auth would need SigV4-signing browsers.",
    )
    add_resource(out, URL, url)
    # Public invocation through the URL, exactly as Lambda requires for AuthType NONE: lambda:InvokeFunctionUrl
    # for the NONE auth type and, for URLs created since October 2025, lambda:InvokeFunction only when invoked
    # through a function URL (lambda/latest/dg/urls-auth.html). Nothing else may invoke it with these.
    add_resource(
        out,
        f"{URL}Permission",
        {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": STREAM_FUNCTION},
                "Action": "lambda:InvokeFunctionUrl",
                "Principal": "*",
                "FunctionUrlAuthType": "NONE",
            },
        },
    )
    add_resource(
        out,
        f"{URL}InvokePermission",
        {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": STREAM_FUNCTION},
                "Action": "lambda:InvokeFunction",
                "Principal": "*",
                "InvokedViaFunctionUrl": True,
            },
        },
    )
    stream = found[STREAM_FUNCTION]
    stream["Properties"]["ReservedConcurrentExecutions"] = {"Ref": CONCURRENCY_PARAMETER}
    skips = stream.get("Metadata", {}).get("checkov", {}).get("skip", [])
    skips[:] = [skip for skip in skips if skip["id"] != "CKV_AWS_115"]  # its concurrency is reserved now
    environment(stream).update(
        {
            # No API Gateway authorizer requires the scope in front of the URL: the function does.
            "AUTH_REQUIRED_SCOPE": SCOPE,
            # The URL's CORS headers win over the function's and would be doubled by them
            # (lambda/latest/dg/urls-configuration.html, CORS): the function adds none.
            "CORS_ALLOW_ORIGINS": "",
        }
    )
    # The URL depends on the streaming function only, so the API function may depend on the URL.
    environment(found[API_FUNCTION])["ASSISTANT_STREAM_URL"] = {"Fn::GetAtt": [URL, "FunctionUrl"]}
    # FunctionUrl ends with "/": the endpoint is the operation's path under it.
    add_output(out, "AssistantStreamUrl", {"Fn::Sub": "${" + URL + ".FunctionUrl}" + ASSISTANT_STREAM_PATH[1:]})
    return out
