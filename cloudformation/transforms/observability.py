"""Observability: a 30-day log group per function, metric filters for application errors and
unhandled exceptions, alarms (errors, throttles, duration near the timeout, API 5xx rate on the REST or
the HTTP API's own metrics, activity events not enqueued or dead-lettered, DLQ depth, the stream
forwarder's lag and the changes it gave up on) published to an SNS topic with an optional e-mail
subscription, and one CloudWatch dashboard.

The app's own EMF metrics (chalicelib/observability/metrics.py) land in APP_NAMESPACE; the alarms on
them read the bare metric name, which the code publishes without dimensions for that purpose."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.observability import metrics
from chalicelib.observability.logs import ERROR_FILTER_PATTERN
from cloudformation.template import API_FUNCTION
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameter
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import functions
from cloudformation.template import http_api
from cloudformation.template import number_parameter
from cloudformation.template import resources
from cloudformation.template import the_api
from cloudformation.template import timeout
from cloudformation.template import with_condition
from cloudformation.transforms.queues import ACTIVITY_QUEUE
from cloudformation.transforms.queues import DEAD_LETTER_QUEUE
from cloudformation.transforms.queues import ENABLED as SQS_ENABLED
from cloudformation.transforms.stream import ENABLED as FORWARDER_ENABLED
from cloudformation.transforms.stream import FAILURE_QUEUE
from cloudformation.transforms.stream import forwarders
from cloudformation.transforms.tables import MAX_REGIONS
from cloudformation.transforms.tables import MULTI_REGION
from cloudformation.transforms.tables import STRONGLY_CONSISTENT
from cloudformation.transforms.tables import TASKS
from cloudformation.transforms.tables import has_region
from cloudformation.transforms.tables import listed_region
from cloudformation.transforms.tables import table_name

RETENTION_DAYS = 30
TOPIC = "AlarmTopic"
# The dashboard's name: the stack's (also what the notifier links to, so not a Ref: the dashboard's body
# names every function, and a function naming the dashboard would close a cycle).
# Dashboards are global to the account (one name for every region), so the name carries the region: the same
# stack deployed in two regions (docs/DEPLOY.md "Two regions") has a dashboard in each.
DASHBOARD_NAME = {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
APP_NAMESPACE = {"Fn::Sub": "TasksApi/${AWS::StackName}"}
APP_NAMESPACE_TEXT = "TasksApi/${AWS::StackName}"
# The app logs one JSON object per line (LOG_FORMAT=json); the pattern is the code's own, so the two
# cannot drift (tests/observability renders a real error line and matches it).
APP_ERROR_PATTERN = ERROR_FILTER_PATTERN
# What the Lambda runtime prints when an exception escapes the handler or the process dies.
UNHANDLED_PATTERN = (
    '?"[ERROR]" ?"Task timed out" ?"Runtime.ExitError" ?"Runtime.ImportModuleError" '
    '?"Runtime.HandlerNotFound" ?"Runtime.Unknown"'
)
# Duration alarm fires at this share of the function's timeout.
DURATION_WARNING = 0.8
# The forwarder's lag behind the table's stream (AWS/Lambda IteratorAge, in milliseconds): a minute
# behind means it keeps failing on a record or cannot keep up; stats and activity fall behind with it.
ITERATOR_AGE_LIMIT_MS = 60_000
API_5XX_RATE = 0.01
# The error-rate alarm divides the API function's ERROR lines (this metric, from a filter on its log group
# only) by the API function's invocations: numerator and denominator count the same function. An API
# request logs at most one ERROR line (chalicelib/protocol/problems.py reports an exception once).
API_ERRORS = "ApiApplicationErrors"
# The app's EMF metrics the alarms and the dashboard read, named by the code's own declarations.
ENQUEUE_FAILURES = metrics.ENQUEUE_FAILURES.name
DEAD_LETTER_MESSAGES = metrics.DEAD_LETTER_MESSAGES.name
INJECTED_FAULTS = metrics.INJECTED_FAULTS.name
# Rejected tokens: the API's 401s, whoever answered them (its authorizer or the app), counted from its access
# log (api.py's metric filter); in the HTTP flavour the stream's function URL bypasses the API, so its
# function's own SignInFailures are added.
API_SIGN_IN_FAILURES = metrics.API_SIGN_IN_FAILURES
SIGN_IN_THRESHOLD = "SignInFailuresThreshold"
ACTIVITY_COUNTS = tuple(m.name for m in (metrics.EVENTS_RECORDED, metrics.DUPLICATE_EVENTS, metrics.EVENT_FAILURES))

LOG_GROUP_SKIPS = [
    {
        "id": "CKV_AWS_158",
        "comment": "CloudWatch Logs encrypts at rest by default; a customer managed key costs "
        "$1/month idle and the logs carry no secrets (tokens are never logged).",
    },
    {
        "id": "CKV_AWS_338",
        "comment": "30-day retention is the documented choice: operational logs, not audit "
        "records; a year would multiply storage, the only idle cost.",
    },
]


def log_group(name: str) -> str:
    return f"{name}LogGroup"


def _alarm(description: str, condition: str | None = None, **props: Any) -> dict:
    resource = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "AlarmActions": [{"Ref": TOPIC}],
            "OKActions": [{"Ref": TOPIC}],
            "TreatMissingData": "notBreaching",
            "EvaluationPeriods": 1,
            **props,
        },
    }
    return with_condition(resource, condition)


# Two regions under eventual consistency: DynamoDB publishes, in the writing region, how long its writes take to
# reach each other replica (ReplicationLatency, by ReceivingRegion). What has not replicated is what a lost region
# holds back (docs/DEPLOY.md "Two regions"); it is typically under a second. A strongly consistent table
# replicates before a write returns, and publishes no such metric.
REPLICATION_LATENCY_MS = 10_000


def _replication_alarms(out: Template) -> None:
    """One alarm per other listed region (each index of TableRegions that is not this region)."""
    for index in range(MAX_REGIONS):
        condition = f"ReplicatesToRegion{index + 1}"
        parts: list = [
            {"Condition": TASKS.condition},
            {"Condition": MULTI_REGION},
            {"Fn::Not": [{"Condition": STRONGLY_CONSISTENT}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Region"}, listed_region(index)]}]},
        ]
        if index:  # the home region (index 0) is listed whenever there are regions
            parts.append({"Condition": has_region(index)})
        add_condition(out, condition, {"Fn::And": parts})
        add_resource(
            out,
            f"ReplicationLatencyToRegion{index + 1}Alarm",
            _alarm(
                f"Table: this region's writes took over {REPLICATION_LATENCY_MS // 1000} s on average, for 15 "
                f"minutes, to replicate to the region listed {index + 1}. in TableRegions",
                condition,
                Namespace="AWS/DynamoDB",
                MetricName="ReplicationLatency",
                Dimensions=[
                    # Several regions: the global table's one name in every region.
                    {"Name": "TableName", "Value": {"Fn::Sub": TASKS.fixed_name}},
                    {"Name": "ReceivingRegion", "Value": listed_region(index)},
                ],
                Statistic="Average",
                Period=300,
                EvaluationPeriods=3,
                ComparisonOperator="GreaterThanThreshold",
                Threshold=REPLICATION_LATENCY_MS,
            ),
        )


def _queue_depth_alarm(description: str, condition: str, queue: str) -> dict:
    """An alarm on any message waiting in ``queue`` (the queues that should stay empty)."""
    return _alarm(
        description,
        condition,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
        Statistic="Maximum",
        Period=300,
        ComparisonOperator="GreaterThanThreshold",
        Threshold=0,
    )


def _function_alarms(out: Template, name: str, function: dict) -> None:
    condition = function.get("Condition")
    dims = [{"Name": "FunctionName", "Value": {"Ref": name}}]
    common = {"Namespace": "AWS/Lambda", "Dimensions": dims, "Period": 300}
    add_resource(
        out,
        f"{name}ErrorsAlarm",
        _alarm(
            f"{name}: invocations ended in an error",
            condition,
            MetricName="Errors",
            Statistic="Sum",
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            Threshold=1,
            **common,
        ),
    )
    add_resource(
        out,
        f"{name}ThrottlesAlarm",
        _alarm(
            f"{name}: invocations were throttled",
            condition,
            MetricName="Throttles",
            Statistic="Sum",
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            Threshold=1,
            **common,
        ),
    )
    timeout_ms = timeout(function) * 1000
    add_resource(
        out,
        f"{name}DurationAlarm",
        _alarm(
            f"{name}: p99 duration above {int(DURATION_WARNING * 100)}% of the timeout",
            condition,
            MetricName="Duration",
            ExtendedStatistic="p99",
            ComparisonOperator="GreaterThanThreshold",
            Threshold=int(timeout_ms * DURATION_WARNING),
            **common,
        ),
    )


def _stream_alarms(out: Template, forwarding: list[str]) -> None:
    """The forwarder falling behind the stream, and changes Lambda gave up on (on the failure queue).
    Its Errors alarm is every function's; a partial batch response is no error, so the lag shows it."""
    for name in forwarding:
        add_resource(
            out,
            f"{name}IteratorAgeAlarm",
            _alarm(
                f"{name}: more than {ITERATOR_AGE_LIMIT_MS // 1000} s behind the table's change stream",
                FORWARDER_ENABLED,
                Namespace="AWS/Lambda",
                MetricName="IteratorAge",
                Dimensions=[{"Name": "FunctionName", "Value": {"Ref": name}}],
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=5,
                DatapointsToAlarm=3,
                ComparisonOperator="GreaterThanThreshold",
                Threshold=ITERATOR_AGE_LIMIT_MS,
            ),
        )
    if forwarding:
        add_resource(
            out,
            "TableStreamFailuresAlarm",
            _queue_depth_alarm(
                "Table changes outlived the stream unforwarded: their events are missing (rebuild the counters)",
                FORWARDER_ENABLED,
                FAILURE_QUEUE,
            ),
        )


