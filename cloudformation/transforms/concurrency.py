"""Concurrency: provisioned concurrency for the API and streaming functions (``ProvisionedConcurrency``, 0 =
off) on their published alias ``live``, and a reserved concurrency cap per function (``-1`` = uncapped).

- The alias is SAM's ``AutoPublishAlias`` (``<Function>Aliaslive``, ``<Function>.Alias`` in the template),
  which provisioned concurrency needs: Lambda attaches it to a version or an alias, never to the unqualified
  function (lambda/latest/dg/provisioned-concurrency.html). With provisioned concurrency on, every caller
  from outside the stack invokes the alias: API Gateway's integrations and invoke permissions (the REST
  swagger's, the stream's route included; the HTTP API's) and the HTTP flavour's function URL (on the alias
  ARN, as SAM's own FunctionUrlConfig puts it) and its permissions. Off (the default) they invoke the
  unqualified function as before: a published version freezes the function's configuration, and SAM
  publishes one only when the image or the template changes (below), so a deployment that changes only a
  parameter (a fault drill's ``FaultRate``, ``LogLevel``) would not reach an alias.
- When SAM publishes: ``AutoPublishAliasAllProperties`` hashes every property of the function into the
  version's logical id, but SAM resolves the parameters only in the image URI: a new ``ImageDigest`` (each
  deployment of a changed image) or a changed template publishes a version; a changed parameter alone does
  not. ``FunctionVersionHash`` (empty by default: SAM's hash) replaces that hash when set
  (``AutoPublishCodeSha256``): a deployment that passes a hash of the image digest and every parameter value
  publishes a version whenever either changes. SAM keeps the older versions (``DeletionPolicy: Retain``).
- Provisioned concurrency (AWS::Lambda::Alias ProvisionedConcurrencyConfig) applies to both functions. It
  must fit in the function's reserved concurrency when one is set, and otherwise leave the account's
  unreserved concurrency at least 100 (lambda/latest/dg/configuration-concurrency.html). CloudFormation's rule
  functions compare strings only (no "less than"), so the template cannot refuse a larger value: Lambda
  refuses it and the deployment rolls back.
- Reserved concurrency (ReservedConcurrentExecutions): ``ApiReservedConcurrency``,
  ``StreamingReservedConcurrency`` and ``ConsumerReservedConcurrency`` (each SQS consumer, capped alone). 0
  would throttle every invocation (an API that answers none, a queue nobody reads), so a rule refuses it: a
  cap is a limit, not a switch. A consumer's cap is also its event source mapping's maximum concurrency
  (ScalingConfig), so Lambda polls no more batches than the function may run: a throttled batch goes back to
  the queue and counts toward ``ActivityMaxReceiveCount``, which would dead-letter messages that never failed
  (lambda/latest/dg/services-sqs-scaling.html); that maximum takes 2 to 1000 (API_ScalingConfig.html), so the
  rule refuses 1 there too and the parameter anything above 1000. A function whose cap an earlier step set
  keeps it: the HTTP flavour's function URL (function_url.py, ``AssistantStreamConcurrency``) caps the
  streaming function, so that flavour has no ``StreamingReservedConcurrency``.

Metrics: Lambda publishes each function's metrics under FunctionName whatever version or alias ran, and
again per alias (with a Resource dimension): the alarms and the dashboard (observability.py) keep the
function-level ones, which count every invocation either way.

For both flavours; runs after every step that makes an integration or a permission it rewrites: the
swagger's (Chalice's, streaming.py's, api.py's catch-all copies), http_api.py's and function_url.py's.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from cloudformation.template import API
from cloudformation.template import API_FUNCTION
from cloudformation.template import NO_VALUE
from cloudformation.template import Template
from cloudformation.template import add
from cloudformation.template import add_condition
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import functions
from cloudformation.template import number_parameter
from cloudformation.template import resources
from cloudformation.template import string_parameter
from cloudformation.transforms.queues import consumers
from cloudformation.transforms.streaming import FUNCTION as STREAM_FUNCTION

ALIAS = "live"
TARGET = "Target"  # the swagger URI's Fn::Sub variable naming what it invokes
VERSION_HASH = "FunctionVersionHash"
ALIASED = (API_FUNCTION, STREAM_FUNCTION)
PROVISIONED = "ProvisionedConcurrency"
PROVISIONED_ON = "ProvisionedConcurrencyOn"
UNCAPPED = -1
API_RESERVED = "ApiReservedConcurrency"
STREAMING_RESERVED = "StreamingReservedConcurrency"
CONSUMER_RESERVED = "ConsumerReservedConcurrency"
# The ESM's ScalingConfig.MaximumConcurrency takes 2 to 1000 (lambda/latest/dg/API_ScalingConfig.html).
SQS_MINIMUM_CONCURRENCY = 2
SQS_MAXIMUM_CONCURRENCY = 1000

PARAMETERS = {
    PROVISIONED: number_parameter(
        f"Provisioned concurrency of the API and the streaming functions' alias '{ALIAS}' (each): environments "
        "kept initialized, billed by the hour; 0: none",
        0,
        MinValue=0,
    ),
    VERSION_HASH: string_parameter(
        "Empty: the API and streaming functions publish a version behind their alias when the image or the "
        "template changes (SAM's hash); else the hex hash (its first 10 characters decide) of the image digest "
        "and every parameter value, so a changed parameter publishes one too",
        "",
        AllowedPattern="^([0-9a-f]{10,64})?$",
        ConstraintDescription="empty, or 10 to 64 lowercase hex digits",
    ),
    API_RESERVED: number_parameter(
        "Reserved concurrency of the API function: the most requests it runs at once (at least "
        "ProvisionedConcurrency); -1: uncapped",
        UNCAPPED,
    ),
    STREAMING_RESERVED: number_parameter(
        "Reserved concurrency of the streaming function: the most streams at once (at least "
        "ProvisionedConcurrency); -1: uncapped",
        UNCAPPED,
    ),
    CONSUMER_RESERVED: number_parameter(
        "Reserved concurrency of each SQS consumer, and its event source mapping's maximum concurrency "
        f"({SQS_MINIMUM_CONCURRENCY} to {SQS_MAXIMUM_CONCURRENCY}); -1: uncapped",
        UNCAPPED,
        MaxValue=SQS_MAXIMUM_CONCURRENCY,
    ),
}
RESERVED = {API_FUNCTION: API_RESERVED, STREAM_FUNCTION: STREAMING_RESERVED}
# Values a rule refuses, by parameter: 0 stops the function; a consumer's mapping takes at least 2.
REFUSED = {API_RESERVED: ("0",), STREAMING_RESERVED: ("0",), CONSUMER_RESERVED: ("0", "1")}


def capped(parameter: str) -> str:
    """The condition that ``parameter`` caps its functions (it is not -1)."""
    return parameter.replace("Concurrency", "Capped")


def alias(function: str) -> dict:
    """The function's alias ARN (SAM resolves ``<Function>.Alias`` to its AWS::Lambda::Alias)."""
    return {"Ref": f"{function}.Alias"}


