"""The secrets port on SSM Parameter Store: a SecureString read with decryption through boto3 on first use,
then kept for the life of the process (a notifier's invocations are few; boto3 is fine off the API's
request path). Errors name the parameter and AWS's error code, never a value."""

from __future__ import annotations

import threading
from typing import Unpack

from chalicelib import aws
from chalicelib.errors import SecretUnavailable


class SsmSecrets(aws.ClientOwner):
    """Decrypted SSM parameters, by full name, each read once."""

    def __init__(self, **client_options: Unpack[aws.ClientOptions]) -> None:
        super().__init__(**client_options)
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    client = aws.lazy_client("ssm", connect_timeout=2.0, read_timeout=5.0, max_attempts=3)

    def get(self, name: str) -> str:
        value = self._values.get(name)
        if value is not None:
            return value
        with self._lock:
            if name not in self._values:
                self._values[name] = self._read(name)
            return self._values[name]

    def forget(self, name: str) -> None:
        with self._lock:
            self._values.pop(name, None)

    def _read(self, name: str) -> str:
        client = self.client
        from botocore.exceptions import BotoCoreError  # loaded with the client already
        from botocore.exceptions import ClientError  # loaded with the client already

        try:
            response = client.get_parameter(Name=name, WithDecryption=True)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise SecretUnavailable(f"the SSM parameter {name} could not be read ({code})") from exc
        except BotoCoreError as exc:
            raise SecretUnavailable(f"SSM is unreachable ({type(exc).__name__})") from exc
        value = response.get("Parameter", {}).get("Value")
        if not isinstance(value, str) or not value:
            raise SecretUnavailable(f"the SSM parameter {name} is empty")
        return value
