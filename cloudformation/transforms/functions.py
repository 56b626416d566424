"""What every function shares: the app's settings as environment variables (stage, JSON logs, the
cursor key, the assistant and CORS), memory, active tracing and tags; and the API function's fault drill
settings (off by default: docs/OPERATIONS.md, "Fault drill")."""

from __future__ import annotations

from chalicelib.settings import DEFAULT_CORS_ALLOW_HEADERS
from chalicelib.settings import DEFAULT_CORS_MAX_AGE
from chalicelib.settings import DEFAULT_FAULT_LATENCY_MS
from chalicelib.settings import FAULT_KINDS
from chalicelib.settings import Settings
from cloudformation.template import API_FUNCTION
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_parameters
from cloudformation.template import checkov_skip
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.template import number_parameter
from cloudformation.template import string_parameter
from cloudformation.template import timeout
from cloudformation.transforms.observability import APP_NAMESPACE

BEDROCK_ENABLED = "BedrockEnabled"
MODEL_PARAMETER = "BedrockModelId"
# <provider>.<model>, or a cross-region inference profile: <geography>.<provider>.<model> (us., eu., apac.,
# global., ...). The IAM grant (iam.py) tells the two apart by that shape, so the stack refuses any other.
MODEL_ID_PATTERN = r"^([a-z][a-z-]*\.)?[a-z0-9-]+\.[A-Za-z0-9:-]+$"
MODEL_ID_CONSTRAINT = (
    "a foundation model id (provider.model) or a cross-region inference profile id "
    "(geography.provider.model); not an ARN"
)
# API Gateway (REST) stops waiting for its integration after 29 s and answers 504 itself. The API
# function's timeout (.chalice/config.json, lambda_functions.api_handler) must stay below that, so a slow
# request is stopped by Lambda (logged "Task timed out", counted by the UnhandledExceptions alarm)
# instead of running on, and perhaps writing, for a caller who already has their 504.
API_GATEWAY_TIMEOUT_SECONDS = 29

CHECKOV_SKIPS = {
    "CKV_AWS_116": "No asynchronous invocations: API Gateway invokes synchronously and SQS consumers are "
    "redriven by the queue's own dead-letter queue.",
    "CKV_AWS_117": "In a VPC only with PrivateNetwork (network.py): by default the functions call only AWS public "
    "endpoints, and endpoints would break the storage-only idle cost; the notifier, posting to Slack, stays out.",
    "CKV_AWS_115": "Concurrency is bounded by the API stage's throttling; reserving it would take capacity from "
    "the account pool.",
    "CKV_AWS_173": "Lambda encrypts environment variables at rest with its service key; they hold names and "
    "the per-stack cursor key only, not worth a $1/month customer managed key.",
}


def _check_api_timeout(template: Template) -> None:
    api = dict(functions(template)).get(API_FUNCTION)
    if api is not None and timeout(api) >= API_GATEWAY_TIMEOUT_SECONDS:
        raise ValueError(
            f"{API_FUNCTION} times out after {timeout(api)} s, but API Gateway gives up after "
            f"{API_GATEWAY_TIMEOUT_SECONDS} s: set lambda_functions.api_handler.lambda_timeout "
            f"below it in .chalice/config.json"
        )


PARAMETERS = {
    "AppStage": string_parameter(
        "APP_STAGE: reported by /health and in every log line", "prod", AllowedPattern="^[a-z][a-z0-9-]{0,15}$"
    ),
    "LogLevel": string_parameter("LOG_LEVEL", "INFO", AllowedValues=["DEBUG", "INFO", "WARNING", "ERROR"]),
    "FunctionMemorySize": number_parameter(
        "MB per function; CPU scales with it, and so does cold-start time", 512, MinValue=128, MaxValue=10240
    ),
    "AssistantProvider": string_parameter(
        "ASSISTANT_PROVIDER: off answers 503 feature_disabled; bedrock grants InvokeModel",
        "offline",
        AllowedValues=["offline", "bedrock", "off"],
    ),
    MODEL_PARAMETER: string_parameter(
        "BEDROCK_MODEL_ID: a foundation model id available on demand in this region (amazon.nova-micro-v1:0), "
        "or a cross-region inference profile id (us.amazon.nova-micro-v1:0)",
        Settings().bedrock_model_id,
        AllowedPattern=MODEL_ID_PATTERN,
        ConstraintDescription=MODEL_ID_CONSTRAINT,
    ),
    "CorsAllowOrigins": string_parameter("CORS_ALLOW_ORIGINS: comma-separated origins (empty: no CORS)"),
    "CorsAllowHeaders": string_parameter(
        "CORS_ALLOW_HEADERS: comma-separated request headers a preflight allows",
        ",".join(DEFAULT_CORS_ALLOW_HEADERS),
    ),
    "CorsMaxAge": number_parameter(
        "CORS_MAX_AGE: seconds a browser may reuse a preflight answer", DEFAULT_CORS_MAX_AGE, MinValue=0
    ),
}