def _metric_filters(out: Template, name: str, condition: str | None) -> None:
    counted = [
        ("AppErrors", APP_ERROR_PATTERN, "ApplicationErrors"),
        ("Unhandled", UNHANDLED_PATTERN, "UnhandledExceptions"),
    ]
    if name == API_FUNCTION:  # the error-rate alarm's numerator: this function's ERROR lines alone
        counted.append(("ApiErrors", APP_ERROR_PATTERN, API_ERRORS))
    for suffix, pattern, metric in counted:
        add_resource(
            out,
            f"{name}{suffix}Filter",
            with_condition(
                {
                    "Type": "AWS::Logs::MetricFilter",
                    "Properties": {
                        "LogGroupName": {"Ref": log_group(name)},
                        "FilterPattern": pattern,
                        "MetricTransformations": [
                            {
                                "MetricNamespace": APP_NAMESPACE,
                                "MetricName": metric,
                                "MetricValue": "1",
                                "DefaultValue": 0,
                            }
                        ],
                    },
                },
                condition,
            ),
        )


# A function URL's request counts (AWS/Lambda, Sum).
URL_COUNTS = ("UrlRequestCount", "Url4xxCount", "Url5xxCount")


def _series(namespace: str, dimensions: list, *names: str, stat: str = "Sum") -> list:
    return [[namespace, name, *dimensions, {"stat": stat}] for name in names]


