"""Focused tests per transform, on its pair's hand-written input (pairs/<transform>/input.yaml): the
behaviour each one promises, named, beside the whole expected output that test_pairs.py compares."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib import keys
from chalicelib import vocabulary
from chalicelib.auth.authorizer import PLACEHOLDER_USER_POOL_ARN
from chalicelib.keys import TTL_ATTRIBUTE
from chalicelib.observability import metrics
from chalicelib.tasks.outbox import CAPTURED_KEYS
from chalicelib.tasks.outbox import CAPTURED_PREFIXES
from chalicelib.vocabulary import UNROUTED_PATH
from cloudformation.template import functions
from cloudformation.transforms import api
from cloudformation.transforms import chat_commands
from cloudformation.transforms import cognito
from cloudformation.transforms import console
from cloudformation.transforms import functions as shared
from cloudformation.transforms import http_api
from cloudformation.transforms import iam
from cloudformation.transforms import image
from cloudformation.transforms import notifier
from cloudformation.transforms import observability
from cloudformation.transforms import queues
from cloudformation.transforms import stream
from cloudformation.transforms import streaming
from cloudformation.transforms import tables
from tests.cloudformation.support.expected import input_of
from tests.cloudformation.support.resolve import resolve
from tests.cloudformation.support.resolve import value
from tests.cloudformation.support.stack import PROJECT
from tests.observability.filter_pattern import matches


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()  # EnqueueFailures -> ENQUEUE_FAILURES


def paths(template: dict) -> dict:
    return template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]


def test_image_packages_every_function_with_its_handler_as_the_image_command():
    before = dict(functions(input_of(image.transform)))
    out = image.transform(input_of(image.transform))
    for name, function in functions(out):
        props = function["Properties"]
        assert props["PackageType"] == "Image" and props["ImageUri"] == image.IMAGE_URI
        assert props["ImageConfig"] == {"Command": [before[name]["Properties"]["Handler"]]}
        assert props["Architectures"] == [{"Ref": "Architecture"}]
        assert not {"Runtime", "Handler", "CodeUri"} & set(props)
    assert out["Parameters"]["Architecture"]["Default"] == "arm64"


def test_image_takes_the_bootstrap_stacks_repository_from_ssm_and_the_digest_from_a_parameter():
    out = image.transform(input_of(image.transform))
    deployed = resolve(out, {"AppStage": "dev", "ImageDigest": "sha256:" + "a" * 64}, pseudo={})
    uris = {f["Properties"]["ImageUri"] for _, f in functions(deployed)}
    repository = vocabulary.SSM_PREFIX.format(stage="dev") + "/" + vocabulary.SSM_REPOSITORY_URI
    assert uris == {"{{resolve:ssm:" + repository + "}}@sha256:" + "a" * 64}
    pattern = out["Parameters"]["ImageDigest"]["AllowedPattern"]
    assert re.fullmatch(pattern, "sha256:" + "0123456789abcdef" * 4)
    assert not re.fullmatch(pattern, "latest") and not re.fullmatch(pattern, "repo@sha256:" + "a" * 64)


def test_streaming_points_the_stream_route_at_its_own_function_with_stream_transfer_mode():
    out = streaming.transform(input_of(streaming.transform))
    integration = paths(out)["/assistant/stream"]["post"]["x-amazon-apigateway-integration"]
    assert integration["responseTransferMode"] == "STREAM"
    assert integration["type"] == "aws_proxy"
    assert integration["uri"]["Fn::Sub"].endswith(
        "/2021-11-15/functions/${AssistantStreamHandler.Arn}/response-streaming-invocations"
    )
    function = out["Resources"]["AssistantStreamHandler"]["Properties"]
    assert function["ImageConfig"]["EntryPoint"][-2:] == ["-m", "chalicelib.streaming"]
    assert function["Timeout"] * 1000 >= integration["timeoutInMillis"] > 29_000
    permission = out["Resources"]["AssistantStreamHandlerInvokePermission"]["Properties"]
    assert permission["SourceArn"]["Fn::Sub"].endswith("/*/POST/assistant/stream")


def test_streaming_adds_a_protected_placeholder_route_when_chalice_emitted_none():
    template = input_of(streaming.transform)
    del paths(template)["/assistant/stream"]
    method = paths(streaming.transform(template))["/assistant/stream"]["post"]
    assert method["security"] == [{"CognitoAuthorizer": []}]
    assert method["x-amazon-apigateway-integration"]["responseTransferMode"] == "STREAM"


def test_shared_settings_give_every_function_json_logs_and_a_per_stack_cursor_key():
    out = shared.transform(input_of(shared.transform))
    for _, function in functions(out):
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["LOG_FORMAT"] == "json"
        assert variables["CURSOR_SECRET"] == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
        assert function["Properties"]["Tracing"] == "Active"
        assert {s["id"] for s in function["Metadata"]["checkov"]["skip"]} == set(shared.CHECKOV_SKIPS)


def test_shared_settings_refuse_an_api_function_that_outlives_api_gateway():
    template = input_of(shared.transform)
    template["Resources"]["APIHandler"]["Properties"]["Timeout"] = 29
    with pytest.raises(ValueError, match="API Gateway gives up after 29 s"):
        shared.transform(template)


def test_cognito_replaces_the_placeholder_pool_and_requires_the_api_scope_on_protected_routes():
    out = cognito.transform(input_of(cognito.transform))
    assert PLACEHOLDER_USER_POOL_ARN not in json.dumps(out)
    definition = out["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = definition["securityDefinitions"]["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["providerARNs"] == [cognito.POOL_ARN]
    assert definition["paths"]["/items"]["get"]["security"] == [{"CognitoAuthorizer": [cognito.SCOPE]}]
    assert "security" not in definition["paths"]["/health"]["get"]
    assert out["Resources"]["UserPoolClient"]["Properties"]["AllowedOAuthScopes"][-1] == "tasks-api/api"
    for _, function in functions(out):
        assert {"AUTH_ISSUER", "AUTH_CLIENT_IDS"} <= set(function["Properties"]["Environment"]["Variables"])


def test_cognito_refuses_a_template_without_the_placeholder_authorizer():
    template = input_of(cognito.transform)
    del template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["securityDefinitions"]
    with pytest.raises(ValueError, match="placeholder"):
        cognito.transform(template)


def test_tables_create_the_single_table_behind_its_flag_and_tell_the_app():
    out = tables.transform(input_of(tables.transform))
    table = out["Resources"]["TasksTable"]
    assert table["Condition"] == "TasksSingleTable" and table["DeletionPolicy"] == "Retain"
    assert out["Conditions"]["TasksSingleTable"] == {
        "Fn::And": [{"Condition": "TasksTableEnabled"}, {"Fn::Not": [{"Condition": "MultiRegion"}]}]
    }
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["PK", "SK"]
    assert props["GlobalSecondaryIndexes"][0]["IndexName"] == "GSI1"
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] and props["PointInTimeRecoverySpecification"]
    # The outbox: every change, with the item before and after it (the forwarder tells the kind apart).
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    for _, function in functions(out):
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["STORE"] == {"Fn::If": ["TasksTableEnabled", "dynamodb", "off"]}
        assert variables["TABLE_NAME"] == {"Fn::If": ["TasksTableEnabled", tables.table_name(tables.TASKS), ""]}
        assert variables["REGIONS"] == {"Ref": "TableRegions"}


def test_queues_wire_each_consumer_to_its_queue_with_partial_batch_responses():
    out = queues.transform(input_of(queues.transform))
    assert queues.consumers(out) == {"OnActivity": "ActivityQueue", "OnDeadLetter": "ActivityDeadLetterQueue"}
    for name in ("OnActivity", "OnDeadLetter"):
        function = out["Resources"][name]
        assert function["Condition"] == "SqsEnabled"
        for event in function["Properties"]["Events"].values():
            assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = out["Resources"]["ActivityQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "ActivityMaxReceiveCount"}
    assert queue["SqsManagedSseEnabled"]


def test_queues_keep_each_queue_invisible_six_times_its_own_consumers_timeout_plus_their_batching_window():
    # The input's consumers: OnActivity 60 s, no window; OnDeadLetter 30 s with a 10 s batching window.
    out = queues.transform(input_of(queues.transform))
    assert out["Resources"]["ActivityQueue"]["Properties"]["VisibilityTimeout"] == 6 * 60
    assert out["Resources"]["ActivityDeadLetterQueue"]["Properties"]["VisibilityTimeout"] == 6 * 30 + 10


def test_queues_leave_a_queue_without_consumers_at_the_sqs_default():
    template = input_of(queues.transform)
    del template["Resources"]["OnDeadLetter"]
    out = queues.transform(template)
    assert "VisibilityTimeout" not in out["Resources"]["ActivityDeadLetterQueue"]["Properties"]


def test_queues_switched_off_tell_the_other_functions_queue_off_without_a_url():
    out = queues.transform(input_of(queues.transform))
    consumed = queues.consumers(out)
    for name, function in functions(out):
        variables = function["Properties"]["Environment"]["Variables"]
        if name in consumed:  # exists only with its queue
            assert variables["QUEUE"] == "sqs" and variables["ACTIVITY_QUEUE_URL"] == {"Ref": "ActivityQueue"}
            continue
        # Not "local": an in-process queue inside Lambda loses its events when the container goes.
        assert variables["QUEUE"] == {"Fn::If": ["SqsEnabled", "sqs", "off"]}, name
        assert variables["ACTIVITY_QUEUE_URL"] == {
            "Fn::If": ["SqsEnabled", {"Ref": "ActivityQueue"}, {"Ref": "AWS::NoValue"}]
        }, name


def test_queues_refuse_a_consumer_of_a_queue_the_stack_does_not_create():
    template = input_of(queues.transform)
    event = template["Resources"]["OnActivity"]["Properties"]["Events"]["OnActivitySqsEventSource"]
    event["Properties"]["Queue"] = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:other"}
    with pytest.raises(ValueError, match="other"):
        queues.transform(template)


def _mapping(template: dict) -> dict:
    (event,) = template["Resources"]["OnTableChange"]["Properties"]["Events"].values()
    assert event["Type"] == "DynamoDB"
    return event["Properties"]


def _admits(pattern: dict, record: dict) -> bool:
    """Lambda's event filtering, as far as the forwarder's pattern uses it: nested objects, and a list of
    alternatives that are exact strings or ``{"prefix": ...}``."""
    for field, rule in pattern.items():
        if field not in record:
            return False
        if isinstance(rule, dict):
            if not (isinstance(record[field], dict) and _admits(rule, record[field])):
                return False
            continue
        value = record[field]
        if not any(
            value == alternative if isinstance(alternative, str) else value.startswith(alternative["prefix"])
            for alternative in rule
        ):
            return False
    return True


def _stream_record(sk: str, event_name: str = "MODIFY") -> dict:
    return {"eventName": event_name, "dynamodb": {"Keys": {"PK": {"S": "USER#u1"}, "SK": {"S": sk}}}}


def test_stream_invokes_the_forwarder_only_for_the_captured_keys():
    (only,) = _mapping(stream.transform(input_of(stream.transform)))["FilterCriteria"]["Filters"]
    pattern = json.loads(only["Pattern"])
    alternatives = pattern["dynamodb"]["Keys"]["SK"]["S"]
    assert [a["prefix"] for a in alternatives if isinstance(a, dict)] == list(CAPTURED_PREFIXES)
    assert [a for a in alternatives if isinstance(a, str)] == list(CAPTURED_KEYS)
    admitted = [keys.item_key("u1", "i1").sk, keys.profile_key("u1").sk]
    refused = [
        keys.stats_key("u1").sk,
        keys.activity_key("u1", "2024-01-01T00:00:00Z", "e1").sk,
        keys.idempotency_record_key("u1", "k1").sk,
        "ITEM",  # the prefix, not a key starting with it
        "XITEM#i1",
        "METADATA#x",
    ]
    for event_name in ("INSERT", "MODIFY", "REMOVE"):
        assert all(_admits(pattern, _stream_record(sk, event_name)) for sk in admitted), event_name
        assert not any(_admits(pattern, _stream_record(sk, event_name)) for sk in refused), event_name
    assert len(only["Pattern"]) <= 4096  # Lambda's limit on one pattern


def test_stream_reads_the_tables_stream_and_never_skips_a_record_it_still_holds():
    props = _mapping(stream.transform(input_of(stream.transform)))
    assert props["Stream"] == tables.stream_arn(tables.TASKS)  # this region's: tests/cloudformation/test_regions.py
    assert props["StartingPosition"] == "TRIM_HORIZON"  # from the oldest record the stream keeps
    assert props["BisectBatchOnFunctionError"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # -1: no limit on retries or on a record's age; only the stream's 24 h retention ends them.
    assert props["MaximumRetryAttempts"] == -1 and props["MaximumRecordAgeInSeconds"] == -1
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [stream.FAILURE_QUEUE, "Arn"]}}}


def test_stream_keeps_what_outlived_the_stream_on_an_encrypted_queue_for_14_days():
    out = stream.transform(input_of(stream.transform))
    queue = out["Resources"][stream.FAILURE_QUEUE]
    assert queue["Type"] == "AWS::SQS::Queue" and queue["Condition"] == stream.ENABLED
    assert queue["Properties"] == {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}


def test_stream_forwarder_exists_only_with_the_table_and_the_queue_and_is_told_both_are_there():
    out = stream.transform(input_of(stream.transform))
    assert out["Conditions"][stream.ENABLED] == {
        "Fn::And": [{"Condition": tables.TASKS.condition}, {"Condition": queues.ENABLED}]
    }
    forwarder = out["Resources"]["OnTableChange"]
    assert forwarder["Condition"] == stream.ENABLED
    assert forwarder["Properties"]["Environment"]["Variables"] == {
        "LOG_FORMAT": "json",
        "STORE": "dynamodb",
        "TABLE_NAME": {"Ref": tables.TASKS.resource},
        "QUEUE": "sqs",
        "ACTIVITY_QUEUE_URL": {"Ref": queues.ACTIVITY_QUEUE},
    }
    # The other functions keep the queue's switch.
    api_variables = out["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api_variables["QUEUE"] == {"Fn::If": ["SqsEnabled", "sqs", "off"]}
    assert stream.forwarders(out) == {"OnTableChange": "TasksTable"}


def test_stream_refuses_a_forwarder_of_a_stream_the_stack_does_not_create():
    template = input_of(stream.transform)
    _mapping(template)["Stream"] = "arn:aws:dynamodb:us-east-1:000000000000:table/other/stream/x"
    with pytest.raises(ValueError, match="other"):
        stream.transform(template)


def test_stream_adds_no_failure_queue_without_a_forwarder():
    template = input_of(stream.transform)
    del template["Resources"]["OnTableChange"]
    assert stream.FAILURE_QUEUE not in stream.transform(template)["Resources"]


def test_observability_alarms_when_the_forwarder_falls_behind_the_stream_or_changes_outlive_it():
    out = observability.transform(input_of(observability.transform))
    lag = out["Resources"]["OnTableChangeIteratorAgeAlarm"]
    assert lag["Condition"] == stream.ENABLED
    props = lag["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "OnTableChange"}}]
    assert props["Threshold"] == 60_000  # milliseconds
    given_up = out["Resources"]["TableStreamFailuresAlarm"]
    assert given_up["Condition"] == stream.ENABLED
    assert given_up["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [stream.FAILURE_QUEUE, "QueueName"]}
    assert given_up["Properties"]["Threshold"] == 0
    # Failures of the forwarder itself: every function's Errors alarm, on the same topic.
    errors = out["Resources"]["OnTableChangeErrorsAlarm"]
    assert errors["Condition"] == stream.ENABLED and errors["Properties"]["MetricName"] == "Errors"
    for alarm in (lag, given_up, errors):
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_observability_dashboard_has_a_row_for_the_pipeline():
    out = observability.transform(input_of(observability.transform))
    body, variables = out["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    row = [w for w in widgets if w["y"] == max(w["y"] for w in widgets)]
    shown = {m[1] for w in row for m in w["properties"]["metrics"]}
    assert len(row) == 3
    assert shown == {
        "IteratorAge",
        "Errors",
        "ApproximateNumberOfMessagesVisible",
        "EventsRecorded",
        "DeadLetterMessages",
    }
    assert variables["FailureQueueName"]["Fn::If"][0] == stream.ENABLED


def test_observability_gives_every_function_a_30_day_log_group_and_alarms():
    out = observability.transform(input_of(observability.transform))
    for name, function in functions(out):
        assert function["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": f"{name}LogGroup"}}
        assert out["Resources"][f"{name}LogGroup"]["Properties"]["RetentionInDays"] == 30
        for alarm in ("Errors", "Throttles", "Duration"):
            assert out["Resources"][f"{name}{alarm}Alarm"].get("Condition") == function.get("Condition")
    assert out["Resources"]["DeadLetterQueueDepthAlarm"]["Properties"]["Threshold"] == 0
    body, variables = out["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([A-Za-z0-9:]+)\}", body))
    assert names <= set(variables) | {"AWS::Region", "AWS::StackName", "BedrockModelId"}
    titles = [w["properties"]["title"] for w in json.loads(body)["widgets"]]
    for service in ("Lambda", "API", "Bedrock", "DynamoDB", "queue", "App"):
        assert any(service in title for title in titles), service


def test_observability_alarms_on_activity_events_not_enqueued_or_dead_lettered():
    out = observability.transform(input_of(observability.transform))
    for name, metric in (
        ("EnqueueFailuresAlarm", "EnqueueFailures"),
        ("DeadLetterMessagesAlarm", "DeadLetterMessages"),
    ):
        alarm = out["Resources"][name]
        assert alarm["Condition"] == "SqsEnabled", name
        props = alarm["Properties"]
        # The bare metric, which the code publishes too (the dimension set ()).
        assert props["Namespace"] == observability.APP_NAMESPACE and props["MetricName"] == metric
        assert "Dimensions" not in props and () in getattr(metrics, snake(metric)).dimensions
        assert (props["Statistic"], props["Period"], props["ComparisonOperator"], props["Threshold"]) == (
            "Sum",
            300,
            "GreaterThanOrEqualToThreshold",
            1,
        )
        assert props["TreatMissingData"] == "notBreaching"  # no events, no data: not an outage
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlarmTopic"}]
    # Kept: it catches the dead-letter consumer itself failing, when DeadLetterMessages stays silent.
    assert out["Resources"]["DeadLetterQueueDepthAlarm"]["Condition"] == "SqsEnabled"


def test_observability_dashboard_shows_the_activity_path():
    out = observability.transform(input_of(observability.transform))
    body, _ = out["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    shown = {
        (m[1], tuple(m[2:-1]), m[-1]["stat"])
        for w in widgets
        for m in w["properties"]["metrics"]
        if m[0] == observability.APP_NAMESPACE_TEXT
    }
    activity = ("Service", "activity")
    assert {
        ("EventsRecorded", activity, "Sum"),
        ("DuplicateEvents", activity, "Sum"),
        ("EventFailures", activity, "Sum"),
        ("EventAge", activity, "p99"),
        ("EnqueueFailures", (), "Sum"),
        ("DeadLetterMessages", (), "Sum"),
    } <= shown
    # The grid stays whole: no two widgets overlap.
    cells = [(w["x"] + dx, w["y"] + dy) for w in widgets for dx in range(w["width"]) for dy in range(w["height"])]
    assert len(cells) == len(set(cells))


def test_iam_gives_each_function_its_own_role_with_only_what_it_needs():
    out = iam.transform(input_of(iam.transform))
    assert "DefaultRole" not in out["Resources"]

    def actions(name):
        found = set()
        for statement in out["Resources"][f"{name}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
            statement = statement["Fn::If"][1] if "Fn::If" in statement else statement
            found.update(statement["Action"])
        return found

    assert {"dynamodb:PutItem", "bedrock:InvokeModelWithResponseStream"} <= actions("APIHandler")
    assert "sqs:SendMessage" not in actions("APIHandler")  # the forwarder sends the events
    assert {a for a in actions("AssistantStreamHandler") if a.startswith("dynamodb:")} == set(iam.TABLE_READ)
    # The dead-letter consumer reads the failure note and keeps the message: those two calls, nothing else.
    assert {a for a in actions("OnDeadLetter") if a.startswith(("dynamodb:", "bedrock:"))} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    }
    for name, function in functions(out):
        assert function["Properties"]["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}


def test_iam_lets_the_forwarder_read_exactly_the_tables_stream_and_send_to_exactly_its_two_queues():
    out = iam.transform(input_of(iam.transform))
    role = out["Resources"]["OnTableChangeRole"]
    assert role["Condition"] == stream.ENABLED
    granted = {
        s["Sid"]: (sorted(s["Action"]), s["Resource"])
        for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    }
    assert granted == {
        "OwnLogGroup": (sorted(iam.LOGS), {"Fn::GetAtt": ["OnTableChangeLogGroup", "Arn"]}),
        "Tracing": (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "*"),
        "ReadTableStream": (
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
            tables.stream_arn(tables.TASKS),
        ),
        "SendActivityQueue": (["sqs:SendMessage"], {"Fn::GetAtt": ["ActivityQueue", "Arn"]}),
        "SendTableStreamFailureQueue": (["sqs:SendMessage"], {"Fn::GetAtt": [stream.FAILURE_QUEUE, "Arn"]}),
    }


def test_api_makes_the_stage_regional_throttled_traced_and_logged_with_problem_errors():
    out = api.transform(input_of(api.transform))
    props = out["Resources"]["RestAPI"]["Properties"]
    assert props["EndpointConfiguration"] == {"Type": "REGIONAL"} and props["TracingEnabled"] is True
    assert props["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert props["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert json.loads(props["AccessLogSetting"]["Format"])["requestId"] == "$context.requestId"
    unauthorized = props["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"]
    for headers in unauthorized["responseParameters"]["Fn::If"][1:]:  # with CORS on and off
        assert headers["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    assert json.loads(unauthorized["responseTemplates"]["application/json"])["code"] == "unauthorized"
    assert out["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == 30
    assert "ApiGatewayAccountReady" in out["Resources"]["RestAPI"]["DependsOn"]


def test_api_lets_the_first_cors_origin_read_the_gateways_own_errors_only_when_cors_is_on():
    out = api.transform(input_of(api.transform))
    responses = out["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert out["Conditions"]["CorsEnabled"] == api.CORS_CONDITION
    for kind, response in responses.items():
        condition, on, off = response["responseParameters"]["Fn::If"]
        assert condition == "CorsEnabled", kind
        assert on["gatewayresponse.header.Access-Control-Allow-Origin"] == api.FIRST_ORIGIN, kind
        assert "X-Request-Id" in on["gatewayresponse.header.Access-Control-Expose-Headers"], kind
        assert {k: v for k, v in on.items() if "Access-Control" not in k} == off, kind


def test_http_api_replaces_the_rest_api_and_everything_naming_it():
    out = http_api.transform(input_of(http_api.transform))
    assert "RestAPI" not in json.dumps(out)
    assert "AssistantStreamHandlerInvokePermission" not in out["Resources"]
    assert out["Resources"]["HttpApi"]["Properties"]["ProtocolType"] == "HTTP"
    assert set(out["Outputs"]) == {"UserPoolId", "EndpointURL", "HttpApiId"}


def test_http_api_routes_each_swagger_method_and_protects_what_the_swagger_protects_with_its_scopes():
    out = http_api.transform(input_of(http_api.transform))
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in out["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    catch_all = {"GET /{proxy+}", "PUT /{proxy+}", "GET /", "PUT /"}
    assert set(routes) == {"GET /health", "GET /items", "DELETE /items/{item_id}", "POST /assistant/stream"} | catch_all
    for public in ("GET /health", *catch_all):
        assert routes[public]["AuthorizationType"] == "NONE" and "AuthorizerId" not in routes[public]
    for key in ("GET /items", "DELETE /items/{item_id}", "POST /assistant/stream"):
        assert routes[key]["AuthorizationType"] == "JWT"
        assert routes[key]["AuthorizerId"] == {"Ref": http_api.AUTHORIZER}
        assert routes[key]["AuthorizationScopes"] == [cognito.SCOPE]
    # Every route, the stream's too, goes to the API function: the HTTP API cannot stream.
    assert {json.dumps(r["Target"]) for r in routes.values()} == {
        json.dumps({"Fn::Join": ["/", ["integrations", {"Ref": http_api.INTEGRATION}]]})
    }
    integration = out["Resources"][http_api.INTEGRATION]["Properties"]
    assert integration["PayloadFormatVersion"] == "1.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["APIHandler", "Arn"]}


def test_http_api_sends_what_no_route_matches_to_the_app_only_when_the_app_declares_its_catch_all():
    template = input_of(http_api.transform)
    keys = {r["Properties"].get("RouteKey") for r in http_api.transform(template)["Resources"].values()}
    # The greedy route's methods but OPTIONS (left to the CORS configuration), there and on the root.
    assert {"GET /{proxy+}", "GET /"} <= keys and not {k for k in keys if k and k.startswith(("OPTIONS", "$"))}
    del template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"][UNROUTED_PATH]
    keys = {r["Properties"].get("RouteKey") for r in http_api.transform(template)["Resources"].values()}
    assert not {k for k in keys if k and (k.endswith(" /") or UNROUTED_PATH in k)}


def test_api_sends_every_request_no_route_serves_to_the_api_function_without_a_token_check():
    template = input_of(api.transform)
    paths = api.transform(template)["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    catch_all = paths[UNROUTED_PATH]
    # ANY on the greedy resource, on every other resource (beside its own methods) and on the root.
    assert list(catch_all) == [api.ANY_METHOD]
    assert set(paths) == {"/", "/health", UNROUTED_PATH} and paths["/health"]["get"] == {}
    integration = catch_all[api.ANY_METHOD]["x-amazon-apigateway-integration"]
    assert "${APIHandler.Arn}" in json.dumps(integration) and integration["type"] == "aws_proxy"
    for methods in paths.values():
        assert methods[api.ANY_METHOD]["x-amazon-apigateway-integration"] == integration
        assert "security" not in methods[api.ANY_METHOD]
    del template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"][UNROUTED_PATH]
    untouched = api.transform(template)["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert untouched == {"/health": {"get": {}}}


def test_http_api_checks_cognito_tokens_by_issuer_and_client_id():
    out = http_api.transform(input_of(http_api.transform))
    jwt = out["Resources"][http_api.AUTHORIZER]["Properties"]
    assert jwt["AuthorizerType"] == "JWT" and jwt["IdentitySource"] == ["$request.header.Authorization"]
    assert jwt["JwtConfiguration"] == {
        "Issuer": cognito.ISSUER,
        "Audience": {"Fn::Split": [",", cognito.CLIENT_IDS]},
    }


def test_http_api_answers_cors_itself_from_parameters_and_the_app_adds_none():
    out = http_api.transform(input_of(http_api.transform))
    condition, cors, off = out["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert condition == "CorsEnabled" and off == {"Ref": "AWS::NoValue"}
    assert cors["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowOrigins"}]}
    assert cors["AllowHeaders"] == {"Fn::Split": [",", {"Ref": "CorsAllowHeaders"}]}
    assert cors["MaxAge"] == {"Ref": "CorsMaxAge"}
    # The route table's methods are the default (not the catch-all's PUT); OPTIONS is the API's to answer.
    assert out["Parameters"]["CorsAllowMethods"]["Default"] == "DELETE,GET,POST"
    variables = out["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert not {k for k in variables if k.startswith("CORS_")}


def test_http_api_throttles_logs_and_lets_only_itself_invoke_the_function():
    out = http_api.transform(input_of(http_api.transform))
    stage = out["Resources"][http_api.STAGE]["Properties"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert json.loads(stage["AccessLogSettings"]["Format"])["route"] == "$context.routeKey"
    assert out["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == 30
    (permission,) = [r for r in out["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permission["Properties"]["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/*")


def test_http_api_refuses_an_authorizer_it_cannot_map_to_the_jwt_authorizer():
    template = input_of(http_api.transform)
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    paths["/items"]["get"]["security"] = [{"SomeIamAuth": []}]
    with pytest.raises(ValueError, match="only the Cognito authorizer"):
        http_api.transform(template)


def test_observability_reads_the_http_apis_own_metrics_in_the_http_flavour():
    template = http_api.transform(input_of(http_api.transform))
    template["Resources"]["APIHandler"]["Properties"].pop("Environment")
    out = observability.transform(template)
    alarm = out["Resources"]["Api5xxRateAlarm"]["Properties"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"5xx", "Count"}
    for metric in alarm["Metrics"]:
        if "MetricStat" in metric:
            assert metric["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
    body = json.dumps(out["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    assert '\\"4xx\\"' in body and '\\"IntegrationLatency\\"' in body and "4XXError" not in body


def test_observability_graphs_and_alarms_the_streams_function_url_in_the_http_flavour():
    template = http_api.transform(input_of(http_api.transform))
    template["Resources"]["APIHandler"]["Properties"].pop("Environment")
    assert "StreamUrl5xxAlarm" not in observability.transform(template)["Resources"]  # no URL, no alarm
    template["Resources"]["StreamUrl"] = {
        "Type": "AWS::Lambda::Url",
        "Properties": {"TargetFunctionArn": {"Fn::GetAtt": ["APIHandler", "Arn"]}, "AuthType": "NONE"},
    }
    out = observability.transform(template)
    alarm = out["Resources"]["StreamUrl5xxAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Url5xxCount")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "APIHandler"}}]
    body = json.dumps(out["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    assert all(f'\\"{name}\\"' in body for name in (*observability.URL_COUNTS, "UrlRequestLatency"))


def test_chat_commands_create_the_region_switch_serving_and_tell_only_the_api_function_its_names():
    from chalicelib.vocabulary import SSM_PREFIX
    from chalicelib.vocabulary import SSM_REGION_SWITCH
    from chalicelib.vocabulary import SSM_SLACK_SIGNING_SECRET

    out = chat_commands.transform(input_of(chat_commands.transform))
    switch = out["Resources"][chat_commands.SWITCH]
    assert switch["Type"] == "AWS::SSM::Parameter"
    props = switch["Properties"]
    assert props["Type"] == "String" and props["Value"] == "serving"
    assert props["Name"] == {"Fn::Sub": SSM_PREFIX.format(stage="${AppStage}") + "/" + SSM_REGION_SWITCH}
    assert re.fullmatch(props["AllowedPattern"], "failed") and not re.fullmatch(props["AllowedPattern"], "FAILED")
    variables = dict(functions(out))["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["REGION_SWITCH_PARAMETER"] == {"Ref": chat_commands.SWITCH}
    secret = SSM_PREFIX.format(stage="${AppStage}") + "/" + SSM_SLACK_SIGNING_SECRET
    assert variables["SLACK_SIGNING_SECRET_PARAMETER"] == {"Fn::Sub": secret}
    assert variables["SLACK_ALLOWED_USERS"] == {"Ref": "SlackAllowedUsers"}
    assert out["Parameters"]["SlackAllowedUsers"]["Default"] == ""  # nobody, until the operator says who
    assert "Environment" not in dict(functions(out))["OnActivity"]["Properties"]


def test_iam_lets_only_the_api_read_the_switch_and_secret_flip_the_switch_and_describe_its_own_alarms():
    out = iam.transform(input_of(iam.transform))
    granted = {}
    for name, resource in out["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for statement in resource["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
                if "Sid" in statement:
                    granted.setdefault(statement["Sid"], []).append((name, statement))
    for sid in ("ReadRegionSwitchAndSlackSecret", "FlipRegionSwitch", "DescribeOwnAlarms"):
        ((role, statement),) = granted[sid]
        assert role == "APIHandlerRole"
        assert "*" not in json.dumps(statement["Resource"]).replace("${AWS::StackName}-*", "")
    (_, read), (_, flip) = granted["ReadRegionSwitchAndSlackSecret"][0], granted["FlipRegionSwitch"][0]
    assert read["Action"] == ["ssm:GetParameter"] and flip["Action"] == ["ssm:PutParameter"]
    assert flip["Resource"]["Fn::Sub"].endswith("/region/switch") and len(read["Resource"]) == 2


def test_notifier_subscribes_the_alarm_functions_to_the_alarm_topic_only_when_chat_alerts_are_on():
    out = notifier.transform(input_of(notifier.transform))
    function = out["Resources"]["OnAlarm"]
    [subscription] = function["Properties"]["Events"].values()
    assert subscription == {"Type": "SNS", "Properties": {"Topic": {"Ref": observability.TOPIC}}}
    assert function["Condition"] == notifier.ENABLED
    assert out["Parameters"]["EnableChatAlerts"]["Default"] == "false"
    assert "Condition" not in out["Resources"]["APIHandler"]


def test_notifier_tells_the_function_the_webhooks_full_ssm_name_under_the_stages_prefix_and_the_dashboard():
    out = notifier.transform(input_of(notifier.transform))
    variables = out["Resources"]["OnAlarm"]["Properties"]["Environment"]["Variables"]
    assert variables["SLACK_WEBHOOK_PARAMETER"] == {"Fn::Sub": "/tasks-api/${AppStage}/slack/webhook-url"}
    assert variables["DASHBOARD_NAME"] == observability.DASHBOARD_NAME
    assert "Environment" not in out["Resources"]["APIHandler"]["Properties"]


def test_notifier_alarms_on_messages_it_could_not_post():
    alarm = notifier.transform(input_of(notifier.transform))["Resources"][notifier.FAILURES_ALARM]
    assert alarm["Condition"] == notifier.ENABLED
    assert alarm["Properties"]["MetricName"] == metrics.NOTIFICATION_FAILURES.name
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": observability.TOPIC}]


def test_notifier_refuses_a_subscription_to_a_topic_the_stack_does_not_create():
    template = input_of(notifier.transform)
    template["Resources"]["OnAlarm"]["Properties"]["Events"]["OnAlarmSnsSubscription"]["Properties"]["Topic"] = {
        "Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:elsewhere"
    }
    with pytest.raises(ValueError, match="elsewhere"):
        notifier.transform(template)


def test_iam_lets_the_notifier_read_exactly_the_webhook_parameter_and_nothing_of_the_stacks_data():
    role = iam.transform(input_of(iam.transform))["Resources"]["OnAlarmRole"]
    assert role["Condition"] == notifier.ENABLED
    granted = {
        s["Sid"]: (s["Action"], s["Resource"]) for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    }
    assert granted == {
        "OwnLogGroup": (list(iam.LOGS), {"Fn::GetAtt": ["OnAlarmLogGroup", "Arn"]}),
        "Tracing": (list(iam.XRAY), "*"),
        # No kms:Decrypt: the SecureString is under the AWS managed key aws/ssm (iam.SSM_READ's comment).
        "ReadSlackWebhook": (
            ["ssm:GetParameter"],
            {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                "/tasks-api/${AppStage}/slack/webhook-url"
            },
        ),
    }


def access_line(log_format: str, **values: str) -> str:
    """One access log line as API Gateway writes it from ``log_format``: each $context variable replaced by
    its value (``-`` when not given, as API Gateway writes an empty one)."""
    return json.dumps({field: values.get(field, "-") for field in json.loads(log_format)})


@pytest.mark.parametrize(
    ("log_format", "refused"),
    [
        (api.ACCESS_LOG_FORMAT, {"error": "UNAUTHORIZED"}),
        (http_api.ACCESS_LOG_FORMAT, {"authorizerError": "the token has expired"}),
    ],
    ids=["rest", "http"],
)
def test_the_api_access_logs_401s_count_as_rejected_tokens_and_nothing_else_does(log_format, refused):
    pattern = api.sign_in_failures_filter()["Properties"]["FilterPattern"]
    assert matches(pattern, access_line(log_format, status="401", **refused))
    assert matches(pattern, access_line(log_format, status="401"))  # the app's own 401, through the API
    for status in ("200", "403", "404", "500"):
        assert not matches(pattern, access_line(log_format, status=status))


def test_both_flavours_count_the_access_logs_401s_without_any_of_the_lines_content():
    for out in (api.transform(input_of(api.transform)), http_api.transform(input_of(http_api.transform))):
        metric = out["Resources"][api.SIGN_IN_FAILURES_FILTER]["Properties"]
        assert metric["LogGroupName"] == {"Ref": api.ACCESS_LOG_GROUP}
        [transformation] = metric["MetricTransformations"]
        assert transformation["MetricName"] == metrics.API_SIGN_IN_FAILURES
        assert transformation["MetricValue"] == "1" and "Dimensions" not in transformation


def test_observability_alarms_above_the_sign_in_threshold_and_reaches_the_alarm_topic():
    out = observability.transform(input_of(observability.transform))
    alarm = out["Resources"]["SignInFailuresAlarm"]["Properties"]
    assert alarm["MetricName"] == metrics.API_SIGN_IN_FAILURES
    assert alarm["Threshold"] == {"Ref": observability.SIGN_IN_THRESHOLD}
    assert alarm["AlarmActions"] == [{"Ref": observability.TOPIC}]
    assert out["Parameters"][observability.SIGN_IN_THRESHOLD]["Type"] == "Number"


def test_observability_adds_the_streams_own_rejections_where_its_function_url_bypasses_the_api():
    template = http_api.transform(input_of(http_api.transform))
    template["Resources"]["APIHandler"]["Properties"].pop("Environment")
    template["Resources"]["StreamUrl"] = {
        "Type": "AWS::Lambda::Url",
        "Properties": {"TargetFunctionArn": {"Fn::GetAtt": ["APIHandler", "Arn"]}, "AuthType": "NONE"},
    }
    alarm = observability.transform(template)["Resources"]["SignInFailuresAlarm"]["Properties"]
    queried = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert queried["api"]["MetricName"] == metrics.API_SIGN_IN_FAILURES
    assert queried["stream"]["MetricName"] == metrics.SIGN_IN_FAILURES.name
    assert queried["stream"]["Dimensions"] == [{"Name": metrics.SERVICE, "Value": metrics.ASSISTANT_STREAM}]
    [expression] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert expression["Expression"] == "FILL(api, 0) + FILL(stream, 0)"
    assert alarm["Threshold"] == {"Ref": observability.SIGN_IN_THRESHOLD}


# --- the web console ----------------------------------------------------------------------------------

CONSOLE_ORIGIN = "https://d111111abcdef8.cloudfront.net"
# What the deployed stack names: its API, its stream's function URL, its hosted UI domain, its region.
DEPLOYED = {
    "AWS::Region": "eu-west-1",
    "AWS::URLSuffix": "amazonaws.com",
    "HttpApi": "a1b2c3",
    "RestAPI": "r4s5t6",
    "UserPoolDomain": "tasks-0f1e",
    "AssistantStreamFunctionUrl.FunctionUrl": "https://u7v8w9.lambda-url.eu-west-1.on.aws/",
}


def _console(**parameters: str) -> dict:
    """The console step's output on its pair's input (the HTTP flavour), resolved for ``parameters``."""
    return resolve(console.transform(input_of(console.transform)), parameters, pseudo={})


def _built() -> dict:
    """The console step's output on its pair's input, unresolved."""
    return console.transform(input_of(console.transform))


def _rest_input() -> dict:
    """The pair's input as the REST flavour leaves it: no function URL, the stage's path in EndpointURL."""
    template = input_of(console.transform)
    del template["Resources"]["AssistantStreamFunctionUrl"], template["Outputs"]["AssistantStreamUrl"]
    template["Outputs"]["EndpointURL"]["Value"] = {
        "Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/"
    }
    return template


def _deployed(expr):
    """A string expression as the deployed stack evaluates it (DEPLOYED's names for its resources)."""

    def attributes(node):
        if isinstance(node, dict):
            if set(node) == {"Fn::GetAtt"}:
                return DEPLOYED[".".join(node["Fn::GetAtt"])]
            return {k: attributes(v) for k, v in node.items()}
        return [attributes(v) for v in node] if isinstance(node, list) else node

    return value(attributes(expr), DEPLOYED)


def _csp(template: dict) -> dict[str, list[str]]:
    config = template["Resources"][console.HEADERS_POLICY]["Properties"]["ResponseHeadersPolicyConfig"]
    policy = config["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert policy["Override"] is True  # whatever the origin might send
    directives = [d.split() for d in _deployed(policy["ContentSecurityPolicy"]).split(";")]
    return {name: sources for name, *sources in directives}


def test_console_bucket_is_private_encrypted_and_refuses_every_request_without_tls():
    resources = _built()["Resources"]
    bucket = resources[console.BUCKET]["Properties"]
    assert (
        set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
        and len(bucket["PublicAccessBlockConfiguration"]) == 4
    )
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}  # no ACLs
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "WebsiteConfiguration" not in bucket and "BucketName" not in bucket
    policy = resources[console.BUCKET_POLICY]["Properties"]
    assert policy["Bucket"] == {"Ref": console.BUCKET}
    deny, allow = policy["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": [console.BUCKET, "Arn"]}, {"Fn::Sub": "${ConsoleBucket.Arn}/*"}]
    assert allow["Effect"] == "Allow" and allow["Principal"] != "*"


