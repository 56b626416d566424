"""The cloud activity queue adapter: the queue port on an Amazon SQS queue, one SendMessage per event
(Lambda's event source mapping delivers the messages to the consumers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

from chalicelib import aws
from chalicelib.errors import QueueUnavailable


class SQSQueue(aws.ClientOwner):
    """The queue port on one SQS queue URL; the boto3 client is built on the first send."""

    def __init__(self, url: str, **client_options: Unpack[aws.ClientOptions]) -> None:
        self.url = url
        super().__init__(**client_options)

    # Enqueueing happens inside an API request: the timeouts stay well inside API Gateway's 29 s.
    # max_attempts None: botocore's standard-mode default (3 attempts, or AWS_MAX_ATTEMPTS when set).
    client = aws.lazy_client("sqs", connect_timeout=2.0, read_timeout=5.0, max_attempts=None)

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        client = self.client
        from botocore.exceptions import BotoCoreError  # loaded with the client already
        from botocore.exceptions import ClientError  # loaded with the client already

        try:
            response = client.send_message(
                QueueUrl=self.url,
                MessageBody=body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            # The code only: the message must never quote what was sent (the body is user data).
            raise QueueUnavailable(f"the activity queue refused the message ({code})") from exc
        except BotoCoreError as exc:
            raise QueueUnavailable(f"the activity queue is unreachable ({type(exc).__name__})") from exc
        return response["MessageId"]
