"""The whole pipeline on a real `chalice package` run of the app: it lints clean (cfn-lint, checkov
with every skip justified), translates with the SAM translator into what the issue promises, grants
least privilege, and renders for every combination of the feature flags."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib.settings import Settings
from chalicelib.vocabulary import SLACK_COMMAND_PATH
from chalicelib.vocabulary import UNROUTED_PATH
from cloudformation.template import functions
from cloudformation.template import load
from cloudformation.transforms import budget
from cloudformation.transforms import cognito
from cloudformation.transforms import concurrency
from cloudformation.transforms import console
from cloudformation.transforms import domain
from cloudformation.transforms import iam
from cloudformation.transforms import image
from cloudformation.transforms import network
from cloudformation.transforms import stream
from cloudformation.transforms import tables
from cloudformation.transforms import tags
from cloudformation.transforms.notifier import notifiers
from tests.cloudformation.support.resolve import resolve
from tests.cloudformation.support.resolve import value
from tests.cloudformation.support.schemas import exports_and_imports
from tests.cloudformation.support.schemas import tagging
from tests.cloudformation.support.schemas import tags_of
from tests.cloudformation.support.schemas import untagged
from tests.cloudformation.support.stack import EXISTING_NETWORK
from tests.cloudformation.support.stack import EXISTING_POOL
from tests.cloudformation.support.stack import HOME_REGIONS
from tests.cloudformation.support.stack import PROFILE_MODEL_IDS
from tests.cloudformation.support.stack import PROJECT
from tests.cloudformation.support.stack import REPLICA_REGIONS
from tests.cloudformation.support.stack import flag_combinations
from tests.cloudformation.support.stack import matrix_rows
from tests.cloudformation.support.stack import pairs_of
from tests.cloudformation.support.stack import required_pairs
from tests.cloudformation.support.stack import sam_translate
from tests.cloudformation.support.stack import timed
from tests.cloudformation.support.stack import topology_dimensions
from tests.cloudformation.support.stack import topology_overrides

# --- lint ----------------------------------------------------------------------------------------


def test_cfn_lint_finds_no_error_or_warning_in_any_rendered_template(cfn_lint_result, lint_targets):
    findings = [line for line in cfn_lint_result.stdout.splitlines() if line.strip()]
    assert findings == [], "\n".join(findings[:40])
    assert cfn_lint_result.returncode == 0, cfn_lint_result.stderr[-2000:]
    # Both flavours of the app and of the fixture, the bootstrap stack, each flavour's 24 flag combinations.
    assert len(lint_targets) == 5 + sum(len(flag_combinations(f)) for f in ("rest", "http")) + len(PROFILE_MODEL_IDS)


def test_checkov_passes_every_rendered_template(checkov_result):
    for report in checkov_result["reports"]:
        summary = report["summary"]
        failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
        assert summary["failed"] == 0, failed[:20]
        assert summary["parsing_errors"] == 0
        assert summary["passed"] > 0
    assert checkov_result["returncode"] == 0


def test_every_checkov_skip_says_why(built, lint_targets):
    for path in lint_targets:
        for name, resource in load(Path(path).read_text(encoding="utf-8"))["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
                assert len(skip.get("comment", "")) >= 40, f"{name}: skip {skip['id']} needs a real reason"


# --- SAM translation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def translated(built_path, fixture_built_path, built_http_path, fixture_http_built_path) -> dict[str, dict]:
    with timed("sam translate (4 templates)"):
        return {
            "app": sam_translate(built_path),
            "fixture": sam_translate(fixture_built_path),
            "app-http": sam_translate(built_http_path),
            "fixture-http": sam_translate(fixture_http_built_path),
        }


EVERY = ["app", "fixture", "app-http", "fixture-http"]


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


@pytest.mark.parametrize("which", EVERY)
def test_the_translated_stack_image_packages_every_function(translated, which):
    lambdas = of_type(translated[which], "AWS::Lambda::Function")
    assert "APIHandler" in lambdas and "AssistantStreamHandler" in lambdas
    # SAM resolves the parameters in an aliased function's image URI (to hash its version): here their
    # defaults (the translation is given no values), as CloudFormation's transform resolves the deployed ones.
    stage = translated[which]["Parameters"]["AppStage"]["Default"]
    resolved = {"Fn::Sub": image.IMAGE_URI["Fn::Sub"].replace("${AppStage}", stage)}
    for name, function in lambdas.items():
        props = function["Properties"]
        assert props["PackageType"] == "Image", name
        uri = resolved if name in concurrency.ALIASED else image.IMAGE_URI
        assert props["Code"] == {"ImageUri": uri}, name
        assert "Runtime" not in props and "Handler" not in props, name
        assert props["ImageConfig"].get("Command") or props["ImageConfig"].get("EntryPoint"), name


def _invoked(function: str, attribute: str | None = None) -> dict:
    """What invokes ``function`` once SAM translated it: its alias ``live`` with provisioned concurrency on,
    else the function (concurrency.py; tests/cloudformation/test_concurrency.py reads both)."""
    unqualified = {"Fn::GetAtt": [function, attribute]} if attribute else {"Ref": function}
    return {"Fn::If": [concurrency.PROVISIONED_ON, {"Ref": f"{function}Alias{concurrency.ALIAS}"}, unqualified]}


@pytest.mark.parametrize("which", ["app", "fixture"])
def test_the_translated_stack_streams_the_assistant_route(translated, which):
    (api,) = of_type(translated[which], "AWS::ApiGateway::RestApi").values()
    integration = api["Properties"]["Body"]["paths"]["/assistant/stream"]["post"]["x-amazon-apigateway-integration"]
    assert integration["responseTransferMode"] == "STREAM"
    text, variables = integration["uri"]["Fn::Sub"]
    assert "/2021-11-15/functions/${" + concurrency.TARGET + "}/response-streaming-invocations" in text
    assert variables[concurrency.TARGET] == _invoked("AssistantStreamHandler", "Arn")
    (stage,) = of_type(translated[which], "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True and "AccessLogSetting" in stage["Properties"]
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


@pytest.mark.parametrize("which", ["app-http", "fixture-http"])
def test_the_translated_http_flavour_serves_every_route_through_one_payload_1_0_integration(translated, which):
    template = translated[which]
    assert not of_type(template, "AWS::ApiGateway::RestApi") and not of_type(template, "AWS::ApiGateway::Stage")
    ((api_name, api),) = of_type(template, "AWS::ApiGatewayV2::Api").items()
    assert api["Properties"]["ProtocolType"] == "HTTP"
    (integration,) = of_type(template, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["PayloadFormatVersion"] == "1.0"
    assert integration["Properties"]["IntegrationUri"] == _invoked("APIHandler", "Arn")
    (stage,) = of_type(template, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default" and stage["Properties"]["AutoDeploy"] is True
    assert "AccessLogSettings" in stage["Properties"]
    (authorizer,) = of_type(template, "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    # One API Gateway permission, for this API only: nothing names a REST API any more. The others are the
    # stream's function URL's (function_url.py): public by the URL's own auth type, for that function only.
    # Each is granted on the function and, its twin, on the alias (concurrency.py).
    permissions = of_type(template, "AWS::Lambda::Permission").values()
    gateway = [p for p in permissions if p["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    sources = [p["Properties"]["SourceArn"]["Fn::Sub"] for p in gateway]
    assert sources == ["arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + api_name + "}/*"] * 2
    assert sorted(json.dumps(p["Properties"]["FunctionName"]) for p in gateway) == sorted(
        json.dumps({"Ref": name}) for name in ("APIHandler", f"APIHandlerAlias{concurrency.ALIAS}")
    )
    url = [p["Properties"] for p in permissions if p["Properties"]["Principal"] == "*"]
    twin = {"Ref": f"AssistantStreamHandlerAlias{concurrency.ALIAS}"}
    assert sorted(json.dumps(p["FunctionName"]) for p in url) == sorted(
        [json.dumps({"Ref": "AssistantStreamHandler"})] * 2 + [json.dumps(twin)] * 2
    )
    assert sorted(p["Action"] for p in url) == sorted(["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"] * 2)
    assert "RestAPI" not in json.dumps(template)


def _app_routes() -> dict[tuple[str, str], bool]:
    """(METHOD, path) -> protected, for every route app.py declares: the route table itself, but the catch-all
    (UNROUTED_PATH), which each stack serves its own way (``_unrouted_routes``)."""
    return {
        (method, path): entry.authorizer is not None
        for path, methods in app.routes.items()
        if path != UNROUTED_PATH
        for method, entry in methods.items()
    }


def _unrouted_routes(flavour: str) -> dict[tuple[str, str], None]:
    """What each stack sends to the app for a request no route serves, all public: REST, ANY on the greedy
    resource, on every other resource and on the root; HTTP, the greedy route's methods but OPTIONS, there
    and on the root."""
    if flavour == "http":
        methods = [m for m in app.routes[UNROUTED_PATH] if m != "OPTIONS"]
        return {(method, path): None for method in methods for path in (UNROUTED_PATH, "/")}
    paths = set(app.routes) | {"/"}
    return {("X-AMAZON-APIGATEWAY-ANY-METHOD", path): None for path in paths}


def _rest_routes(template: dict) -> dict[tuple[str, str], list | None]:
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    found = {}
    for path, methods in paths.items():
        for method, spec in methods.items():
            requirements = spec.get("security") or [{}]
            found[(method.upper(), path)] = next(iter(requirements[0].values()), None)
    return found


def _http_routes(template: dict) -> dict[tuple[str, str], list | None]:
    found = {}
    for route in template["Resources"].values():
        if route["Type"] == "AWS::ApiGatewayV2::Route":
            props = route["Properties"]
            method, _, path = props["RouteKey"].partition(" ")
            jwt = props["AuthorizationType"] == "JWT"
            assert jwt or props["AuthorizationType"] == "NONE", props
            found[(method, path)] = props["AuthorizationScopes"] if jwt else None
    return found


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_every_protected_route_of_the_app_requires_the_api_scope_and_every_public_one_is_public(stacks, flavour):
    declared = _app_routes()
    assert declared[("GET", "/health")] is False and declared[("GET", "/items")] is True
    assert declared[("POST", SLACK_COMMAND_PATH)] is False  # Slack sends no token: its signature is checked
    built = stacks[flavour]
    stack_routes = _rest_routes(built) if flavour == "rest" else _http_routes(built)
    scope = [cognito.SCOPE]
    expected = {
        route: (scope if protected else None)
        for route, protected in declared.items()
        # The HTTP API answers preflights from its CORS configuration: no OPTIONS route.
        if not (flavour == "http" and route[0] == "OPTIONS")
    }
    assert stack_routes == expected | _unrouted_routes(flavour)


@pytest.mark.parametrize("which", EVERY)
def test_every_translated_log_group_keeps_30_days(translated, which):
    groups = of_type(translated[which], "AWS::Logs::LogGroup")
    lambdas = of_type(translated[which], "AWS::Lambda::Function")
    assert len(groups) == len(lambdas) + 1  # one per function, and the API's access log
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}


# Each event source mapping's function -> the condition it exists under.
MAPPED = {"OnActivity": "SqsEnabled", "OnDeadLetter": "SqsEnabled", "OnTableChange": stream.ENABLED}


@pytest.mark.parametrize("which", EVERY)
def test_every_translated_event_source_mapping_reports_batch_item_failures(translated, which):
    mappings = of_type(translated[which], "AWS::Lambda::EventSourceMapping")
    assert {m["Properties"]["FunctionName"]["Ref"] for m in mappings.values()} == set(MAPPED)
    for mapping in mappings.values():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["Condition"] == MAPPED[mapping["Properties"]["FunctionName"]["Ref"]]


@pytest.mark.parametrize("which", ["app", "fixture"])
def test_the_translated_custom_domain_maps_the_stage_sam_generates(translated, which):
    # domain.py names the REST stage as `<api>.Stage`, which only SAM knows how to resolve.
    resources = translated[which]["Resources"]
    (stage,) = of_type(translated[which], "AWS::ApiGateway::Stage")
    mapping = resources[domain.MAPPING]
    assert mapping["Type"] == "AWS::ApiGateway::BasePathMapping" and mapping["Condition"] == domain.ENABLED
    assert mapping["Properties"]["Stage"] == {"Ref": stage}


@pytest.mark.parametrize("which", EVERY)
def test_the_translated_stream_mapping_reads_the_tables_stream_filtered_bisected_and_retried(translated, which):
    resources = translated[which]["Resources"]
    (mapping,) = (
        m["Properties"]
        for m in of_type(translated[which], "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": "OnTableChange"}
    )
    assert mapping["EventSourceArn"] == tables.stream_arn(tables.TASKS)  # SAM passes the regions' switch through
    assert resources["TasksTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    (only,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(only["Pattern"]) == stream.filter_pattern()
    assert mapping["StartingPosition"] == "TRIM_HORIZON" and mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == mapping["MaximumRecordAgeInSeconds"] == -1
    failures = mapping["DestinationConfig"]["OnFailure"]
    assert failures == {"Destination": {"Fn::GetAtt": [stream.FAILURE_QUEUE, "Arn"]}}  # no Type: SAM added nothing
    assert resources[stream.FAILURE_QUEUE]["Type"] == "AWS::SQS::Queue"


SQS_DEFAULT_VISIBILITY_TIMEOUT = 30  # seconds, when a queue names none
LAMBDA_DEFAULT_TIMEOUT = 3


@pytest.mark.parametrize("which", EVERY)
def test_every_queue_with_an_event_source_mapping_stays_invisible_six_times_its_consumers_timeout(translated, which):
    # Lambda refuses to create a mapping on a queue whose visibility timeout is below the function's
    # timeout (the stack would fail to deploy); AWS advises six times it, plus any batching window.
    resources = translated[which]["Resources"]
    mappings = {
        name: mapping
        for name, mapping in of_type(translated[which], "AWS::Lambda::EventSourceMapping").items()
        if mapping["Properties"]["EventSourceArn"].get("Fn::GetAtt", ["", ""])[1] == "Arn"  # not the table's stream
    }
    queues = {m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0] for m in mappings.values()}
    assert queues >= {"ActivityQueue", "ActivityDeadLetterQueue"}, "not every queue was checked"
    for name, mapping in mappings.items():
        props = mapping["Properties"]
        queue = props["EventSourceArn"]["Fn::GetAtt"][0]
        assert resources[queue]["Type"] == "AWS::SQS::Queue", name
        function = resources[props["FunctionName"]["Ref"]]["Properties"]
        needed = 6 * function.get("Timeout", LAMBDA_DEFAULT_TIMEOUT) + props.get("MaximumBatchingWindowInSeconds", 0)
        visibility = resources[queue]["Properties"].get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT)
        assert visibility >= needed, (queue, props["FunctionName"], visibility, needed)


# --- timeouts ------------------------------------------------------------------------------------

API_GATEWAY_INTEGRATION_TIMEOUT_MS = 29_000  # REST APIs: API Gateway answers 504 itself after this


def test_the_api_function_times_out_before_api_gateway_gives_up_and_its_alarm_fires_before_that(built):
    resources = built["Resources"]
    timeout_ms = resources["APIHandler"]["Properties"]["Timeout"] * 1000
    assert timeout_ms < API_GATEWAY_INTEGRATION_TIMEOUT_MS
    alarm = resources["APIHandlerDurationAlarm"]["Properties"]
    assert alarm["MetricName"] == "Duration" and alarm["Threshold"] < timeout_ms


# --- the activity consumers ----------------------------------------------------------------------

# app.py's consumers, as Chalice names their resources -> (handler, the queue they read).
CONSUMERS = {
    "OnActivity": ("app.on_activity", "ActivityQueue"),
    "OnDeadLetter": ("app.on_dead_letter", "ActivityDeadLetterQueue"),
}


def test_the_built_app_runs_each_consumer_on_its_queue_with_its_own_role(built):
    resources = built["Resources"]
    for name, (handler, queue) in CONSUMERS.items():
        function = resources[name]
        props = function["Properties"]
        assert function["Condition"] == "SqsEnabled", name
        assert props["ImageConfig"] == {"Command": [handler]}, name
        (event,) = props["Events"].values()
        assert event["Type"] == "SQS"
        assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}, name
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        variables = props["Environment"]["Variables"]
        assert variables["QUEUE"] == "sqs" and variables["ACTIVITY_QUEUE_URL"] == {"Ref": "ActivityQueue"}
        assert props["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name
        role = resources[f"{name}Role"]
        assert role["Condition"] == "SqsEnabled", name
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        assert statements == iam.statements(name, iam.CONSUMER_NEEDS[queue], private=True), name
    # The activity consumer writes ACTIVITY# and STATS in one transaction (a Put and an Update); the
    # dead-letter consumer only logs and counts.
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem"} <= _actions(built, "OnActivityRole")
    # The dead-letter consumer reads the failure note and keeps the message, nothing more.
    dead_letter_actions = {a for a in _actions(built, "OnDeadLetterRole") if a.startswith(("dynamodb:", "bedrock:"))}
    assert dead_letter_actions == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert not {a for name in CONSUMERS for a in _actions(built, f"{name}Role") if a == "sqs:SendMessage"}


def test_the_built_app_forwards_the_tables_stream_with_a_role_that_reads_only_it_and_sends_only_to_the_queues(built):
    resources = built["Resources"]
    function = resources["OnTableChange"]
    props = function["Properties"]
    assert function["Condition"] == stream.ENABLED
    assert props["ImageConfig"] == {"Command": ["app.on_table_change"]}
    (event,) = props["Events"].values()
    assert event["Type"] == "DynamoDB"
    assert event["Properties"]["Stream"] == tables.stream_arn(tables.TASKS)
    variables = props["Environment"]["Variables"]
    assert variables["QUEUE"] == "sqs" and variables["ACTIVITY_QUEUE_URL"] == {"Ref": "ActivityQueue"}
    role = resources["OnTableChangeRole"]
    assert role["Condition"] == stream.ENABLED
    assert role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] == iam.statements(
        "OnTableChange", iam.FORWARDER_NEEDS, private=True
    )
    by_resource = {}
    # With the private network off (its grants are test_network.py's and the network test's below).
    for statement in statements_of(resolve(built, {})["Resources"]["OnTableChangeRole"]):
        by_resource.setdefault(json.dumps(statement["Resource"], sort_keys=True), set()).update(statement["Action"])
    assert by_resource == {
        json.dumps({"Fn::GetAtt": ["OnTableChangeLogGroup", "Arn"]}): set(iam.LOGS),
        json.dumps("*"): set(iam.XRAY),
        # One region (the defaults): the single table's stream (the other layouts' are test_regions.py's).
        json.dumps({"Fn::GetAtt": [tables.TASKS.resource, "StreamArn"]}): set(iam.STREAM_READ),
        json.dumps({"Fn::GetAtt": ["ActivityQueue", "Arn"]}): {"sqs:SendMessage"},
        json.dumps({"Fn::GetAtt": [stream.FAILURE_QUEUE, "Arn"]}): {"sqs:SendMessage"},
    }


# --- least privilege -----------------------------------------------------------------------------


def _store_actions() -> set[str]:
    """The DynamoDB actions the store adapter's code paths call, read from its source."""
    source = (PROJECT / "chalicelib" / "store" / "dynamodb.py").read_text(encoding="utf-8")
    # Scan serves only the operator's ``stats rebuild --all`` (python -m chalicelib.ops, the operator's
    # credentials): no function calls it, so no role is granted it.
    calls = set(re.findall(r'_call\("([a-z_]+)"', source)) - {"scan"}
    assert calls, "the adapter's requests were not found: has chalicelib/store/dynamodb.py changed shape?"
    actions = set()
    for call in calls:
        if call == "transact_write_items":  # authorised per item: Put, Update, Delete, ConditionCheck
            kinds = set(re.findall(r'\{"(Put|Update|Delete|ConditionCheck)":', source))
            actions |= {f"dynamodb:{k}Item" for k in kinds}
        else:
            actions.add("dynamodb:" + "".join(part.title() for part in call.split("_")))
    return actions