def test_console_bucket_lets_exactly_its_distribution_read_objects_through_origin_access_control():
    resources = _built()["Resources"]
    statements = resources[console.BUCKET_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject" and allow["Resource"] == {"Fn::Sub": "${ConsoleBucket.Arn}/*"}
    assert allow["Condition"] == {
        "StringEquals": {
            "AWS:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${ConsoleDistribution}"
            }
        }
    }
    control = resources[console.ORIGIN_ACCESS_CONTROL]["Properties"]["OriginAccessControlConfig"]
    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"], control["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    (origin,) = resources[console.DISTRIBUTION]["Properties"]["DistributionConfig"]["Origins"]
    # The bucket's REST endpoint (OAC signs for it; a website endpoint would be public), no legacy OAI.
    assert origin["DomainName"] == {"Fn::GetAtt": [console.BUCKET, "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [console.ORIGIN_ACCESS_CONTROL, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_console_distribution_serves_https_only_index_html_at_the_root_and_its_own_404_page():
    config = _built()["Resources"][console.DISTRIBUTION]["Properties"]["DistributionConfig"]
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": console.HEADERS_POLICY}
    assert behaviour["TargetOriginId"] == config["Origins"][0]["Id"]
    assert config["DefaultRootObject"] == "index.html" and config["Enabled"] is True
    # S3 answers 403 for a missing key (CloudFront may not list the bucket): both become the 404 page.
    pages = {e["ErrorCode"]: (e["ResponseCode"], e["ResponsePagePath"]) for e in config["CustomErrorResponses"]}
    assert pages == {403: (404, "/404.html"), 404: (404, "/404.html")}
    assert (PROJECT / "console" / "404.html").is_file()  # the page deploy.sh uploads from console/


def test_console_headers_policy_adds_hsts_nosniff_no_framing_and_no_referrer():
    config = _built()["Resources"][console.HEADERS_POLICY]["Properties"]["ResponseHeadersPolicyConfig"]
    security = config["SecurityHeadersConfig"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert all(header["Override"] for header in security.values())


def test_console_csp_allows_exactly_the_api_the_streams_function_url_and_the_hosted_ui_in_the_http_flavour():
    csp = _csp(_console())
    api_origin = "https://a1b2c3.execute-api.eu-west-1.amazonaws.com"
    stream_origin = "https://u7v8w9.lambda-url.eu-west-1.on.aws"
    hosted_ui = "https://tasks-0f1e.auth.eu-west-1.amazoncognito.com"
    assert csp["connect-src"] == ["'self'", api_origin, stream_origin, hosted_ui]
    assert csp["form-action"] == ["'self'", hosted_ui]
    assert csp["frame-ancestors"] == ["'none'"] and csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]  # nothing inline, no eval
    assert csp["base-uri"] == ["'none'"] and csp["object-src"] == ["'none'"]


def test_console_csp_allows_exactly_the_api_and_the_hosted_ui_in_the_rest_flavour_which_streams_on_the_api():
    out = resolve(console.transform(_rest_input()), {}, pseudo={})
    csp = _csp(out)
    api_origin = "https://r4s5t6.execute-api.eu-west-1.amazonaws.com"  # the origin: no stage path
    assert csp["connect-src"] == ["'self'", api_origin, "https://tasks-0f1e.auth.eu-west-1.amazoncognito.com"]


def test_console_publishes_its_url_bucket_and_distribution():
    outputs = console.transform(input_of(console.transform))["Outputs"]
    assert outputs["ConsoleUrl"] == {
        "Value": {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"},
        "Condition": console.ENABLED,
    }
    assert outputs["ConsoleBucket"]["Value"] == {"Ref": console.BUCKET}
    assert outputs["ConsoleDistributionId"]["Value"] == {"Ref": console.DISTRIBUTION}


def test_console_origin_is_allowed_first_by_every_cors_configuration_and_is_the_clients_redirect():
    both = _console(ConsoleOrigin=CONSOLE_ORIGIN, CorsAllowOrigins="https://app.example.com")
    resources = both["Resources"]
    origins = [CONSOLE_ORIGIN, "https://app.example.com"]
    assert resources["HttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"] == origins
    assert resources["AssistantStreamFunctionUrl"]["Properties"]["Cors"]["AllowOrigins"] == origins
    assert resources["OnActivity"]["Properties"]["Environment"]["Variables"]["CORS_ALLOW_ORIGINS"] == ",".join(origins)
    client = resources["UserPoolClient"]["Properties"]
    assert client["CallbackURLs"] == [CONSOLE_ORIGIN + "/", "http://localhost:8000/callback"]
    assert client["LogoutURLs"] == [CONSOLE_ORIGIN + "/"]
    assert both["Outputs"]["AllowedConsoleOrigin"] == {"Value": CONSOLE_ORIGIN}
    # The console's origin alone turns CORS on.
    alone = _console(ConsoleOrigin=CONSOLE_ORIGIN)["Resources"]
    assert alone["HttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"] == [CONSOLE_ORIGIN]
    assert alone["OnActivity"]["Properties"]["Environment"]["Variables"]["CORS_ALLOW_ORIGINS"] == CONSOLE_ORIGIN


def test_console_origin_unknown_until_deploy_sh_passes_it_leaves_cors_and_redirects_as_they_were():
    out = _console()
    resources = out["Resources"]
    assert console.DISTRIBUTION in resources  # the console is there, its origin not yet allowed
    assert "CorsConfiguration" not in resources["HttpApi"]["Properties"]
    assert resources["OnActivity"]["Properties"]["Environment"]["Variables"]["CORS_ALLOW_ORIGINS"] == ""
    assert resources["UserPoolClient"]["Properties"]["CallbackURLs"] == ["http://localhost:8000/callback"]
    assert "LogoutURLs" not in resources["UserPoolClient"]["Properties"]
    assert "AllowedConsoleOrigin" not in out["Outputs"]


@pytest.mark.parametrize(
    "parameters",
    [{"EnableConsole": "false"}, {"UserPoolArn": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_X"}],
    ids=["switched-off", "existing-pool"],
)
def test_console_switched_off_or_without_the_stacks_own_pool_leaves_nothing_of_it(parameters):
    given = {"CorsAllowOrigins": "https://app.example.com", **parameters}
    before = resolve(input_of(console.transform), given, pseudo={})
    after = _console(ConsoleOrigin=CONSOLE_ORIGIN, **given)
    for kind in ("Resources", "Outputs"):
        assert after[kind] == before[kind], kind
    assert after["Parameters"].keys() - before["Parameters"].keys() == {console.ENABLE, console.ORIGIN_PARAMETER}


def test_console_origin_parameter_takes_an_https_origin_or_nothing():
    pattern = console.transform(input_of(console.transform))["Parameters"]["ConsoleOrigin"]["AllowedPattern"]
    for accepted in ("", CONSOLE_ORIGIN, "https://console.example.com:8443"):
        assert re.fullmatch(pattern, accepted), accepted
    for refused in ("http://d1.cloudfront.net", CONSOLE_ORIGIN + "/", "https://a.example.com,https://b.example.com"):
        assert not re.fullmatch(pattern, refused), refused


def test_console_refuses_to_run_before_the_api_and_cognito_steps():
    template = input_of(console.transform)
    del template["Conditions"]["CorsEnabled"]
    with pytest.raises(ValueError, match="CorsAllowOrigins"):
        console.transform(template)
    template = input_of(console.transform)
    del template["Conditions"]["CreateUserPool"]
    with pytest.raises(ValueError, match="cognito"):
        console.transform(template)
