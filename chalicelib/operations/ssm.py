"""SSM Parameter Store through the standard-library transport (chalicelib/store/dynamodb_http.py's JsonClient,
JSON 1.1, signed by sigv4.py): GET /health reads the region switch and the chat commands' route reads its
signing secret on API requests, so neither loads boto3. Errors are translated here, at the boundary."""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from chalicelib.errors import ChatCommandsUnavailable
from chalicelib.errors import RegionSwitchUnavailable
from chalicelib.store.dynamodb_http import ClientError
from chalicelib.store.dynamodb_http import JsonClient
from chalicelib.store.dynamodb_http import Unreachable

# Short, and one attempt: a read on /health must answer well within a DNS health checker's patience (Route 53
# waits 2 s for the status after connecting); a failed read keeps the last state (tasks/region.py).
CONNECT_TIMEOUT = 0.5  # seconds
READ_TIMEOUT = 1.0  # seconds
MAX_ATTEMPTS = 1


class SSMClient(JsonClient):
    """SSM's GetParameter and PutParameter, as botocore's SSM client takes and returns them."""

    SERVICE = "ssm"
    LABEL = "SSM"
    TARGET_PREFIX = "AmazonSSM."
    CONTENT_TYPE = "application/x-amz-json-1.1"
    ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_SSM"
    OPERATIONS: ClassVar[dict[str, str]] = {"get_parameter": "GetParameter", "put_parameter": "PutParameter"}


def client(region: str | None, **options: Any) -> SSMClient:
    settings: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "max_attempts": MAX_ATTEMPTS,
    }
    settings.update(options)
    return SSMClient(region=region, **settings)


def _code(exc: Exception) -> str:
    return exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__


class SSMRegionSwitch:
    """The RegionSwitch port (chalicelib/tasks/region.py) on a String parameter the stack creates."""

    def __init__(self, ssm: SSMClient, name: str) -> None:
        self.ssm = ssm
        self.name = name

    def read(self) -> str:
        try:
            reply = self.ssm.get_parameter(Name=self.name)
            return str(reply["Parameter"]["Value"]).strip()
        except (ClientError, Unreachable) as exc:
            raise RegionSwitchUnavailable(f"SSM GetParameter {self.name}: {_code(exc)}") from exc
        except (ValueError, KeyError, TypeError) as exc:  # a reply that is not SSM's (a proxy's page, say)
            raise RegionSwitchUnavailable(f"SSM GetParameter {self.name}: an unreadable reply") from exc

    def write(self, state: str) -> None:
        try:
            self.ssm.put_parameter(Name=self.name, Value=state, Type="String", Overwrite=True)
        except (ClientError, Unreachable) as exc:
            raise RegionSwitchUnavailable(f"SSM PutParameter {self.name}: {_code(exc)}") from exc


def secret(ssm: SSMClient, name: str) -> str:
    """A SecureString parameter's decrypted value. The message of a failure names the parameter and the error
    code, never the value."""
    try:
        reply = ssm.get_parameter(Name=name, WithDecryption=True)
    except (ClientError, Unreachable) as exc:
        raise ChatCommandsUnavailable(f"the chat commands' signing secret cannot be read ({_code(exc)})") from exc
    value = str(reply["Parameter"]["Value"])
    if not value:
        raise ChatCommandsUnavailable("the chat commands' signing secret is empty")
    return value
