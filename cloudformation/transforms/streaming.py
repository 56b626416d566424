"""The streaming assistant: a second function from the same image whose entrypoint is the app's
Lambda response-streaming runtime, wired to ``POST /assistant/stream`` with ``responseTransferMode: STREAM``.

app.py declares the route (so ``chalice local`` and the tests serve it buffered); should an app not
declare it, the path is added here with the same Cognito security as every other protected route.
"""

from __future__ import annotations

from chalicelib.vocabulary import ASSISTANT_STREAM_PATH
from cloudformation.template import Template
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import functions
from cloudformation.template import the_api
from cloudformation.transforms.image import ARCHITECTURE_PARAMETER
from cloudformation.transforms.image import IMAGE_URI

FUNCTION = "AssistantStreamHandler"
PATH = ASSISTANT_STREAM_PATH
METHOD = "post"
AUTHORIZER = "CognitoAuthorizer"
# The streaming runtime speaks the Runtime API itself, so it replaces the base image's entrypoint
# (the Python runtime interface client, which only buffers) instead of naming a handler.
ENTRYPOINT = ["/var/lang/bin/python3", "-m", "chalicelib.streaming"]
# A stream may outlive API Gateway's buffered 29 s; regional endpoints allow up to 15 minutes with
# a 5-minute idle timeout. Five minutes bounds the cost of a runaway generation.
TIMEOUT_SECONDS = 300
# Matches the REST API's integration timeout to the function's, so neither cuts the other short.
INTEGRATION_TIMEOUT_MS = TIMEOUT_SECONDS * 1000


def _integration() -> dict:
    return {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": {
            "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/"
            "${" + FUNCTION + ".Arn}/response-streaming-invocations"
        },
        "responseTransferMode": "STREAM",
        "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
        "passthroughBehavior": "when_no_match",
    }


def _placeholder_method() -> dict:
    return {
        "consumes": ["*/*"],
        "produces": ["text/event-stream", "application/problem+json"],
        "responses": {"200": {"description": "a stream of server-sent events"}},
        "security": [{AUTHORIZER: []}],
    }


def transform(template: Template) -> Template:
    out = clone(template)
    api_name, api = the_api(out)
    handlers = dict(functions(out))
    if "APIHandler" not in handlers:
        raise ValueError("the streaming function copies the API handler's settings; Chalice emitted none")
    base = handlers["APIHandler"]["Properties"]
    add_resource(
        out,
        FUNCTION,
        {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "PackageType": "Image",
                "ImageUri": dict(IMAGE_URI),
                "Architectures": [{"Ref": ARCHITECTURE_PARAMETER}],
                "ImageConfig": {"EntryPoint": ENTRYPOINT, "WorkingDirectory": "/var/task"},
                "MemorySize": base.get("MemorySize", 128),
                "Timeout": TIMEOUT_SECONDS,
                "Tags": dict(base.get("Tags", {})),
                "Environment": {"Variables": dict(base.get("Environment", {}).get("Variables", {}))},
            },
        },
    )
    paths = api["Properties"]["DefinitionBody"].setdefault("paths", {})
    method = paths.setdefault(PATH, {}).setdefault(METHOD, _placeholder_method())
    method["x-amazon-apigateway-integration"] = _integration()
    add_resource(
        out,
        FUNCTION + "InvokePermission",
        {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": FUNCTION},
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                # Only this route of this API may invoke the streaming function.
                "SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                    "${" + api_name + "}/*/POST" + PATH
                },
            },
        },
    )
    return out