BEDROCK_CALLER = PROJECT / "chalicelib" / "assistant" / "bedrock.py"
SQS_SENDER = PROJECT / "chalicelib" / "events" / "sqs.py"


def _queue_actions() -> set[str]:
    """The SQS actions the activity sender calls, read from its source (as the store's, above)."""
    assert SQS_SENDER.exists(), f"{SQS_SENDER} is missing: the API's activity events have no sender"
    source = SQS_SENDER.read_text(encoding="utf-8")
    calls = set(re.findall(r"\bsend_message(?:_batch)?\b", source))
    assert calls, "no send_message call found: has chalicelib/events/sqs.py changed shape?"
    return {"sqs:SendMessage"}  # SendMessageBatch is authorised as SendMessage


SSM_READER = PROJECT / "chalicelib" / "alerts" / "ssm.py"


def _secret_actions() -> set[str]:
    """The SSM actions the notifier's secrets adapter calls, read from its source (as the store's, above)."""
    assert SSM_READER.exists(), f"{SSM_READER} is missing: the notifier has no secrets adapter"
    calls = set(re.findall(r"\.(get_parameter|get_parameters|put_parameter)\(", SSM_READER.read_text(encoding="utf-8")))
    assert calls, "no SSM call found: has chalicelib/alerts/ssm.py changed shape?"
    return {"ssm:" + "".join(part.title() for part in call.split("_")) for call in calls}