def _rest_api_graphs(stage: str) -> list:
    """The REST API's graphs: its stage's metrics (dimensions ApiName and Stage)."""
    api = ["ApiName", "${AWS::StackName}", "Stage", stage]
    return [
        ("API requests and errors", _series("AWS/ApiGateway", api, "Count", "4XXError", "5XXError")),
        (
            "API latency p50 / p99",
            _series("AWS/ApiGateway", api, "Latency", stat="p50")
            + _series("AWS/ApiGateway", api, "Latency", stat="p99"),
        ),
    ]


def _http_api_graphs(name: str) -> list:
    """The HTTP API's graphs: its metrics are 4xx, 5xx, Count, Latency, IntegrationLatency, by ApiId (AWS:
    "Monitor CloudWatch metrics for HTTP APIs"); the API has one stage, so ApiId alone covers it."""
    api = ["ApiId", "${" + name + "}"]
    return [
        ("API requests and errors", _series("AWS/ApiGateway", api, "Count", "4xx", "5xx")),
        (
            "API latency p50 / p99, integration p99",
            _series("AWS/ApiGateway", api, "Latency", stat="p50")
            + _series("AWS/ApiGateway", api, "Latency", stat="p99")
            + _series("AWS/ApiGateway", api, "IntegrationLatency", stat="p99"),
        ),
    ]


