"""The composition root: the app's adapters and services, built from Settings on first use and kept once
per process; any of them can be handed in instead (tests pass fakes, the bench its providers).

``services()`` is the process's instance, which route handlers, the streaming function and the queue
consumers use; ``bootstrap(...)`` installs a new one, with replacements. Every entry point imports this
module at cold start, so each adapter and service is imported by its builder, when first built: a
function pays only for what it uses (``/health``: none of them; a read route: never the queue).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.errors import FeatureDisabled
from chalicelib.protocol.context import request_id
from chalicelib.settings import Settings, get_settings
from chalicelib.tasks.clock import system_clock

if TYPE_CHECKING:
    from chalicelib.assistant.base import Provider
    from chalicelib.assistant.service import AssistantService
    from chalicelib.events.base import Handler, Queue
    from chalicelib.store.base import Store
    from chalicelib.tasks.activity import ActivityRecorder, ActivitySink
    from chalicelib.tasks.clock import Clock
    from chalicelib.tasks.items import ItemService
    from chalicelib.tasks.profiles import ProfileService

# A queue consumer as app.py declares it: the services it works with, a Lambda SQS event and Lambda's
# context (None when the embedded queue delivers); it returns Lambda's partial batch response.
Consumer = Callable[["Services", dict, Any], dict]

_UNSET: Any = object()


class Services:
    """The app's services for one set of Settings. Each member is built on first use, once (thread-safe:
    ``chalice local`` serves requests on threads); a member given to the constructor is used as is."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        queue: Queue | None = None,
        activity: ActivitySink | None = _UNSET,
        activity_recorder: ActivityRecorder | None = None,
        provider: Provider | None = None,
        assistant: AssistantService | None = None,
        clock: Clock | None = None,
        consumers: Mapping[str, Consumer] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        # None: the ones app.py declared, looked up when the queue is built (app.py may be imported later).
        self._consumers = consumers
        given = {
            "store": store,
            "queue": queue,
            "activity_recorder": activity_recorder,
            "provider": provider,
            "assistant": assistant,
        }
        self._built: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
        if activity is not _UNSET:
            self._built["activity"] = activity  # None too: a deployment without an activity queue
        self._given = frozenset(self._built)
        self._lock = threading.RLock()

    def _member(self, name: str, build: Callable[[], Any]) -> Any:
        try:
            return self._built[name]
        except KeyError:
            pass
        with self._lock:  # re-entrant: building the items builds the store
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]

    # --- configuration ---------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings given, else the process's (read from the environment on first use)."""
        return self._settings if self._settings is not None else get_settings()

    @property
    def clock(self) -> Clock:
        return self._clock if self._clock is not None else system_clock

    def tracer(self) -> Any:
        """The X-Ray recorder when tracing (Settings.tracing), else None. The only place X-Ray is activated:
        the adapters that call AWS ask for it before they build their client, so botocore is patched first."""
        if not self.settings.tracing:
            return None

        def activate() -> Any:
            from chalicelib.observability import tracing

            return tracing.activate(self.settings)

        return self._member("tracer", activate)

    # --- adapters --------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if "store" not in self._built and self.settings.store == "off":
            raise FeatureDisabled("the tasks table is not enabled in this deployment")
        return self._member("store", self._build_store)

    def _build_store(self) -> Store:
        settings = self.settings
        tracer = self.tracer()
        store: Store
        if settings.store == "dynamodb":
            from chalicelib.store.dynamodb import DynamoDBStore

            store = DynamoDBStore(
                settings.table_name or "", endpoint_url=settings.dynamodb_endpoint_url, region=settings.aws_region
            )
            if settings.dynamodb_endpoint_url:
                # Local endpoints only (DynamoDB Local): against AWS the stack owns the table.
                store.ensure_schema()
        else:
            from chalicelib.store.sqlite import SQLiteStore

            store = SQLiteStore(settings.sqlite_path)
        if tracer is None:
            return store
        from chalicelib.observability.tracing import TracedStore

        return TracedStore(store, tracer)

    @property
    def queue(self) -> Queue:
        """The activity queue: SQS when deployed with one, else the embedded queue, whose worker thread
        delivers to the consumers this root was given (app.py's; QUEUE=off: see ``activity``)."""
        return self._member("queue", self._build_queue)

    def _build_queue(self) -> Queue:
        settings = self.settings
        if settings.queue == "sqs":
            self.tracer()  # botocore patched before the client is built: SendMessage gets its subsegment
            from chalicelib.events.sqs import SQSQueue

            return SQSQueue(settings.activity_queue_url or "", region=settings.aws_region)
        from chalicelib.events.local import LocalQueue

        consumers = _consumers if self._consumers is None else self._consumers
        handlers: dict[str, Handler] = {name: self._deliver_to(consumer) for name, consumer in consumers.items()}
        return LocalQueue(os.path.join(settings.data_dir, "queue.db"), handlers)

    def _deliver_to(self, consumer: Consumer) -> Handler:
        def handler(event: dict) -> dict:
            return consumer(self, event, None)

        return handler

    @property
    def provider(self) -> Provider:
        return self._member("provider", self._build_provider)

    def _build_provider(self) -> Provider:
        settings = self.settings
        if settings.assistant_provider == "bedrock":
            self.tracer()  # botocore patched before the client is built: ConverseStream gets its subsegment
            from chalicelib.assistant.bedrock import BedrockProvider

            return BedrockProvider(settings.bedrock_model_id, region=settings.aws_region)
        # lazy: providers load with the assistant's first use
        from chalicelib.assistant.offline import OfflineProvider

        return OfflineProvider()

    # --- services --------------------------------------------------------------------------------

    @property
    def activity(self) -> ActivitySink | None:
        """Where item changes are announced; None when the deployment has no activity queue."""
        return self._member("activity", self._build_activity)

    def _build_activity(self) -> ActivitySink | None:
        if self.settings.queue == "off":
            return None
        from chalicelib.events.publisher import Publisher

        return Publisher(self.queue, request_id=request_id)

    @property
    def activity_recorder(self) -> ActivityRecorder:
        def build() -> ActivityRecorder:
            # lazy: each service loads with its first use (module docstring)
            from chalicelib.tasks.activity import ActivityRecorder

            return ActivityRecorder(self.store, clock=self.clock)

        return self._member("activity_recorder", build)

    @property
    def items(self) -> ItemService:
        def build() -> ItemService:
            # lazy: each service loads with its first use (module docstring)
            from chalicelib.tasks.items import ItemService

            return ItemService(self.store, clock=self.clock, activity=_DeferredActivity(self))

        return self._member("items", build)

    @property
    def profiles(self) -> ProfileService:
        def build() -> ProfileService:
            # lazy: each service loads with its first use (module docstring)
            from chalicelib.tasks.profiles import ProfileService

            return ProfileService(self.store, clock=self.clock)

        return self._member("profiles", build)

    @property
    def assistant(self) -> AssistantService:
        """The assistant over the caller's items, with the provider Settings name (off: 503 feature_disabled)."""
        if "assistant" not in self._built and self.settings.assistant_provider == "off":
            raise FeatureDisabled("the assistant is switched off in this deployment")

        def build() -> AssistantService:
            # lazy: each service loads with its first use (module docstring)
            from chalicelib.assistant.service import AssistantService

            return AssistantService(self.items, self.provider, clock=self.clock)

        return self._member("assistant", build)

    def close(self) -> None:
        """Stop what this root started (the embedded queue's worker); what was handed in is the caller's."""
        queue = None if "queue" in self._given else self._built.get("queue")
        close = getattr(queue, "close", None)
        if close is not None:
            close()