def _model_actions() -> set[str]:
    """The Bedrock actions the assistant's provider calls, read from its source."""
    assert BEDROCK_CALLER.exists(), f"{BEDROCK_CALLER} is missing: the assistant has no bedrock provider"
    calls = set(
        re.findall(
            r"\.(converse_stream|converse|invoke_model_with_response_stream|invoke_model)\(",
            BEDROCK_CALLER.read_text(encoding="utf-8"),
        )
    )
    assert calls, "no Bedrock call found: has chalicelib/assistant/bedrock.py changed shape?"
    # Converse is authorised as InvokeModel, ConverseStream as InvokeModelWithResponseStream.
    names = {
        "converse": "InvokeModel",
        "invoke_model": "InvokeModel",
        "converse_stream": "InvokeModelWithResponseStream",
        "invoke_model_with_response_stream": "InvokeModelWithResponseStream",
    }
    return {"bedrock:" + names[call] for call in calls}


OPERATIONS_CALLERS = PROJECT / "chalicelib" / "operations"


def _operations_actions() -> set[str]:
    """The SSM and CloudWatch actions the region switch and the chat commands call, read from their source."""
    ssm = (OPERATIONS_CALLERS / "ssm.py").read_text(encoding="utf-8")
    alarms = (OPERATIONS_CALLERS / "alarms.py").read_text(encoding="utf-8")
    calls = {"ssm:" + name for name in re.findall(r'"[a-z_]+": "([A-Za-z]+)"', ssm)}
    calls |= {"cloudwatch:DescribeAlarms" for _ in re.findall(r'get_paginator\("describe_alarms"\)', alarms)}
    assert calls == {"ssm:GetParameter", "ssm:PutParameter", "cloudwatch:DescribeAlarms"}, calls
    return calls