def _function_url_graphs(function: str) -> list:
    """A function URL's graphs (the HTTP flavour's stream): its requests, 4xx and 5xx (Sum) and latency
    (Average, Maximum), by FunctionName (AWS: "Monitoring Lambda function URLs")."""
    by_function = ["FunctionName", "${Fn" + function + "}"]
    return [
        ("Stream URL requests and errors", _series("AWS/Lambda", by_function, *URL_COUNTS)),
        (
            "Stream URL latency average / max",
            _series("AWS/Lambda", by_function, "UrlRequestLatency", stat="Average")
            + _series("AWS/Lambda", by_function, "UrlRequestLatency", stat="Maximum"),
        ),
    ]


def _function_url_5xx_alarm(function: str) -> dict:
    return _alarm(
        "Stream URL: requests answered 5xx (function errors or timeouts behind the function URL)",
        Namespace="AWS/Lambda",
        MetricName="Url5xxCount",
        Dimensions=[{"Name": "FunctionName", "Value": {"Ref": function}}],
        Statistic="Sum",
        Period=300,
        ComparisonOperator="GreaterThanThreshold",
        Threshold=0,
    )


def _http_api_5xx_alarm(name: str) -> dict:
    """The share of the HTTP API's requests answered 5xx, computed (its 5xx metric is a count)."""

    def metric(id_: str, metric_name: str) -> dict:
        return {
            "Id": id_,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApiGateway",
                    "MetricName": metric_name,
                    "Dimensions": [{"Name": "ApiId", "Value": {"Ref": name}}],
                },
                "Period": 300,
                "Stat": "Sum",
            },
        }

    return _alarm(
        f"API: more than {API_5XX_RATE:.0%} of requests answered 5xx",
        ComparisonOperator="GreaterThanThreshold",
        Threshold=API_5XX_RATE,
        Metrics=[
            metric("errors", "5xx"),
            metric("requests", "Count"),
            {
                "Id": "rate",
                "Label": "5xx share",
                "ReturnData": True,
                "Expression": "IF(requests > 0, errors / requests, 0)",
            },
        ],
    )


LATENCY_PARAMETER = "ApiLatencyP95Threshold"
LATENCY_PERIODS = 3  # of 5 minutes, all above the threshold: a slow quarter of an hour, not one slow request


def _latency_alarm(dimensions: list) -> dict:
    """The production checklist's p95 latency alarm: AWS/ApiGateway Latency (ms, the whole request as the API
    saw it) by the flavour's own dimensions, above the LATENCY_PARAMETER threshold."""
    return _alarm(
        f"API: p95 latency above {LATENCY_PARAMETER} ms for {LATENCY_PERIODS * 5} minutes",
        Namespace="AWS/ApiGateway",
        MetricName="Latency",
        Dimensions=dimensions,
        ExtendedStatistic="p95",
        Period=300,
        EvaluationPeriods=LATENCY_PERIODS,
        DatapointsToAlarm=LATENCY_PERIODS,
        ComparisonOperator="GreaterThanThreshold",
        Threshold={"Ref": LATENCY_PARAMETER},
    )


def _sign_in_failures_alarm(stream_function: str | None) -> dict:
    """More rejected tokens in 5 minutes than the SignInFailuresThreshold parameter."""

    def metric(id_: str, name: str, dimensions: list | None = None) -> dict:
        found: dict[str, Any] = {"Namespace": APP_NAMESPACE, "MetricName": name}
        if dimensions:
            found["Dimensions"] = dimensions
        return {"Id": id_, "ReturnData": False, "MetricStat": {"Metric": found, "Period": 300, "Stat": "Sum"}}

    described = "Sign-in: more rejected tokens (401s) in 5 minutes than SignInFailuresThreshold"
    common: dict[str, Any] = {
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": {"Ref": SIGN_IN_THRESHOLD},
    }
    if stream_function is None:
        return _alarm(
            described, Namespace=APP_NAMESPACE, MetricName=API_SIGN_IN_FAILURES, Statistic="Sum", Period=300, **common
        )
    stream = [{"Name": metrics.SERVICE, "Value": metrics.ASSISTANT_STREAM}]
    return _alarm(
        described,
        Metrics=[
            metric("api", API_SIGN_IN_FAILURES),
            metric("stream", metrics.SIGN_IN_FAILURES.name, stream),
            {
                "Id": "rejected",
                "Label": "rejected tokens",
                "ReturnData": True,
                "Expression": "FILL(api, 0) + FILL(stream, 0)",
            },
        ],
        **common,
    )