def target(function: str, unqualified: Any) -> dict:
    """What the callers invoke: the alias with provisioned concurrency on, else ``unqualified`` as before."""
    return {"Fn::If": [PROVISIONED_ON, alias(function), unqualified]}


def _if_capped(parameter: str, value: Any) -> dict:
    return {"Fn::If": [capped(parameter), value, NO_VALUE]}


def _is_function_ref(value: Any, function: str) -> bool:
    return value in ({"Ref": function}, {"Fn::GetAtt": [function, "Arn"]}, {"Fn::GetAtt": f"{function}.Arn"})


def _swagger_integrations(template: Template) -> list[dict]:
    """Every integration of the REST API's swagger (none in the HTTP flavour, which has no swagger)."""
    found = []
    for resource in resources(template).values():
        if resource.get("Type") != API:
            continue
        for methods in resource["Properties"].get("DefinitionBody", {}).get("paths", {}).values():
            for method in methods.values():
                if isinstance(method, dict) and "x-amazon-apigateway-integration" in method:
                    found.append(method["x-amazon-apigateway-integration"])
    return found


def _to_alias(template: Template, function: str) -> None:
    """Every integration and invoke permission that names ``function`` names its alias when provisioned
    concurrency is on."""
    arn = "${" + function + ".Arn}"
    for integration in _swagger_integrations(template):
        uri = integration.get("uri", {})
        if isinstance(uri, dict) and isinstance(uri.get("Fn::Sub"), str) and arn in uri["Fn::Sub"]:
            # A variable, not ${<Function>.Alias} in the string: SAM resolves both, cfn-lint only the Ref.
            text = uri["Fn::Sub"].replace(arn, "${" + TARGET + "}")
            integration["uri"] = {"Fn::Sub": [text, {TARGET: target(function, {"Fn::GetAtt": [function, "Arn"]})}]}
    twins = {}
    for name, resource in resources(template).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == PERMISSION and _is_function_ref(props.get("FunctionName"), function):
            # Both stay granted, whatever ProvisionedConcurrency says: switching it replaces no permission, so
            # a REST stage still serving the previous deployment (until the new one is in place) is never refused.
            twin = copy.deepcopy(resource)
            twin["Properties"]["FunctionName"] = alias(function)
            twins[f"{name}Alias{ALIAS.capitalize()}"] = twin
        for key, of_kind in CALLERS:
            if kind == of_kind and _is_function_ref(props.get(key), function):
                # A Lambda::Url on the alias ARN (qualified), as SAM's own FunctionUrlConfig on an aliased function.
                props[key] = target(function, props[key])
    for name, twin in twins.items():
        add_resource(template, name, twin)