def test_the_granted_model_actions_are_exactly_what_the_provider_calls(built):
    for role in ("APIHandlerRole", "AssistantStreamHandlerRole"):
        granted = {a for s in statements_of(built["Resources"][role]) for a in s["Action"] if a.startswith("bedrock:")}
        assert granted == _model_actions(), role


# Actions of code paths whose issues are in progress; each names what will need it.
PENDING: dict[str, str] = {}
SERVICE_NEEDS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",  # the runtime writes the function's logs
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",  # active tracing
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",  # the SQS event source mappings
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",  # the stream's event source mapping
}
# The account-wide role API Gateway logs through: every API of the account uses it, by AWS's design.
ACCOUNT_ROLES = {"ApiGatewayLoggingRole"}


def statements_of(role: dict):
    """Every statement the role may hold, whichever way its conditions (and those in its resources) go."""
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            for chosen in statement["Fn::If"][1:] if "Fn::If" in statement else [statement]:
                if chosen == {"Ref": "AWS::NoValue"}:
                    continue
                resource = chosen["Resource"]
                if isinstance(resource, dict) and "Fn::If" in resource:
                    yield from ({**chosen, "Resource": r} for r in resource["Fn::If"][1:])
                else:
                    yield chosen


@pytest.mark.parametrize("which", ["built", "fixture", "built-http", "fixture-http"])
def test_no_role_grants_a_wildcard_resource_or_an_action_no_code_path_needs(
    built, fixture_built_path, built_http, fixture_http_built_path, which
):
    template = {
        "built": built,
        "built-http": built_http,
        "fixture": load(fixture_built_path.read_text(encoding="utf-8")),
        "fixture-http": load(fixture_http_built_path.read_text(encoding="utf-8")),
    }[which]
    _walk(template)


