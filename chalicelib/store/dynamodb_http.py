"""The lean DynamoDB transport (DYNAMODB_TRANSPORT=lean): the store adapter's few operations sent as botocore
would send them, without botocore on the request path. Its ``JsonClient`` speaks any AWS JSON-protocol service
(a subclass names the service, target prefix and content type): SSM's GetParameter on GET /health and the chat
commands' route goes through it too (chalicelib/operations/ssm.py). Standard library only: JSON 1.0 over persistent
HTTP(S) connections (``http.client``, TLS verified by ``ssl``'s default context), signed by sigv4.py, the
reply's CRC32 checked, retried as botocore's standard mode retries DynamoDB.

The client takes the keywords botocore's DynamoDB client takes and returns the same response dicts, and its
errors carry the same ``.response`` as botocore's ClientError: the adapter (dynamodb.py) translates both
transports' errors with one function. Only when the Lambda environment holds no credentials (a laptop with
profiles or SSO) is boto3 imported, for its credential chain.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any
from typing import ClassVar
from urllib.parse import urlsplit

from chalicelib.store.sigv4 import Credentials
from chalicelib.store.sigv4 import Signer

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
OPERATIONS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "query": "Query",
    "scan": "Scan",
    "transact_write_items": "TransactWriteItems",
}

# botocore's standard retry mode (botocore/retries/standard.py): what it retries, and how long it waits.
DEFAULT_MAX_ATTEMPTS = 3
THROTTLING_CODES = frozenset(
    (
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    )
)
TRANSIENT_CODES = frozenset(("RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"))
# The errors DynamoDB's model marks retryable, which standard mode retries as transient failures: a write that
# met a concurrent write to the same item through another region of a multi-Region strongly consistent global
# table (docs/DEPLOY.md "Two regions"; HTTP 409).
MODELED_RETRYABLE_CODES = frozenset(("ReplicatedWriteConflictException",))
TRANSIENT_STATUSES = frozenset((500, 502, 503, 504))
MAX_BACKOFF = 20.0  # seconds
THROTTLING_SCALE = 1.0  # the first backoff's ceiling, in seconds, after a throttling error
TRANSIENT_SCALE = 0.025  # ... after any other retried failure (botocore's figure for DynamoDB)
RETRY_AFTER = "x-amz-retry-after"  # milliseconds the service asks a retry to wait
RETRY_AFTER_MAX = 5.0  # seconds it may add to the backoff
# The retry quota (botocore/retries/quota.py, standard.py's RetryQuotaChecker): each client holds a bucket of
# RETRY_QUOTA; a retry takes THROTTLING_RETRY_COST after throttling, RETRY_COST after any other failure,
# and none is made once the bucket cannot pay; a success gives back what its last retry took, or
# NO_RETRY_INCREMENT. So a service that keeps failing is not hammered with retries by every caller.
RETRY_QUOTA = 500
RETRY_COST = 14
THROTTLING_RETRY_COST = 5
NO_RETRY_INCREMENT = 1


class ClientError(Exception):
    """The service answered with an error: ``.response`` as botocore's ClientError has it
    (``{"Error": {"Code", "Message"}, "ResponseMetadata": ..., "Item"?, "CancellationReasons"?}``)."""

    def __init__(self, response: dict[str, Any], operation_name: str) -> None:
        error = response["Error"]
        code, message = error["Code"], error["Message"]
        super().__init__(f"An error occurred ({code}) when calling the {operation_name} operation: {message}")
        self.response = response
        self.operation_name = operation_name


class Unreachable(Exception):
    """No usable reply from the service after the retries: the connection failed, timed out or was dropped, or
    the reply's CRC32 did not match."""