class _DeferredActivity:
    """The activity sink, resolved on the first event: read routes never load the queue or its adapter."""

    __slots__ = ("_services",)

    def __init__(self, services: Services) -> None:
        self._services = services

    def publish(self, event: dict) -> None:
        sink = self._services.activity
        if sink is not None:
            sink.publish(event)


# --- the process's instance ------------------------------------------------------------------------

_lock = threading.Lock()
_current: Services | None = None
_consumers: dict[str, Consumer] = {}


def declare_consumers(consumers: Mapping[str, Consumer]) -> None:
    """The queue consumers, by queue name: app.py declares its own at import, and every root built from
    then on hands them to the embedded queue (deployed, Lambda invokes them from SQS instead)."""
    _consumers.update(consumers)


def bootstrap(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    queue: Queue | None = None,
    activity: ActivitySink | None = _UNSET,
    activity_recorder: ActivityRecorder | None = None,
    provider: Provider | None = None,
    assistant: AssistantService | None = None,
    clock: Clock | None = None,
    consumers: Mapping[str, Consumer] | None = None,
) -> Services:
    """Install a new process instance (closing the previous one) with whatever replacements are given;
    everything else is built from ``settings`` (default: the process's) on first use."""
    global _current
    fresh = Services(
        settings,
        store=store,
        queue=queue,
        activity=activity,
        activity_recorder=activity_recorder,
        provider=provider,
        assistant=assistant,
        clock=clock,
        consumers=consumers,
    )
    with _lock:
        previous, _current = _current, fresh
    if previous is not None:
        previous.close()
    return fresh


def services() -> Services:
    """The process's services (built with no replacements on first use, unless ``bootstrap`` ran)."""
    global _current
    current = _current
    if current is not None:
        return current
    with _lock:
        if _current is None:
            _current = Services()
        return _current


def reset() -> None:
    """Forget the process's services and settings (tests change the environment between cases); stops
    the embedded queue's worker. The next ``services()`` builds anew from the environment."""
    global _current
    with _lock:
        previous, _current = _current, None
    get_settings.cache_clear()
    if previous is not None:
        previous.close()
