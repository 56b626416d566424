"""The outbox's delivery: the tasks table's change stream feeds the forwarder app.py declares
(``@app.on_dynamodb_record(stream_arn=TABLE_STREAM)``), which sends each captured change's activity
events to the activity queue.

Chalice's decorator takes a literal stream ARN; the placeholder (chalicelib/events/base.py) becomes the
table's ``StreamArn``. The event source mapping passes only the captured keys (chalicelib/tasks/outbox.py),
splits a failing batch, takes the forwarder's partial batch response, and retries a record until it
succeeds for as long as the stream keeps it (24 hours); what outlives that is described on the failure
queue (SQS keeps it 14 days) and alarmed.

The forwarder exists only with both the table and the queue: with ``EnableSqsIntegration=false`` the
stream is there but unread (no queue, no forwarder); with ``EnableTasksTable=false`` there is no stream.
With several regions (tables.py) each region's forwarder reads its own region's replica's stream: the global
table's in the home region, ``TableStreamArn`` elsewhere.
"""

from __future__ import annotations

import json

from chalicelib.events.base import TABLE_STREAM
from chalicelib.store.dynamodb import SK
from chalicelib.tasks.outbox import CAPTURED_KEYS
from chalicelib.tasks.outbox import CAPTURED_PREFIXES
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.transforms.queues import ENABLED as SQS_ENABLED
from cloudformation.transforms.queues import ENCRYPTED
from cloudformation.transforms.queues import KEEP_FOR
from cloudformation.transforms.queues import SSE_SKIP
from cloudformation.transforms.tables import TASKS
from cloudformation.transforms.tables import stream_arn

ENABLED = "StreamForwarderEnabled"
FAILURE_QUEUE = "TableStreamFailureQueue"
# -1 is "no limit" for both (Lambda's defaults, written down): a record is retried until the forwarder
# takes it or the stream drops it after 24 hours, when its description goes to the failure queue.
RETRY_UNTIL_EXPIRED = -1


def filter_pattern() -> dict:
    """Only changes of a captured key invoke the forwarder (Lambda's event filtering on the record's
    ``dynamodb.Keys``; the values of one list are alternatives: a prefix match or an exact key)."""
    captured: list = [{"prefix": prefix} for prefix in CAPTURED_PREFIXES] + list(CAPTURED_KEYS)
    return {"dynamodb": {"Keys": {SK: {"S": captured}}}}


def _decided(value: object) -> object:
    """A value switched on the table's or the queue's condition, as it is wherever the forwarder exists."""
    if isinstance(value, dict) and list(value) == ["Fn::If"] and value["Fn::If"][0] in (TASKS.condition, SQS_ENABLED):
        return value["Fn::If"][1]
    return value


def forwarders(template: Template) -> dict[str, str]:
    """Function name -> the table whose stream it reads (after this transform ran)."""
    found = {}
    for name, function in functions(template):
        for event in function["Properties"].get("Events", {}).values():
            if event.get("Type") == "DynamoDB":
                found[name] = TASKS.resource  # the only stream transform() wires (it refuses any other)
    return found


def transform(template: Template) -> Template:
    out = clone(template)
    add_condition(out, ENABLED, {"Fn::And": [{"Condition": TASKS.condition}, {"Condition": SQS_ENABLED}]})
    found = False
    for name, function in functions(out):
        events = function["Properties"].get("Events", {})
        streams = [e for e in events.values() if e.get("Type") == "DynamoDB"]
        for event in streams:
            props = event["Properties"]
            if props["Stream"] != TABLE_STREAM:
                raise ValueError(
                    f"{name} reads the stream {props['Stream']!r}, which the stack does not create "
                    f"(known: the placeholder {TABLE_STREAM!r}, chalicelib/events/base.py)"
                )
            props.update(
                {
                    "Stream": stream_arn(TASKS),
                    "FilterCriteria": {"Filters": [{"Pattern": json.dumps(filter_pattern(), separators=(",", ":"))}]},
                    # A raise splits the batch until the failing record is alone; a partial batch response
                    # resumes from the first record it names. Neither skips a record.
                    "BisectBatchOnFunctionError": True,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "MaximumRetryAttempts": RETRY_UNTIL_EXPIRED,
                    "MaximumRecordAgeInSeconds": RETRY_UNTIL_EXPIRED,
                    # No Type: SAM would only attach a policy to a role it generated (iam.py grants the send).
                    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [FAILURE_QUEUE, "Arn"]}}},
                }
            )
        if streams:
            found = True
            function["Condition"] = ENABLED  # a forwarder without its stream or its queue has nothing to do
            # It exists only with the table and the queue, so their switches are decided: QUEUE=sqs with
            # the queue's URL, STORE=dynamodb with the table's name (not tables.py's and queues.py's Fn::If).
            variables = environment(function)
            variables.update({name: _decided(value) for name, value in variables.items()})
    if found:
        add_resource(
            out,
            FAILURE_QUEUE,
            {
                "Type": "AWS::SQS::Queue",
                "Condition": ENABLED,
                **SSE_SKIP,
                # Lambda sends a description of the records it gave up on (shard, sequence numbers), not
                # the records: the runbook (docs/OPERATIONS.md) rebuilds the counters from the items.
                "Properties": {**ENCRYPTED, "MessageRetentionPeriod": KEEP_FOR},
            },
        )
        add_output(out, "TableStreamFailureQueueUrl", {"Ref": FAILURE_QUEUE}, ENABLED)
    return out