def env_credentials() -> Credentials | None:
    """The credentials Lambda puts in the environment, when they are there."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)


class JsonClient:
    """An AWS JSON-protocol service's operations, as methods taking and returning what botocore's client does.
    A subclass names the service (its signing name and endpoint prefix), the X-Amz-Target prefix, the content
    type, the SDKs' endpoint variable for it, and the operations (method name -> operation name).

    Thread-safe: each request takes an idle connection (or opens one) and gives it back, so Lambda keeps
    one persistent connection and the local threaded server one per concurrent request."""

    SERVICE = ""  # the signing name and endpoint prefix: "dynamodb", "ssm"
    LABEL = ""  # in error messages: "DynamoDB"
    TARGET_PREFIX = ""
    CONTENT_TYPE = ""
    ENDPOINT_VARIABLE = ""  # the SDKs' service-specific endpoint variable: AWS_ENDPOINT_URL_DYNAMODB
    OPERATIONS: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int | None = None,
        credentials: Credentials | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        tracer: Any = None,
    ) -> None:
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        # The SDKs' own endpoint settings, as botocore reads them (service-specific first), so pointing
        # an AWS SDK at another endpoint points this transport there too.
        endpoint_url = endpoint_url or os.environ.get(self.ENDPOINT_VARIABLE) or os.environ.get("AWS_ENDPOINT_URL")
        if not region:
            if not endpoint_url:
                raise ValueError(f"the lean {self.LABEL} transport needs a region (AWS_REGION) or an endpoint URL")
            region = "us-east-1"  # a local endpoint (DynamoDB Local, a stand-in) accepts any
        url = urlsplit(endpoint_url or f"https://{self.SERVICE}.{region}.amazonaws.com")
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(f"not an HTTP(S) endpoint: {endpoint_url!r}")
        self.region = region
        self.endpoint_url = url.geturl()
        self._https = url.scheme == "https"
        self._address = (url.hostname, url.port or (443 if self._https else 80))
        default_port = url.port is None or url.port == (443 if self._https else 80)
        self._host = url.hostname.lower() if default_port else f"{url.hostname.lower()}:{url.port}"
        self._path = url.path or "/"
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        if max_attempts is None:
            max_attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)
        self.max_attempts = max(1, max_attempts)
        self._signer = Signer(region, self.SERVICE)
        self.retry_quota = RETRY_QUOTA  # what is left of the bucket (botocore's available_capacity)
        self._fixed_credentials = credentials or env_credentials()
        self._chain: Any = None  # boto3's credentials, when the environment holds none
        self._sleep = sleep
        self._jitter = jitter
        self._ssl: ssl.SSLContext | None = None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        # Called with the operation's name before each attempt is sent (tests count requests with it).
        self.on_send: list[Callable[[str], None]] = []
        # The X-Ray recorder when tracing (wiring's Services.tracer()): each call is then an "aws"
        # subsegment carrying its trace header, as botocore's patched calls are.
        self.tracer = tracer

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        operation = self.OPERATIONS.get(name)
        if operation is None:
            raise AttributeError(name)
        return lambda **params: self.call(operation, params)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # --- the request ---------------------------------------------------------------------------

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send ``operation`` (``GetItem``, ...) with ``params``; its reply, retried as botocore would."""
        if self.tracer is None:
            return self._call(operation, params, None)
        from chalicelib.observability.tracing import aws_call  # lazy: only when tracing (it imports X-Ray)

        return aws_call(
            self.tracer,
            self.SERVICE,
            operation,
            self.region,
            params,
            lambda headers: self._call(operation, params, headers),
        )

    def _call(self, operation: str, params: dict[str, Any], extra: dict[str, str] | None) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        attempt = 0
        paid = 0  # what the last retry took from the quota
        while True:
            attempt += 1
            throttled = False
            retry_after: str | None = None
            try:
                status, headers, data = self._exchange(operation, body, extra)
            except (OSError, http.client.HTTPException) as exc:
                failure: Exception = Unreachable(f"{self.LABEL} {operation}: {exc!r}")
                failure.__cause__ = exc
                retryable = True
            else:
                expected = headers.get("x-amz-crc32")
                if expected is not None and zlib.crc32(data) != int(expected):
                    failure, retryable = (
                        Unreachable(f"{self.LABEL} {operation}: the reply's CRC32 does not match"),
                        True,
                    )
                elif status < 300:
                    response = json.loads(data) if data else {}
                    response["ResponseMetadata"] = _metadata(status, headers, attempt - 1)
                    if self.retry_quota < RETRY_QUOTA:  # full, as nearly always: nothing to give back
                        self._refill(paid or NO_RETRY_INCREMENT)
                    return response
                else:
                    error = _error_response(status, headers, data, attempt - 1)
                    code = error["Error"]["Code"]
                    throttled = code in THROTTLING_CODES
                    retryable = (
                        throttled
                        or code in TRANSIENT_CODES
                        or code in MODELED_RETRYABLE_CODES
                        or status in TRANSIENT_STATUSES
                    )
                    failure = ClientError(error, operation)
                    retry_after = headers.get(RETRY_AFTER)
            if not retryable or attempt >= self.max_attempts:
                raise failure
            paid = THROTTLING_RETRY_COST if throttled else RETRY_COST
            if not self._take(paid):
                raise failure
            self._sleep(self._backoff(attempt, throttled, retry_after))

    def _take(self, amount: int) -> bool:
        with self._lock:
            if amount > self.retry_quota:
                return False
            self.retry_quota -= amount
            return True

    def _refill(self, amount: int) -> None:
        with self._lock:
            self.retry_quota = min(RETRY_QUOTA, self.retry_quota + amount)

    def _backoff(self, attempt: int, throttled: bool, retry_after: str | None = None) -> float:
        """Full jitter under a ceiling doubling each attempt, capped at MAX_BACKOFF; raised to the
        service's ``x-amz-retry-after`` (milliseconds) when it sends one, by at most RETRY_AFTER_MAX."""
        scale = THROTTLING_SCALE if throttled else TRANSIENT_SCALE
        delay = self._jitter() * min(scale * 2 ** (attempt - 1), MAX_BACKOFF)
        if retry_after is not None:
            try:
                asked = int(retry_after) / 1000
            except (ValueError, OverflowError):
                return delay  # botocore ignores a value it cannot read
            if asked >= 0:
                return max(delay, min(asked, delay + RETRY_AFTER_MAX))
        return delay

    def _exchange(self, operation: str, body: bytes, extra: dict[str, str] | None) -> tuple[int, dict[str, str], bytes]:
        for hook in self.on_send:
            hook(operation)
        headers = {
            "Content-Type": self.CONTENT_TYPE,
            "X-Amz-Target": self.TARGET_PREFIX + operation,
            "Content-Length": str(len(body)),
        }
        signed = {"Host": self._host, **headers}
        headers.update(self._signer.sign("POST", self._host, self._path, [], signed, body, self._credentials()))
        headers["Host"] = self._host
        if extra:
            headers.update(extra)  # unsigned, as botocore leaves X-Amzn-Trace-Id unsigned
        connection, reused = self._checkout()
        try:
            try:
                return self._roundtrip(connection, headers, body)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # An idle connection the server (or a NAT) closed: once more on a new one, as no attempt.
                connection.close()
                connection = self._connect()
                return self._roundtrip(connection, headers, body)
        except BaseException:
            connection.close()
            raise

    def _roundtrip(
        self, connection: http.client.HTTPConnection, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        connection.request("POST", self._path, body=body, headers=headers)
        reply = connection.getresponse()
        data = reply.read()
        result = reply.status, {name.lower(): value for name, value in reply.getheaders()}, data
        if reply.will_close:
            connection.close()
        else:
            with self._lock:
                self._idle.append(connection)
        return result

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self._address
        connection: http.client.HTTPConnection
        if self._https:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()  # verifies the certificate and the host name
            connection = http.client.HTTPSConnection(host, port, timeout=self._connect_timeout, context=self._ssl)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(self._read_timeout)
        return connection

    def _credentials(self) -> Credentials:
        if self._fixed_credentials is not None:
            return self._fixed_credentials
        if self._chain is None:
            import boto3  # lazy: only without credentials in the environment (profiles, SSO)

            self._chain = boto3.session.Session().get_credentials()
            if self._chain is None:
                raise Unreachable("no AWS credentials: neither in the environment nor in boto3's chain")
        frozen = self._chain.get_frozen_credentials()  # refreshes temporary credentials when due
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


class DynamoDBClient(JsonClient):
    """The store adapter's DynamoDB operations (JSON 1.0)."""

    SERVICE = "dynamodb"
    LABEL = "DynamoDB"
    TARGET_PREFIX = TARGET_PREFIX
    CONTENT_TYPE = CONTENT_TYPE
    ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
    OPERATIONS = OPERATIONS


def _metadata(status: int, headers: dict[str, str], retries: int) -> dict[str, Any]:
    return {
        "RequestId": headers.get("x-amzn-requestid", ""),
        "HTTPStatusCode": status,
        "HTTPHeaders": headers,
        "RetryAttempts": retries,
    }


def _error_response(status: int, headers: dict[str, str], data: bytes, retries: int) -> dict[str, Any]:
    """An error reply as botocore parses it: the code after the ``#`` of ``__type``, the message, and the
    error's other members (``Item``, ``CancellationReasons``) beside ``Error``."""
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.pop("__type", "") or headers.get("x-amzn-errortype", "")).rsplit("#", 1)[-1].split(":")[0]
    message = body.pop("message", None) or body.pop("Message", None) or ""
    response: dict[str, Any] = {
        **body,
        "Error": {"Code": code or str(status), "Message": message},
        "ResponseMetadata": _metadata(status, headers, retries),
    }
    return response