def test_no_role_of_any_rendered_combination_grants_a_wildcard_resource_or_an_action_no_code_path_needs(
    matrix, topology_renders
):
    # The walk above reads every branch of every condition; here each combination as CloudFormation resolves it.
    for _, template, _ in (*matrix.values(), *topology_renders.values()):
        _walk(template)


def _walk(template: dict) -> None:
    needed = (
        _store_actions()
        | _queue_actions()
        | _model_actions()
        | _operations_actions()
        | _secret_actions()
        | SERVICE_NEEDS
        | set(network.ACTIONS)  # Lambda attaching a function to the private network (only while it is on)
        | set(PENDING)
    )
    roles = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert "DefaultRole" not in roles
    assert {f"{name}Role" for name, _ in functions(template)} <= set(roles)
    for name, role in roles.items():
        if name in ACCOUNT_ROLES:
            continue
        assert not role["Properties"].get("ManagedPolicyArns"), name
        for statement in statements_of(role):
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any("*" in action for action in actions), (name, actions)
            assert set(actions) <= needed, (name, set(actions) - needed)
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for target in targets:
                literal = target if isinstance(target, str) else json.dumps(target)
                if set(actions) <= set(network.ACTIONS):
                    # Lambda's network interfaces: any of this account's in this region (their ids are Lambda's
                    # to choose), the team's subnets by account and region (a list parameter's members cannot
                    # each become an ARN), and DescribeNetworkInterfaces, which AWS authorises only on "*".
                    wildcards = {json.dumps(network.NETWORK_INTERFACES), json.dumps(network.ANY_SUBNET_ARN)}
                    if actions == list(network.DESCRIBE_ACTIONS):
                        wildcards.add(json.dumps("*"))
                    assert "*" not in literal or json.dumps(target) in wildcards, (name, statement)
                    continue
                if actions == ["cloudwatch:DescribeAlarms"]:
                    # This stack's alarms: CloudFormation names each <stack name>-<logical id>-<suffix>.
                    assert literal.endswith(':alarm:${AWS::StackName}-*"}'), (name, statement)
                    continue
                if "*" in literal and not all(a.startswith("xray:") for a in actions):
                    # The one other wildcard: the region of an inference profile's foundation model,
                    # usable only through that exact profile (AWS extends a profile's regions).
                    assert ":bedrock:*::foundation-model/${Model}" in literal, (name, statement)
                    through = statement["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]
                    assert "*" not in json.dumps(through), (name, statement)


def _grants_ec2(statement: dict) -> bool:
    branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
    return any(
        a.startswith("ec2:") for branch in branches if branch != {"Ref": "AWS::NoValue"} for a in branch["Action"]
    )


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_the_network_interface_actions_are_granted_only_while_the_private_network_is_on(stacks, flavour):
    template = stacks[flavour]
    for name, role in template["Resources"].items():
        if role["Type"] == "AWS::IAM::Role" and name not in ACCOUNT_ROLES:
            for statement in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
                if _grants_ec2(statement):
                    assert statement["Fn::If"][0] == network.ON, (name, statement)
    for mode in ("off", "created", "existing"):
        deployed = resolve(template, {"PrivateNetwork": mode, **(EXISTING_NETWORK if mode == "existing" else {})})
        for name, role in deployed["Resources"].items():
            if role["Type"] == "AWS::IAM::Role" and name not in ACCOUNT_ROLES:
                granted = {a for s in statements_of(role) for a in s["Action"] if a.startswith("ec2:")}
                in_vpc = "VpcConfig" in deployed["Resources"][name.removesuffix("Role")]["Properties"]
                assert granted == (set(network.ACTIONS) if in_vpc else set()), (mode, name)


PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "tasks",
    "AWS::URLSuffix": "amazonaws.com",
}
PROFILE_ARN = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/"
MODEL_GRANTS = {
    # A foundation model: that model, in the stack's region.
    "amazon.nova-micro-v1:0": [
        ("AssistantModel", "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-micro-v1:0", {})
    ],
    # A geographic profile: the profile here, and its model wherever the profile routes, only through it.
    "eu.amazon.nova-micro-v1:0": [
        ("AssistantInferenceProfile", PROFILE_ARN + "eu.amazon.nova-micro-v1:0", {}),
        (
            "AssistantModelThroughProfile",
            "arn:aws:bedrock:*::foundation-model/amazon.nova-micro-v1:0",
            {"bedrock:InferenceProfileArn": PROFILE_ARN + "eu.amazon.nova-micro-v1:0"},
        ),
    ],
    "us-gov.anthropic.claude-3-haiku-20240307-v1:0": [
        ("AssistantInferenceProfile", PROFILE_ARN + "us-gov.anthropic.claude-3-haiku-20240307-v1:0", {}),
        (
            "AssistantModelThroughProfile",
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            {"bedrock:InferenceProfileArn": PROFILE_ARN + "us-gov.anthropic.claude-3-haiku-20240307-v1:0"},
        ),
    ],
    # A global profile: the profile and the model here, and the region-less model, only through it.
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0": [
        ("AssistantInferenceProfile", PROFILE_ARN + "global.anthropic.claude-sonnet-4-5-20250929-v1:0", {}),
        (
            "AssistantModelThroughProfile",
            "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
            {"bedrock:InferenceProfileArn": PROFILE_ARN + "global.anthropic.claude-sonnet-4-5-20250929-v1:0"},
        ),
        (
            "AssistantGlobalModelThroughProfile",
            "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
            {
                "bedrock:InferenceProfileArn": PROFILE_ARN + "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "aws:RequestedRegion": "unspecified",
            },
        ),
    ],
}


