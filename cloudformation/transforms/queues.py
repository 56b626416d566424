"""The activity queue and its dead-letter queue behind ``EnableSqsIntegration``, and the wiring of
Chalice's ``@app.on_sqs_message`` consumers to them with partial batch responses.

Chalice's decorator takes a literal queue name; the names below are the contract with app.py: a
consumer of ``activity`` reads the activity queue, one of ``activity-dlq`` its dead letters.

Switched off, there is no queue and no consumer, and the other functions get ``QUEUE=off`` without an
``ACTIVITY_QUEUE_URL``: they emit no activity events. Not ``local``: that embedded queue lives in the
process, and Lambda recycles containers, so its events would be lost without a trace.
"""

from __future__ import annotations

from cloudformation.template import NO_VALUE
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.template import number_parameter
from cloudformation.template import string_parameter
from cloudformation.template import timeout

ENABLED = "SqsEnabled"
ACTIVITY_QUEUE = "ActivityQueue"
DEAD_LETTER_QUEUE = "ActivityDeadLetterQueue"
QUEUE_BY_CHALICE_NAME = {"activity": ACTIVITY_QUEUE, "activity-dlq": DEAD_LETTER_QUEUE}
# AWS's guidance for an SQS event source: visibility timeout at least six times the function timeout.
VISIBILITY_FACTOR = 6
BATCHING_WINDOW = "MaximumBatchingWindowInSeconds"
# What fails for good is kept 14 days (SQS's longest retention), to inspect and redrive.
KEEP_FOR = 14 * 24 * 3600
ENCRYPTED = {"SqsManagedSseEnabled": True}
SSE_SKIP = {
    "Metadata": {
        "checkov": {
            "skip": [
                {
                    "id": "CKV_AWS_27",
                    "comment": "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); the "
                    "check recognises only KMS keys, which cost per request and per month.",
                }
            ]
        }
    }
}


def _queue_name(queue: object) -> str:
    # Chalice writes arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:<name> in an Fn::Sub.
    text = queue.get("Fn::Sub") if isinstance(queue, dict) else queue
    if not isinstance(text, str):
        raise ValueError(f"unrecognised SQS queue reference {queue!r}")
    return text.rsplit(":", 1)[-1]


def consumers(template: Template) -> dict[str, str]:
    """Function name -> the queue resource it consumes (after this transform ran)."""
    found = {}
    for name, function in functions(template):
        for event in function["Properties"].get("Events", {}).values():
            if event.get("Type") == "SQS":
                found[name] = event["Properties"]["Queue"]["Fn::GetAtt"][0]
    return found


def _visibility_timeout(consumed: list[tuple[dict, dict]]) -> int:
    """What a queue needs for its consumers' event source mappings: Lambda refuses a mapping when the
    queue's visibility timeout is below the function's timeout, and AWS advises six times it (room
    for Lambda's retries when the function is throttled), plus any batching window."""
    return max(
        VISIBILITY_FACTOR * timeout(function) + int(event["Properties"].get(BATCHING_WINDOW, 0))
        for function, event in consumed
    )


PARAMETERS = {
    "EnableSqsIntegration": string_parameter(
        "Create the activity queue, its DLQ and their consumers (false: QUEUE=off, no events)",
        "true",
        AllowedValues=["true", "false"],
    ),
    "ActivityMaxReceiveCount": number_parameter(
        "Receives of a message before it moves to the dead-letter queue", 5, MinValue=1, MaxValue=1000
    ),
}


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameters(out, PARAMETERS)
    add_condition(out, ENABLED, {"Fn::Equals": [{"Ref": "EnableSqsIntegration"}, "true"]})
    consumed_by: dict[str, list[tuple[dict, dict]]] = {queue: [] for queue in QUEUE_BY_CHALICE_NAME.values()}
    for name, function in functions(out):
        events = function["Properties"].get("Events", {})
        sqs_events = [e for e in events.values() if e.get("Type") == "SQS"]
        for event in sqs_events:
            chalice_name = _queue_name(event["Properties"]["Queue"])
            if chalice_name not in QUEUE_BY_CHALICE_NAME:
                raise ValueError(
                    f"{name} consumes queue {chalice_name!r}, which the stack does not create "
                    f"(known: {', '.join(QUEUE_BY_CHALICE_NAME)})"
                )
            queue = QUEUE_BY_CHALICE_NAME[chalice_name]
            event["Properties"]["Queue"] = {"Fn::GetAtt": [queue, "Arn"]}
            # One poison message must not fail its batch: the consumer reports batchItemFailures.
            event["Properties"]["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
            consumed_by[queue].append((function, event))
        if sqs_events:
            function["Condition"] = ENABLED  # a consumer without its queue has nothing to do
    # Each queue's visibility timeout follows its own consumers (a queue without one keeps SQS's default).
    visibility = {
        queue: {"VisibilityTimeout": _visibility_timeout(consumed)}
        for queue, consumed in consumed_by.items()
        if consumed
    }
    add_resource(
        out,
        DEAD_LETTER_QUEUE,
        {
            "Type": "AWS::SQS::Queue",
            "Condition": ENABLED,
            **SSE_SKIP,
            "Properties": {
                **ENCRYPTED,
                **visibility.get(DEAD_LETTER_QUEUE, {}),
                "MessageRetentionPeriod": KEEP_FOR,
            },
        },
    )
    add_resource(
        out,
        ACTIVITY_QUEUE,
        {
            "Type": "AWS::SQS::Queue",
            "Condition": ENABLED,
            **SSE_SKIP,
            "Properties": {
                **ENCRYPTED,
                **visibility.get(ACTIVITY_QUEUE, {}),
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [DEAD_LETTER_QUEUE, "Arn"]},
                    "maxReceiveCount": {"Ref": "ActivityMaxReceiveCount"},
                },
            },
        },
    )
    for _, function in functions(out):
        if function.get("Condition") == ENABLED:  # a consumer: the queue exists whenever it does
            environment(function).update({"QUEUE": "sqs", "ACTIVITY_QUEUE_URL": {"Ref": ACTIVITY_QUEUE}})
            continue
        # NoValue drops the variable: the app's settings refuse QUEUE=sqs without a URL and need none for off.
        environment(function).update(
            {
                "QUEUE": {"Fn::If": [ENABLED, "sqs", "off"]},
                "ACTIVITY_QUEUE_URL": {"Fn::If": [ENABLED, {"Ref": ACTIVITY_QUEUE}, NO_VALUE]},
            }
        )
    add_output(out, "ActivityQueueUrl", {"Ref": ACTIVITY_QUEUE}, ENABLED)
    add_output(out, "ActivityDeadLetterQueueUrl", {"Ref": DEAD_LETTER_QUEUE}, ENABLED)
    return out
