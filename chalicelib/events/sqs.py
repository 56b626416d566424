"""The cloud activity queue adapter: the queue port on an Amazon SQS queue, one SendMessage per event
(Lambda's event source mapping delivers the messages to the consumers)."""

from __future__ import annotations

import threading
from typing import Any, Mapping

from chalicelib.errors import QueueUnavailable


class SQSQueue:
    """The queue port on one SQS queue URL; the boto3 client is built on the first send."""

    def __init__(self, url: str, *, region: str | None = None, endpoint_url: str | None = None,
                 connect_timeout: float = 2.0, read_timeout: float = 5.0,
                 max_attempts: int | None = None) -> None:
        self.url = url
        self.region = region
        self.endpoint_url = endpoint_url
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # None: botocore's standard-mode default (3 attempts, or AWS_MAX_ATTEMPTS when set).
        self.max_attempts = max_attempts
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The low-level botocore client, built on first use (importing boto3 costs cold start)."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._build_client()
                client = self._client
        return client

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        client = self.client
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client already

        try:
            response = client.send_message(
                QueueUrl=self.url, MessageBody=body,
                MessageAttributes={name: {"DataType": "String", "StringValue": value}
                                   for name, value in attributes.items()})
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            # The code only: the message must never quote what was sent (the body is user data).
            raise QueueUnavailable(f"the activity queue refused the message ({code})") from exc
        except BotoCoreError as exc:
            raise QueueUnavailable(f"the activity queue is unreachable ({type(exc).__name__})") from exc
        return response["MessageId"]

    def _build_client(self) -> Any:
        import boto3
        from botocore.config import Config

        retries: dict[str, Any] = {"mode": "standard"}
        if self.max_attempts is not None:
            retries["total_max_attempts"] = self.max_attempts
        config = Config(
            # Enqueueing happens inside an API request: stay well inside API Gateway's 29 s.
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
            # Standard mode retries throttling and network errors with jittered backoff.
            retries=retries,
            # The local server runs requests on threads; Lambda needs only one connection.
            max_pool_connections=32,
        )
        # A session of its own: boto3's default session is shared module state and not thread-safe.
        return boto3.session.Session().client("sqs", region_name=self.region, endpoint_url=self.endpoint_url,
                                              config=config)
