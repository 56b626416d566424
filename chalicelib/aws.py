"""Low-level AWS clients for the cloud adapters, built on first use: importing this module costs no
boto3 (importing boto3 and botocore is a large share of a cold start)."""

from __future__ import annotations

import threading
from typing import Any
from typing import TypedDict
from typing import Unpack


def client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    max_attempts: int | None = None,
    **config: Any,
) -> Any:
    """A botocore client for ``service``; ``config`` adds to (or overrides) the botocore Config below."""
    import boto3
    from botocore.config import Config

    # Standard mode retries throttling and network errors with jittered backoff; attempts default to 3
    # and follow AWS_MAX_ATTEMPTS when an operator sets it, unless max_attempts fixes them.
    retries: dict[str, Any] = {"mode": "standard"}
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    # The local server runs requests on threads; Lambda needs only one connection.
    options: dict[str, Any] = {"max_pool_connections": 32, **config}
    built = Config(connect_timeout=connect_timeout, read_timeout=read_timeout, retries=retries, **options)
    # A session of its own: boto3's default session is shared module state and not thread-safe.
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint_url, config=built)


class ClientOptions(TypedDict, total=False):
    """The keywords of ``client`` an adapter's constructor passes on (its own defaults: its ``lazy_client``)."""

    region: str | None
    endpoint_url: str | None
    connect_timeout: float
    read_timeout: float
    max_attempts: int | None


class ClientOwner:
    """The base of an adapter with a ``client = lazy_client(...)`` attribute: its ``__init__`` calls
    ``super().__init__(**client_options)`` with the instance's own keywords for ``client`` (region,
    endpoint_url, timeouts, ...). The built client is kept in ``_client``: None until first use (a test may
    put a stand-in there)."""

    def __init__(self, **client_options: Unpack[ClientOptions]) -> None:
        self._client_options = client_options
        self._client: Any = None


class lazy_client:
    """A ClientOwner's ``client`` attribute (``client = aws.lazy_client("sqs")``): the low-level botocore
    client, built on first use by ``client(service, **defaults, **instance._client_options)``."""

    def __init__(self, service: str, **defaults: Any) -> None:
        self.service = service
        self.defaults = defaults
        # One lock per adapter class, not per instance: a client is built once per instance, so
        # contention is rare, and two threads must never both build one (boto3 sessions are not cheap).
        self._lock = threading.Lock()

    def __set_name__(self, owner: type, name: str) -> None:
        if not issubclass(owner, ClientOwner):
            raise TypeError(f"{owner.__name__}.{name}: a lazy_client belongs to a subclass of aws.ClientOwner")

    def __get__(self, instance: ClientOwner | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        built = instance._client
        if built is None:
            with self._lock:
                if instance._client is None:
                    instance._client = client(self.service, **{**self.defaults, **instance._client_options})
                built = instance._client
        return built

    def __set__(self, instance: ClientOwner, value: Any) -> None:
        raise AttributeError("client is read-only")