# A fault drill (chalicelib/faults.py): the API function's FAULT_* variables, each from its parameter. The
# app refuses a rate above 0 in the prod stage unless FaultInjectionInProd is true.
FAULT_PARAMETERS = {
    "FaultRate": string_parameter(
        "FAULT_RATE: the share of API requests that fail on purpose in a drill, 0 to 1 (0: off)",
        "0",
        AllowedPattern=r"^(0(\.[0-9]+)?|1(\.0+)?)$",
        ConstraintDescription="a number from 0 to 1",
    ),
    "FaultRoutes": string_parameter(
        "FAULT_ROUTES: comma-separated route templates a drill fails (GET /items,GET /items/{item_id}); "
        "empty: every route"
    ),
    "FaultKind": string_parameter(
        "FAULT_KIND: exception (500), store (the store fails: 500), throttle (the store throttles: 503), "
        "latency (FaultLatencyMs added)",
        FAULT_KINDS[0],
        AllowedValues=list(FAULT_KINDS),
    ),
    "FaultLatencyMs": number_parameter(
        "FAULT_LATENCY_MS: the delay FaultKind latency adds", DEFAULT_FAULT_LATENCY_MS, MinValue=0, MaxValue=25000
    ),
    "FaultInjectionInProd": string_parameter(
        "FAULT_INJECTION_IN_PROD: true allows a drill (FaultRate above 0) when AppStage is prod",
        "false",
        AllowedValues=["false", "true"],
    ),
}
FAULT_VARIABLES = {
    "FAULT_RATE": "FaultRate",
    "FAULT_ROUTES": "FaultRoutes",
    "FAULT_KIND": "FaultKind",
    "FAULT_LATENCY_MS": "FaultLatencyMs",
    "FAULT_INJECTION_IN_PROD": "FaultInjectionInProd",
}


def transform(template: Template) -> Template:
    out = clone(template)
    _check_api_timeout(out)
    add_parameters(out, PARAMETERS)
    add_parameters(out, FAULT_PARAMETERS)
    add_condition(out, BEDROCK_ENABLED, {"Fn::Equals": [{"Ref": "AssistantProvider"}, "bedrock"]})
    for name, function in functions(out):
        props = function["Properties"]
        props["MemorySize"] = {"Ref": "FunctionMemorySize"}
        props["Tracing"] = "Active"
        for check, why in CHECKOV_SKIPS.items():
            checkov_skip(function, check, why)
        props.setdefault("Tags", {})["app"] = "tasks-api"
        environment(function).update(
            {
                "APP_STAGE": {"Ref": "AppStage"},
                # The metric filters (observability) match the JSON `level` field.
                "LOG_FORMAT": "json",
                "LOG_LEVEL": {"Ref": "LogLevel"},
                # One random value per stack (the stack id's UUID), unknown to API callers, free: it keys
                # the cursors' MAC. Anyone allowed to read the stack or the function's configuration can
                # read it too; a cursor is bound to its caller, so a forged one reaches only their own data.
                "CURSOR_SECRET": {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]},
                "ASSISTANT_PROVIDER": {"Ref": "AssistantProvider"},
                "BEDROCK_MODEL_ID": {"Ref": MODEL_PARAMETER},
                "CORS_ALLOW_ORIGINS": {"Ref": "CorsAllowOrigins"},
                "CORS_ALLOW_HEADERS": {"Ref": "CorsAllowHeaders"},
                "CORS_MAX_AGE": {"Ref": "CorsMaxAge"},
                # EMF metrics land where the alarms and the dashboard read (observability.APP_NAMESPACE).
                "METRICS_NAMESPACE": APP_NAMESPACE,
            }
        )
        if name == API_FUNCTION:  # only the API injects faults (its requests are what a drill fails)
            environment(function).update(
                {variable: {"Ref": parameter} for variable, parameter in FAULT_VARIABLES.items()}
            )
    return out