def _dashboard(names: dict[str, dict], api_graphs: list, forwarding: list[str]) -> dict:
    variables: dict[str, Any] = {
        "TableName": {"Fn::If": [TASKS.condition, table_name(TASKS), "disabled"]},
        "QueueName": {"Fn::If": [SQS_ENABLED, {"Fn::GetAtt": [ACTIVITY_QUEUE, "QueueName"]}, "disabled"]},
        "DeadLetterQueueName": {"Fn::If": [SQS_ENABLED, {"Fn::GetAtt": [DEAD_LETTER_QUEUE, "QueueName"]}, "disabled"]},
    }
    if forwarding:
        variables["FailureQueueName"] = {
            "Fn::If": [FORWARDER_ENABLED, {"Fn::GetAtt": [FAILURE_QUEUE, "QueueName"]}, "disabled"]
        }
    for name, function in names.items():
        ref = {"Ref": name}
        condition = function.get("Condition")
        variables[f"Fn{name}"] = {"Fn::If": [condition, ref, "disabled"]} if condition else ref

    def lambda_metrics(metric: str, stat: str, of: Iterable[str] = names) -> list:
        return [
            ["AWS/Lambda", metric, "FunctionName", f"${{Fn{n}}}", {"stat": stat, "label": f"{n} {stat}"}] for n in of
        ]

    series = _series
    bedrock = ["ModelId", "${BedrockModelId}"]
    table = ["TableName", "${TableName}"]
    activity = [metrics.SERVICE, metrics.ACTIVITY]  # the consumer's Service dimension
    # (title, metrics), laid out three to a row
    graphs = [
        ("Lambda invocations", lambda_metrics("Invocations", "Sum")),
        ("Lambda duration p50 / p99", lambda_metrics("Duration", "p50") + lambda_metrics("Duration", "p99")),
        ("Lambda errors and throttles", lambda_metrics("Errors", "Sum") + lambda_metrics("Throttles", "Sum")),
        ("Lambda concurrency", lambda_metrics("ConcurrentExecutions", "Maximum")),
        *api_graphs,
        ("Bedrock invocations, throttles", series("AWS/Bedrock", bedrock, "Invocations", "InvocationThrottles")),
        (
            "Bedrock latency and tokens",
            series("AWS/Bedrock", bedrock, "InvocationLatency", stat="p99")
            + series("AWS/Bedrock", bedrock, "InputTokenCount", "OutputTokenCount"),
        ),
        (
            "DynamoDB capacity and throttles",
            series(
                "AWS/DynamoDB",
                table,
                "ConsumedReadCapacityUnits",
                "ConsumedWriteCapacityUnits",
                "ReadThrottleEvents",
                "WriteThrottleEvents",
            ),
        ),
        (
            "DynamoDB latency p99",
            [
                ["AWS/DynamoDB", "SuccessfulRequestLatency", *table, "Operation", op, {"stat": "p99"}]
                for op in ("GetItem", "Query", "PutItem", "UpdateItem", "TransactWriteItems")
            ],
        ),
        (
            "Activity queue",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${QueueName}", {"stat": "Maximum"}],
                ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "${QueueName}", {"stat": "Maximum"}],
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${DeadLetterQueueName}",
                    {"stat": "Maximum", "label": "dead letters"},
                ],
            ],
        ),
        # InjectedFaults beside the errors: a fault drill (chalicelib/faults.py) shows as one, not as an outage.
        ("App metrics", series(APP_NAMESPACE_TEXT, [], "ApplicationErrors", "UnhandledExceptions", INJECTED_FAULTS)),
        ("Activity events", series(APP_NAMESPACE_TEXT, activity, *ACTIVITY_COUNTS)),
        ("Activity event age p99", series(APP_NAMESPACE_TEXT, activity, metrics.EVENT_AGE.name, stat="p99")),
        (
            "Activity enqueue failures and dead letters",
            series(APP_NAMESPACE_TEXT, [], ENQUEUE_FAILURES, DEAD_LETTER_MESSAGES),
        ),
    ]
    if forwarding:
        # The pipeline, one row: table stream -> forwarder -> activity queue -> consumer (or dead letters).
        graphs += [
            ("Change stream: forwarder iterator age", lambda_metrics("IteratorAge", "Maximum", forwarding)),
            (
                "Forwarder errors, changes given up",
                lambda_metrics("Errors", "Sum", forwarding)
                + [
                    [
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        "QueueName",
                        "${FailureQueueName}",
                        {"stat": "Maximum", "label": "stream failures"},
                    ]
                ],
            ),
            (
                "Events recorded and dead letters",
                series(APP_NAMESPACE_TEXT, activity, metrics.EVENTS_RECORDED.name)
                + series(APP_NAMESPACE_TEXT, [], DEAD_LETTER_MESSAGES),
            ),
        ]
    widgets = [
        {
            "type": "metric",
            "x": index % 3 * 8,
            "y": index // 3 * 6,
            "width": 8,
            "height": 6,
            "properties": {
                "title": title,
                "metrics": graph,
                "region": "${AWS::Region}",
                "period": 300,
                "view": "timeSeries",
            },
        }
        for index, (title, graph) in enumerate(graphs)
    ]
    body = json.dumps({"widgets": widgets}, separators=(",", ":"))
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": DASHBOARD_NAME,
            "DashboardBody": {"Fn::Sub": [body, variables]},
        },
    }


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameter(
        out,
        "AlarmEmail",
        Type="String",
        Default="",
        Description="E-mail address subscribed to the alarm topic (empty: no subscription)",
    )
    add_parameter(
        out,
        LATENCY_PARAMETER,
        Type="Number",
        Default=1000,
        MinValue=1,
        Description="Milliseconds: ApiLatencyP95Alarm fires when the API's p95 latency stays above it for 15 minutes",
    )
    add_condition(out, "HasAlarmEmail", {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})
    add_resource(
        out,
        TOPIC,
        {
            "Type": "AWS::SNS::Topic",
            "Properties": {"Tags": [{"Key": "app", "Value": "tasks-api"}]},
            "Metadata": {
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AWS_26",
                            "comment": "CloudWatch alarms cannot publish to a topic encrypted with the AWS "
                            "managed SNS key; alarm notices carry no data worth a $1/month CMK.",
                        }
                    ]
                }
            },
        },
    )
    add_resource(
        out,
        "AlarmEmailSubscription",
        {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {"TopicArn": {"Ref": TOPIC}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}},
        },
    )
    names = dict(functions(out))
    for name, function in names.items():
        condition = function.get("Condition")
        add_resource(
            out,
            log_group(name),
            with_condition(
                {
                    "Type": "AWS::Logs::LogGroup",
                    "DeletionPolicy": "Delete",
                    "UpdateReplacePolicy": "Delete",
                    "Properties": {
                        "LogGroupName": {"Fn::Sub": f"/${{AWS::StackName}}/lambda/{name}"},
                        "RetentionInDays": RETENTION_DAYS,
                    },
                    "Metadata": {"checkov": {"skip": list(LOG_GROUP_SKIPS)}},
                },
                condition,
            ),
        )
        function["Properties"]["LoggingConfig"] = {"LogGroup": {"Ref": log_group(name)}}
        _metric_filters(out, name, condition)
        _function_alarms(out, name, function)
    add_parameter(
        out,
        SIGN_IN_THRESHOLD,
        **number_parameter("Rejected tokens (401s) in 5 minutes above which SignInFailuresAlarm fires", 50, MinValue=1),
    )
    http = http_api(out)
    streamer = None
    if http:  # the HTTP flavour (http_api.py ran): its metric names and dimensions
        api_graphs = _http_api_graphs(http)
        add_resource(out, "Api5xxRateAlarm", _http_api_5xx_alarm(http))
        add_resource(out, "ApiLatencyP95Alarm", _latency_alarm([{"Name": "ApiId", "Value": {"Ref": http}}]))
        urls = [r for r in resources(out).values() if r["Type"] == "AWS::Lambda::Url"]
        for url in urls:  # its stream's function URL (function_url.py)
            streamer = url["Properties"]["TargetFunctionArn"]["Fn::GetAtt"][0]
            api_graphs = api_graphs + _function_url_graphs(streamer)
            add_resource(out, "StreamUrl5xxAlarm", _function_url_5xx_alarm(streamer))
    else:
        _, api = the_api(out)
        stage = api["Properties"].get("StageName", "api")
        api_graphs = _rest_api_graphs(stage)
        api_dims = [{"Name": "ApiName", "Value": {"Ref": "AWS::StackName"}}, {"Name": "Stage", "Value": stage}]
        add_resource(out, "ApiLatencyP95Alarm", _latency_alarm(api_dims))
        add_resource(
            out,
            "Api5xxRateAlarm",
            _alarm(
                f"API: more than {API_5XX_RATE:.0%} of requests answered 5xx",
                Namespace="AWS/ApiGateway",
                MetricName="5XXError",
                Dimensions=api_dims,
                Statistic="Average",
                Period=300,
                ComparisonOperator="GreaterThanThreshold",
                Threshold=API_5XX_RATE,
            ),
        )
    add_resource(out, "SignInFailuresAlarm", _sign_in_failures_alarm(streamer))
    _replication_alarms(out)
    add_resource(
        out,
        "AppErrorRateAlarm",
        _alarm(
            "App: more than 1% of the API function's invocations logged an ERROR",
            ComparisonOperator="GreaterThanThreshold",
            Threshold=1,
            Metrics=[
                {
                    "Id": "errors",
                    "ReturnData": False,
                    "MetricStat": {
                        "Metric": {"Namespace": APP_NAMESPACE, "MetricName": API_ERRORS},
                        "Period": 300,
                        "Stat": "Sum",
                    },
                },
                {
                    "Id": "invocations",
                    "ReturnData": False,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Invocations",
                            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": API_FUNCTION}}],
                        },
                        "Period": 300,
                        "Stat": "Sum",
                    },
                },
                {
                    "Id": "rate",
                    "Label": "error %",
                    "ReturnData": True,
                    "Expression": "IF(invocations > 0, 100 * errors / invocations, errors * 100)",
                },
            ],
        ),
    )
    # Counted by the code, each worth a look the first time: an unhandled error; the activity queue refused
    # the forwarder's sends (retried from the stream, not lost, but events lag); the dead-letter consumer
    # received events that exhausted their retries.
    for name, description, condition, metric in (
        (
            "UnhandledExceptionsAlarm",
            "An exception escaped a handler, a function timed out or its process died",
            None,
            "UnhandledExceptions",
        ),
        (
            "EnqueueFailuresAlarm",
            "Activity events were not sent to the queue after their change was committed",
            SQS_ENABLED,
            ENQUEUE_FAILURES,
        ),
        (
            "DeadLetterMessagesAlarm",
            "Activity events exhausted their retries and reached the dead-letter consumer",
            SQS_ENABLED,
            DEAD_LETTER_MESSAGES,
        ),
    ):
        add_resource(
            out,
            name,
            _alarm(
                description,
                condition,
                Namespace=APP_NAMESPACE,
                MetricName=metric,
                Statistic="Sum",
                Period=300,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                Threshold=1,
            ),
        )
    # Still needed beside DeadLetterMessages: it fires when the dead-letter consumer itself fails and
    # the messages stay on the queue, uncounted.
    add_resource(
        out,
        "DeadLetterQueueDepthAlarm",
        _queue_depth_alarm("Activity events reached the dead-letter queue", SQS_ENABLED, DEAD_LETTER_QUEUE),
    )
    forwarding = sorted(forwarders(out))
    _stream_alarms(out, forwarding)
    add_resource(out, "Dashboard", _dashboard(names, api_graphs, forwarding))
    add_output(
        out,
        "DashboardUrl",
        {
            "Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
            "?region=${AWS::Region}#dashboards:name=${Dashboard}"
        },
    )
    add_output(out, "AlarmTopicArn", {"Ref": TOPIC})
    return out
