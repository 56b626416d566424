"""The activity queue port: what producers call to enqueue an event, and the Lambda SQS event and
partial batch response shapes every consumer handler speaks, whichever adapter delivers."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Protocol

# Queue names, as the app's ``@app.on_sqs_message(queue=...)`` consumers name them.
ACTIVITY = "activity"
DEAD_LETTERS = "activity-dlq"
# The table's change stream as app.py's ``@app.on_dynamodb_record`` names it: Chalice wants an ARN, the stack
# puts the table's StreamArn in its place (cloudformation/), and locally it names the feed of the SQLite
# change log (chalicelib/events/feed.py). Also the key of the forwarder among the consumers.
TABLE_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/tasks/stream/local"
# The alarm topic as app.py's ``@app.on_sns_message`` names it: the stack subscribes the notifier to its
# AlarmTopic instead (cloudformation/transforms/notifier.py).
ALARMS = "alarms"

# A consumer: takes a Lambda SQS event ``{"Records": [...]}`` and returns Lambda's partial batch
# response ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``; None or an empty list
# means every record succeeded, and raising means the whole batch failed.
Handler = Callable[[dict], dict | None]

# What SQS reports as the sender of a message the embedded queue delivers (there is no IAM principal).
LOCAL_SENDER_ID = "local"


class Queue(Protocol):
    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        """Enqueue one message (JSON text body, String message attributes such as request_id);
        return its message id. Raises errors.QueueUnavailable when the message was not taken."""
        ...


def lambda_record(
    message_id: str,
    body: str,
    attributes: Mapping[str, str],
    receive_count: int,
    sent_at_ms: int,
    queue_arn: str,
    receipt_handle: str,
    *,
    first_received_ms: int | None = None,
) -> dict[str, Any]:
    """One record of a Lambda SQS event, exactly as Lambda builds it from a received message.

    ``attributes`` are the message's String attributes; the region is the ARN's; the first receive
    time defaults to the send time.
    """
    import hashlib  # lazy: OpenSSL (~2.5 ms), only when a record is built, never on the producer's path

    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_at_ms),
            "SenderId": LOCAL_SENDER_ID,
            "ApproximateFirstReceiveTimestamp": str(sent_at_ms if first_received_ms is None else first_received_ms),
        },
        "messageAttributes": {
            name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
            for name, value in attributes.items()
        },
        "md5OfBody": hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": _arn_region(queue_arn),
    }


def _arn_region(arn: str) -> str:
    # arn:aws:sqs:<region>:<account>:<name>
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""