# What invokes a function from outside the stack: (property naming the function, resource type). Its invoke
# permissions are kept for the function and given a twin for the alias (_to_alias).
PERMISSION = "AWS::Lambda::Permission"
CALLERS = (
    ("IntegrationUri", "AWS::ApiGatewayV2::Integration"),
    ("TargetFunctionArn", "AWS::Lambda::Url"),
)


def unaliased(template: Template, function: str) -> list[str]:
    """Resources that invoke ``function`` unqualified whatever ProvisionedConcurrency says."""
    left = []
    arn = "${" + function + ".Arn}"
    for name, resource in resources(template).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == API and arn in json.dumps(props.get("DefinitionBody", {})):
            left.append(name)
        for key, of_kind in CALLERS:
            if kind == of_kind and _is_function_ref(props.get(key), function):
                left.append(name)
    return left


def _rules(parameters: list[str]) -> dict:
    return {
        f"{parameter}Allowed": {
            "Assertions": [
                {
                    "Assert": {"Fn::Not": [{"Fn::Contains": [list(REFUSED[parameter]), {"Ref": parameter}]}]},
                    "AssertDescription": f"{parameter}: -1 (uncapped) or a cap; not " + " or ".join(REFUSED[parameter]),
                }
            ]
        }
        for parameter in parameters
    }


def transform(template: Template) -> Template:
    out = clone(template)
    found = dict(functions(out))
    missing = [name for name in ALIASED if name not in found]
    if missing:
        raise ValueError(f"the alias needs {', '.join(missing)} (Chalice's API function, streaming.py)")
    used = [PROVISIONED, VERSION_HASH]
    add_condition(out, PROVISIONED_ON, {"Fn::Not": [{"Fn::Equals": [{"Ref": PROVISIONED}, "0"]}]})
    for resource in resources(out).values():
        if resource.get("Type") == API:
            # SAM names a REST API's deployment by its definition's text, in which the switch above is the same
            # Fn::If either way: without a new deployment on each update the stage would keep invoking what the
            # previous one did (AlwaysDeploy: a deployment per stack update, which costs nothing).
            resource["Properties"]["AlwaysDeploy"] = True
    for name in ALIASED:
        props = found[name]["Properties"]
        props["AutoPublishAlias"] = ALIAS
        props["AutoPublishAliasAllProperties"] = True
        props["AutoPublishCodeSha256"] = {"Ref": VERSION_HASH}  # empty: SAM's own hash
        props["ProvisionedConcurrencyConfig"] = {
            "Fn::If": [PROVISIONED_ON, {"ProvisionedConcurrentExecutions": {"Ref": PROVISIONED}}, NO_VALUE]
        }
        _to_alias(out, name)
        left = unaliased(out, name)
        if left:
            raise ValueError(f"{', '.join(left)} invoke {name} unqualified, never its alias {ALIAS}")
    capping = {
        name: parameter
        for name, parameter in RESERVED.items()
        if "ReservedConcurrentExecutions" not in found[name]["Properties"]  # function_url.py's cap stays
    }
    capping.update(dict.fromkeys(consumers(out), CONSUMER_RESERVED))
    for name, parameter in capping.items():
        props = found[name]["Properties"]
        props["ReservedConcurrentExecutions"] = _if_capped(parameter, {"Ref": parameter})
        if parameter == CONSUMER_RESERVED:
            for event in props.get("Events", {}).values():
                if event.get("Type") == "SQS":
                    event["Properties"]["ScalingConfig"] = _if_capped(
                        parameter, {"MaximumConcurrency": {"Ref": parameter}}
                    )
    reserved = sorted(set(capping.values()), key=list(PARAMETERS).index)
    used += reserved
    add_parameters(out, {name: PARAMETERS[name] for name in used})
    for parameter in reserved:
        add_condition(out, capped(parameter), {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, str(UNCAPPED)]}]})
    for name, rule in _rules(reserved).items():
        add(out, "Rules", name, rule)
    return out
