"""The composition root: builds adapters and services from Settings, lazily and once per process.

Adapters are imported here, inside the functions, so a route that needs none (``/health``) never
pays for sqlite3, boto3 or the services.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.events.base import Queue
    from chalicelib.settings import Settings
    from chalicelib.store.base import Store
    from chalicelib.assistant.base import Provider
    from chalicelib.assistant.service import AssistantService
    from chalicelib.tasks.activity import ActivityRecorder, ActivitySink
    from chalicelib.tasks.items import ItemService
    from chalicelib.tasks.profiles import ProfileService


@lru_cache(maxsize=1)
def get_store() -> "Store":
    settings = get_settings()
    if settings.store == "off":
        from chalicelib.errors import FeatureDisabled

        raise FeatureDisabled("the tasks table is not enabled in this deployment")
    if not settings.tracing:
        return _build_store(settings)
    # X-Ray (Lambda with tracing active only): botocore is patched before any client is built.
    from chalicelib.observability import tracing

    recorder = tracing.activate(settings)
    return tracing.TracedStore(_build_store(settings), recorder)


def _build_store(settings: "Settings") -> "Store":
    if settings.store == "dynamodb":
        from chalicelib.store.dynamodb import DynamoDBStore

        store: Store = DynamoDBStore(settings.table_name or "", endpoint_url=settings.dynamodb_endpoint_url,
                                     region=settings.aws_region)
        if settings.dynamodb_endpoint_url:
            # Local endpoints only (DynamoDB Local): against AWS the stack owns the table.
            store.ensure_schema()
        return store
    from chalicelib.store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path)


@lru_cache(maxsize=1)
def get_queue() -> "Queue":
    """The activity queue: SQS when deployed with one, else the embedded queue whose worker thread
    delivers to the same consumers app.py declares (QUEUE=off: none, see get_activity)."""
    settings = get_settings()
    if settings.queue == "sqs":
        if settings.tracing:
            from chalicelib.observability import tracing

            tracing.activate(settings)  # botocore patched first: SendMessage gets its subsegment
        from chalicelib.events.sqs import SQSQueue

        return SQSQueue(settings.activity_queue_url or "", region=settings.aws_region)
    import os

    from chalicelib import consumers
    from chalicelib.events.base import ACTIVITY, DEAD_LETTERS
    from chalicelib.events.local import LocalQueue

    return LocalQueue(os.path.join(settings.data_dir, "queue.db"),
                      {ACTIVITY: consumers.activity, DEAD_LETTERS: consumers.dead_letters})


@lru_cache(maxsize=1)
def get_activity() -> "ActivitySink | None":
    """Where item changes are announced; None when the deployment has no activity queue."""
    if get_settings().queue == "off":
        return None
    from chalicelib.events.publisher import Publisher
    from chalicelib.web.context import request_id

    return Publisher(get_queue(), request_id=request_id)


@lru_cache(maxsize=1)
def get_activity_recorder() -> "ActivityRecorder":
    from chalicelib.tasks.activity import ActivityRecorder

    return ActivityRecorder(get_store())


class _DeferredActivity:
    """The activity sink, built on the first event: read routes never load the queue or its adapter."""

    __slots__ = ()

    def publish(self, event: dict) -> None:
        sink = get_activity()
        if sink is not None:
            sink.publish(event)


@lru_cache(maxsize=1)
def get_items() -> "ItemService":
    from chalicelib.tasks.items import ItemService

    return ItemService(get_store(), activity=_DeferredActivity())


@lru_cache(maxsize=1)
def get_profiles() -> "ProfileService":
    from chalicelib.tasks.profiles import ProfileService

    return ProfileService(get_store())


@lru_cache(maxsize=1)
def get_assistant() -> "AssistantService":
    """The assistant over the caller's items, with the provider Settings name (off: 503 feature_disabled)."""
    settings = get_settings()
    if settings.assistant_provider == "off":
        from chalicelib.errors import FeatureDisabled

        raise FeatureDisabled("the assistant is switched off in this deployment")
    from chalicelib.assistant.service import AssistantService

    return AssistantService(get_items(), _build_provider(settings))


def _build_provider(settings: "Settings") -> "Provider":
    if settings.assistant_provider == "bedrock":
        if settings.tracing:
            from chalicelib.observability import tracing

            tracing.activate(settings)  # botocore patched first: ConverseStream gets its subsegment
        from chalicelib.assistant.bedrock import BedrockProvider

        return BedrockProvider(settings.bedrock_model_id, region=settings.aws_region)
    from chalicelib.assistant.offline import OfflineProvider

    return OfflineProvider()


def reset() -> None:
    """Forget everything built (tests switch settings between cases); stops a local queue's worker."""
    if _CACHED_QUEUE.cache_info().currsize:
        close = getattr(_CACHED_QUEUE(), "close", None)
        if close is not None:
            close()
    for cached in _CACHED:
        cached.cache_clear()


# Taken at import, so a test that replaced one of these functions still gets the real caches cleared.
_CACHED_QUEUE = get_queue
_CACHED = (get_assistant, get_items, get_profiles, get_activity, get_activity_recorder, get_queue, get_store,
           get_settings)