def _model_grants(template: dict, role: str) -> list[tuple[str, str, dict]]:
    statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return [
        (s["Sid"], s["Resource"], s.get("Condition", {}).get("StringEquals", {}))
        for s in statements
        if any(a.startswith("bedrock:") for a in s["Action"])
    ]


@pytest.mark.parametrize("model_id", MODEL_GRANTS)
def test_the_deployed_roles_may_invoke_exactly_the_configured_model_or_inference_profile(built, model_id):
    deployed = resolve(built, {"AssistantProvider": "bedrock", "BedrockModelId": model_id}, pseudo=PSEUDO)
    for role in ("APIHandlerRole", "AssistantStreamHandlerRole"):
        assert _model_grants(deployed, role) == MODEL_GRANTS[model_id], role
    assert not _model_grants(deployed, "OnActivityRole")
    off = resolve(built, {"AssistantProvider": "offline", "BedrockModelId": model_id}, pseudo=PSEUDO)
    assert not _model_grants(off, "APIHandlerRole")


def test_the_model_parameter_admits_model_and_profile_ids_and_refuses_what_the_grant_cannot_tell(built):
    pattern = built["Parameters"]["BedrockModelId"]["AllowedPattern"]
    assert re.fullmatch(pattern, built["Parameters"]["BedrockModelId"]["Default"])
    assert all(re.fullmatch(pattern, model_id) for model_id in MODEL_GRANTS)
    for refused in ("arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-micro-v1:0", "nova", "us.a.b.c"):
        assert not re.fullmatch(pattern, refused), refused


def test_the_granted_table_actions_are_exactly_what_the_store_adapter_calls(built):
    api_role = built["Resources"]["APIHandlerRole"]
    granted = {a for s in statements_of(api_role) for a in s["Action"] if a.startswith("dynamodb:")}
    assert granted == _store_actions()


def test_the_granted_send_actions_are_exactly_what_the_activity_sender_calls(built):
    forwarder_role = built["Resources"]["OnTableChangeRole"]
    granted = {a for s in statements_of(forwarder_role) for a in s["Action"] if a.startswith("sqs:")}
    assert granted == _queue_actions()


# --- the feature-flag matrix -----------------------------------------------------------------------


def _variables(template: dict, function: str = "APIHandler") -> dict:
    return template["Resources"][function]["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("which", ["built", "built-http"])
def test_the_notifier_may_read_exactly_the_webhook_parameter_with_what_its_adapter_calls(built, built_http, which):
    template = {"built": built, "built-http": built_http}[which]
    [name] = notifiers(template)  # app.py's on_alarm, subscribed to the alarm topic
    granted = [s for s in statements_of(template["Resources"][f"{name}Role"]) if s["Action"][0].startswith("ssm:")]
    assert [set(s["Action"]) for s in granted] == [_secret_actions()]
    assert granted[0]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
        "/tasks-api/${AppStage}/slack/webhook-url"
    }
    assert not any(
        a.startswith("kms:") for s in statements_of(template["Resources"][f"{name}Role"]) for a in s["Action"]
    )
    # No other role may read it (the API's reads the region switch and the chat commands' secret, not this).
    for other, role in template["Resources"].items():
        if role["Type"] == "AWS::IAM::Role" and other != f"{name}Role":
            for statement in statements_of(role):
                if any(a.startswith("ssm:") for a in statement["Action"]):
                    assert "slack/webhook-url" not in json.dumps(statement["Resource"]), other


def _actions(template: dict, role: str) -> set[str]:
    return {a for s in statements_of(template["Resources"][role]) for a in s["Action"]}


CONSOLE_RESOURCES = (
    console.BUCKET,
    console.BUCKET_POLICY,
    console.ORIGIN_ACCESS_CONTROL,
    console.HEADERS_POLICY,
    console.DISTRIBUTION,
)


DOMAIN_RESOURCES = (domain.DOMAIN, domain.MAPPING, domain.HEALTH_CHECK, domain.RECORD)


def test_every_flag_combination_renders_what_its_flags_say(matrix):
    assert len(matrix) == sum(len(flag_combinations(flavour)) for flavour in ("rest", "http"))
    for name, (_, template, params) in matrix.items():
        http = name.startswith("api=http-")
        resources = template["Resources"]
        table = params["EnableTasksTable"] == "true"
        sqs = params["EnableSqsIntegration"] == "true"
        variables = _variables(template)
        # One region: the single table; the home of several: the global table; another region: neither.
        regions = params["TableRegions"]
        home = regions == HOME_REGIONS
        assert ("TasksTable" in resources) is (table and not regions), name
        assert ("TasksGlobalTable" in resources) is (table and home), name
        assert variables["STORE"] == ("dynamodb" if table else "off"), name
        named = {"": {"Ref": "TasksTable"}, HOME_REGIONS: {"Ref": "TasksGlobalTable"}}
        assert variables["TABLE_NAME"] == (named.get(regions, {"Fn::Sub": "${AWS::StackName}-tasks"}) if table else "")
        assert value(variables["REGIONS"], params) == regions, name
        custom_domain = params["DomainName"] != ""
        assert all((r in resources) is custom_domain for r in DOMAIN_RESOURCES), name
        assert any(a.startswith("dynamodb:") for a in _actions(template, "APIHandlerRole")) is table, name
        assert ("ActivityQueue" in resources and "ActivityDeadLetterQueue" in resources) is sqs, name
        # The API sends no event: the forwarder sends what the table's stream recorded.
        assert "sqs:SendMessage" not in _actions(template, "APIHandlerRole"), name
        assert all((consumer in resources) is sqs for consumer in CONSUMERS), name
        # The stream exists with the table; it is read only when the queue exists too.
        if table and regions in named:
            created = resources["TasksGlobalTable" if home else "TasksTable"]
            assert created["Properties"]["StreamSpecification"], name
        forwarded = table and sqs
        assert ("OnTableChange" in resources and "OnTableChangeRole" in resources) is forwarded, name
        assert (stream.FAILURE_QUEUE in resources and "OnTableChangeIteratorAgeAlarm" in resources) is forwarded, name
        assert not {a for a in _actions(template, "APIHandlerRole") if a in iam.STREAM_READ}, name
        assert variables["QUEUE"] == ("sqs" if sqs else "off"), name
        assert ("ACTIVITY_QUEUE_URL" in variables) is sqs, name
        bedrock = params["AssistantProvider"] == "bedrock"
        assert ("bedrock:InvokeModelWithResponseStream" in _actions(template, "APIHandlerRole")) is bedrock, name
        assert (
            "bedrock:InvokeModelWithResponseStream" in _actions(template, "AssistantStreamHandlerRole")
        ) is bedrock, name
        assert variables["ASSISTANT_PROVIDER"] == {"Ref": "AssistantProvider"}
        existing = params["UserPoolArn"] != ""
        assert ("UserPool" in resources) is not existing, name
        if existing:
            assert variables["AUTH_CLIENT_IDS"] == {"Ref": "UserPoolClientIds"}
            assert "eu-west-1" not in json.dumps(variables["AUTH_ISSUER"])  # taken from the ARN at deploy
            assert params["UserPoolArn"] == EXISTING_POOL["UserPoolArn"]
        assert ("AlarmEmailSubscription" in resources) is bool(params["AlarmEmail"]), name
        created = params["PrivateNetwork"] == "created"
        private = params["PrivateNetwork"] != "off"
        assert all((r in resources) is created for r in (network.VPC, *network.SUBNETS, network.DYNAMODB_ENDPOINT))
        assert (network.FUNCTIONS_SG in resources) is private, name
        assert ("VpcConfig" in resources["APIHandler"]["Properties"]) is private, name
        assert ("ec2:CreateNetworkInterface" in _actions(template, "APIHandlerRole")) is private, name
        assert ("Budget" in resources) is bool(params["MonthlyBudget"]), name
        # The console exists with its parameter and the stack's own pool; its origin, once deploy.sh passes it
        # in, is the first the API allows and the app client's redirect.
        console_on = params["EnableConsole"] == "true" and not existing
        assert all((r in resources) is console_on for r in CONSOLE_RESOURCES), name
        assert all((o in template["Outputs"]) is console_on for o in ("ConsoleUrl", "ConsoleBucket")), name
        known = console_on and params["ConsoleOrigin"] != ""
        allowed = [params["ConsoleOrigin"]] * known + [o for o in params["CorsAllowOrigins"].split(",") if o]
        cors = bool(allowed)
        if not existing:
            client = resources["UserPoolClient"]["Properties"]
            assert (params["ConsoleOrigin"] + "/" in value(client["CallbackURLs"], params)) is known, name
            assert ("LogoutURLs" in client) is known, name
        if http:
            assert "RestAPI" not in resources and "ApiGatewayAccount" not in resources, name
            assert ("CorsConfiguration" in resources["HttpApi"]["Properties"]) is cors, name
            if cors:
                assert value(resources["HttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"], params) == allowed
                stream_cors = resources["AssistantStreamFunctionUrl"]["Properties"]["Cors"]
                assert value(stream_cors["AllowOrigins"], params) == allowed, name
            assert not {k for k in variables if k.startswith("CORS_")}, name  # the API answers CORS itself
        else:
            assert ("ApiGatewayAccount" in resources) is (params["ApiGatewayAccountLogging"] == "create"), name
            responses = resources["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
            for kind, response in responses.items():
                origin = response["responseParameters"].get("gatewayresponse.header.Access-Control-Allow-Origin")
                assert (origin is not None) is cors, (name, kind)
                if cors:  # the first allowed origin reads the gateway's own errors: the console's when known
                    assert value(origin, params) == f"'{allowed[0]}'", (name, kind)
            assert value(variables["CORS_ALLOW_ORIGINS"], params) == ",".join(allowed), name


def test_with_the_queue_switched_off_the_deployed_settings_load_and_emit_no_events(matrix):
    for name, (_, template, _) in matrix.items():
        if "EnableSqsIntegration=false" not in name:
            continue
        for function, _ in functions(template):
            variables = _variables(template, function)
            queue = {k: variables[k] for k in ("QUEUE", "ACTIVITY_QUEUE_URL") if k in variables}
            assert queue == {"QUEUE": "off"}, (name, function)
            assert Settings.from_env(queue).queue == "off"


def test_with_the_table_switched_off_the_deployed_settings_make_data_routes_answer_503(matrix, env, auth):
    _, template, _ = next(v for k, v in matrix.items() if "EnableTasksTable=false" in k)
    variables = _variables(template)
    env(STORE=variables["STORE"], TABLE_NAME=variables["TABLE_NAME"], LOG_FORMAT=variables["LOG_FORMAT"])

    with Client(app) as client:
        for method, path in (("GET", "/items"), ("GET", "/me")):
            response = getattr(client.http, method.lower())(path, headers=auth())
            assert response.status_code == 503, (path, response.body)
            assert json.loads(response.body)["code"] == "feature_disabled"
        assert client.http.get("/health").status_code == 200


# --- what issue 13 asks of the real app's stacks (the goldens' twins: test_production.py) ----------------


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_the_built_app_neither_exports_nor_imports(stacks, flavour):
    assert exports_and_imports(stacks[flavour]) == []


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_every_taggable_resource_of_the_built_app_carries_the_cost_allocation_tags(stacks, flavour):
    assert untagged(stacks[flavour], tags.TAGS) == []


STACK_TAGGED = {"AWS::Lambda::EventSourceMapping"}


@pytest.mark.parametrize("which", EVERY)
def test_every_taggable_resource_sam_generates_carries_the_cost_allocation_tags_too(translated, which):
    # SAM turns a function's and an API's tags (PropagateTags) into tags on what it generates: the Lambda
    # function, the REST API and its stage. Not on a function's event source mappings: those get the stack
    # tags scripts/deploy.sh sets (test_deploy_script.py), which CloudFormation hands to every resource.
    missing = []
    for name, resource in translated[which]["Resources"].items():
        if tagging(resource["Type"]) is None or resource["Type"] in STACK_TAGGED:
            continue
        carried = tags_of(resource)
        if any(key not in carried for key in tags.TAGS):
            missing.append((name, resource["Type"], sorted(carried)))
    assert missing == []


# --- what the fixed CloudWatch items cost (docs/DEPLOY.md "What it costs", README) ----------------------

FREE_ALARM_METRICS = 10
ALARM_METRIC_PRICE = 0.10  # $ a month, standard resolution
FREE_DASHBOARDS = 3
EVERY_FEATURE = {
    "EnableTasksTable": "true",
    "EnableSqsIntegration": "true",
    "EnableChatAlerts": "true",
    budget.AMOUNT: "25",
}


def _cloudwatch_counts(template: dict) -> tuple[int, int, int]:
    """(alarms, alarm metrics, dashboards) of the template with every feature on. CloudWatch bills an alarm
    per metric it reads: a metric-math alarm counts each MetricStat, its expressions nothing."""
    resources = resolve(template, EVERY_FEATURE)["Resources"].values()
    alarms = [r["Properties"] for r in resources if r["Type"] == "AWS::CloudWatch::Alarm"]
    metrics = sum(sum("MetricStat" in m for m in a["Metrics"]) if "Metrics" in a else 1 for a in alarms)
    dashboards = sum(r["Type"] == "AWS::CloudWatch::Dashboard" for r in resources)
    return len(alarms), metrics, dashboards


def _table_row(text: str, label: str) -> list[str]:
    (row,) = [line for line in text.splitlines() if line.startswith(f"| {label} |")]
    return [cell.strip() for cell in row.strip("|").split("|")[1:]]


def test_the_documented_alarm_count_and_monthly_cost_are_the_built_templates(stacks):
    deploy = (PROJECT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    counts = {flavour: _cloudwatch_counts(stacks[flavour]) for flavour in ("rest", "http")}
    documented_alarms = _table_row(deploy, "alarms")
    documented_metrics = _table_row(deploy, "alarm metrics")
    documented_billed = _table_row(deploy, "alarm metrics billed (beyond the free 10)")
    documented_dashboards = _table_row(deploy, "dashboards")
    readme_row = next(r for r in readme.splitlines() if r.startswith("| fixed CloudWatch cost a month"))
    readme_cells = [c.strip() for c in readme_row.strip("|").split("|")[1:]]
    for column, flavour in enumerate(("rest", "http")):
        alarms, metrics, dashboards = counts[flavour]
        billed = max(0, metrics - FREE_ALARM_METRICS)
        cost = f"${billed * ALARM_METRIC_PRICE:.2f}"
        where = f"the {flavour.upper()} column of DEPLOY.md's CloudWatch table should say"
        assert documented_alarms[column] == str(alarms), f"{where} {alarms} alarms"
        assert documented_metrics[column] == str(metrics), f"{where} {metrics} alarm metrics"
        billed_text = f"{billed} x ${ALARM_METRIC_PRICE:.2f} = {cost}"
        assert documented_billed[column] == billed_text, f"{where} {billed_text}"
        assert dashboards <= FREE_DASHBOARDS and documented_dashboards[column] == f"{dashboards} (free)", flavour
        readme_text = f"{metrics} alarm metrics ({alarms} alarms): {cost}"
        assert readme_cells[column] == readme_text, f"README's {flavour.upper()} cost cell should say {readme_text}"


# --- every combination of the deployment topology -----------------------------------------------------


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_the_matrix_meets_every_pair_of_values_of_any_two_parameters_in_each_flavour(matrix, flavour):
    # cfn-lint and checkov take over a second a template: the matrix is a pairwise covering array, so each value
    # of each topology parameter meets each value of every flag and of every other topology parameter.
    topology = topology_dimensions(flavour)
    met = set().union(*(pairs_of({**flags, **values}, topology) for flags, values in matrix_rows(flavour)))
    assert required_pairs(flavour) - met == set()
    # And the matrix renders those rows: each with its topology's parameters.
    rendered = {name: params for name, (_, _, params) in matrix.items() if name.startswith(f"api={flavour}-")}
    assert len(rendered) == len(matrix_rows(flavour))
    for (name, _), (_, values) in zip(flag_combinations(flavour), matrix_rows(flavour), strict=True):
        expected = topology_overrides(values)
        assert {k: rendered[name][k] for k in expected} == expected, name


def test_every_rendered_combination_translates_into_what_its_parameters_say(
    matrix, topology_renders, translated_renders
):
    renders = {f"matrix:{n}": r for n, r in matrix.items()} | {f"topology:{n}": r for n, r in topology_renders.items()}
    # Each flavour: 5 table layouts (one region; home or other of two, EVENTUAL or STRONG) x domain x network x PC.
    assert len({n for n in renders if n.startswith("topology:")}) == 2 * 5 * 2 * 3 * 2
    for name, (_, template, params) in renders.items():
        translated = translated_renders[name]
        assert "error" not in translated, (name, translated.get("error"))
        resources = translated["Resources"]
        kinds = {logical: resource["Type"] for logical, resource in resources.items()}
        for function, _ in functions(template):
            assert kinds[function] == "AWS::Lambda::Function", (name, function)
            # In the VPC as the network step placed it (test_network.py says which), and never without the network.
            in_vpc = "VpcConfig" in resources[function]["Properties"]
            assert in_vpc is ("VpcConfig" in template["Resources"][function]["Properties"]), (name, function)
            assert not in_vpc or params["PrivateNetwork"] != "off", (name, function)
        assert ("VpcConfig" in resources["APIHandler"]["Properties"]) is (params["PrivateNetwork"] != "off"), name
        provisioned = params["ProvisionedConcurrency"] != "0"
        for function in concurrency.ALIASED:
            alias = resources[f"{function}Alias{concurrency.ALIAS}"]["Properties"]
            assert ("ProvisionedConcurrencyConfig" in alias) is provisioned, (name, function)
        # One region: the single table; the home of several: the global table; another region: no table.
        table_kinds = {kind for kind in kinds.values() if kind.startswith("AWS::DynamoDB::")}
        layouts = {"": {"AWS::DynamoDB::Table"}, HOME_REGIONS: {"AWS::DynamoDB::GlobalTable"}, REPLICA_REGIONS: set()}
        assert table_kinds == (layouts[params["TableRegions"]] if params["EnableTasksTable"] == "true" else set()), name
        domain_on = bool(params["DomainName"])
        assert ("AWS::Route53::HealthCheck" in kinds.values()) is domain_on, name
        assert ("AWS::Route53::RecordSet" in kinds.values()) is domain_on, name
