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
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import Generic
from typing import TypeVar
from typing import overload

from chalicelib.errors import FeatureDisabled
from chalicelib.events.base import TABLE_STREAM
from chalicelib.protocol.context import request_id
from chalicelib.settings import Settings
from chalicelib.settings import get_settings
from chalicelib.tasks.clock import system_clock

if TYPE_CHECKING:
    from typing import TypedDict
    from typing import Unpack

    from chalicelib.alerts.base import ChatWebhook
    from chalicelib.alerts.base import Secrets
    from chalicelib.alerts.notifier import AlarmNotifier
    from chalicelib.assistant.base import Provider
    from chalicelib.assistant.service import AssistantService
    from chalicelib.auth.grants import GrantStore
    from chalicelib.events.base import Handler
    from chalicelib.events.base import Queue
    from chalicelib.events.feed import LocalFeed
    from chalicelib.faults import Faults
    from chalicelib.store.base import Store
    from chalicelib.tasks.activity import ActivityRecorder
    from chalicelib.tasks.clock import Clock
    from chalicelib.tasks.commands import Alarms
    from chalicelib.tasks.commands import ChatCommands
    from chalicelib.tasks.dead_letters import DeadLetters
    from chalicelib.tasks.feed import ActivityFeed
    from chalicelib.tasks.items import ItemService
    from chalicelib.tasks.profiles import ProfileService
    from chalicelib.tasks.region import CachedSwitch
    from chalicelib.tasks.stats import StatsRebuild
    from chalicelib.web.chat import ReplayGuard

    # Typing only (bootstrap's keywords): defining a TypedDict at import would cost every cold start.
    class Replacements(TypedDict, total=False):
        """What ``bootstrap`` can be handed instead of having it built: the keywords of ``Services``."""

        store: Store
        queue: Queue
        activity_recorder: ActivityRecorder
        provider: Provider
        assistant: AssistantService
        clock: Clock
        consumers: Mapping[str, Consumer]
        faults: Faults
        monotonic: Clock
        region_switch: CachedSwitch
        alarms: Alarms
        secrets: Secrets
        chat_webhook: ChatWebhook
        sleep: Callable[[float], None]


# A queue consumer as app.py declares it: the services it works with, a Lambda SQS event and Lambda's
# context (None when the embedded queue delivers); it returns Lambda's partial batch response.
Consumer = Callable[["Services", dict, Any], dict]

T = TypeVar("T")


class _member(Generic[T]):
    """A member of Services, built by the decorated method on first use and kept: once per instance, under
    the instance's lock. A value handed to the constructor under the same name is used as is."""

    def __init__(self, build: Callable[[Services], T]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, services: None, owner: type) -> _member[T]: ...
    @overload
    def __get__(self, services: Services, owner: type) -> T: ...
    def __get__(self, services: Services | None, owner: type) -> _member[T] | T:
        if services is None:
            return self
        built = services._built
        try:
            return built[self._name]
        except KeyError:
            pass
        with services._lock:  # re-entrant: building the items builds the store
            if self._name not in built:
                built[self._name] = self._build(services)
            return built[self._name]


class Services:
    """The app's services for one set of Settings. Each member is built on first use, once (thread-safe:
    ``chalice local`` serves requests on threads); a member given to the constructor is used as is."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        queue: Queue | None = None,
        activity_recorder: ActivityRecorder | None = None,
        provider: Provider | None = None,
        assistant: AssistantService | None = None,
        clock: Clock | None = None,
        consumers: Mapping[str, Consumer] | None = None,
        faults: Faults | None = None,
        monotonic: Clock | None = None,
        region_switch: CachedSwitch | None = None,
        alarms: Alarms | None = None,
        secrets: Secrets | None = None,
        chat_webhook: ChatWebhook | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic  # what the region switch's cache counts its seconds with
        self._sleep = sleep
        # None: the ones app.py declared, looked up when the queue is built (app.py may be imported later).
        self._consumers = consumers
        given = {
            "store": store,
            "queue": queue,
            "activity_recorder": activity_recorder,
            "provider": provider,
            "assistant": assistant,
            "faults": faults,
            "region_switch": region_switch,
            "alarms": alarms,
            "secrets": secrets,
            "chat_webhook": chat_webhook,
        }
        self._built: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
        self._given = frozenset(self._built)
        self._lock = threading.RLock()

    # --- configuration ---------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings given, else the process's (read from the environment on first use)."""
        return self._settings if self._settings is not None else get_settings()

    @property
    def clock(self) -> Clock:
        return self._clock if self._clock is not None else system_clock

    @property
    def sleep(self) -> Callable[[float], None]:
        """How the adapters wait between retries (tests hand in one that only records)."""
        return self._sleep if self._sleep is not None else time.sleep

    def tracer(self) -> Any:
        """The X-Ray recorder when tracing (Settings.tracing), else None. The only place X-Ray is activated:
        the adapters that call AWS ask for it before they build their client, so botocore is patched first."""
        return self._recorder if self.settings.tracing else None

    @_member
    def faults(self) -> Faults | None:
        """The fault injector of a drill (chalicelib/faults.py), or None at FAULT_RATE 0 (the default): then
        nothing of it is imported or wrapped (the middleware checks the rate before it asks for this)."""
        if self.settings.fault_rate <= 0:
            return None
        from chalicelib.faults import Faults  # lazy: only a drill loads it

        return Faults.from_settings(self.settings)

    @_member
    def _recorder(self) -> Any:
        from chalicelib.observability import tracing

        return tracing.activate(self.settings)

    # --- adapters --------------------------------------------------------------------------------

    @_member
    def store(self) -> Store:
        if self.settings.store == "off":
            raise FeatureDisabled("the tasks table is not enabled in this deployment")
        settings = self.settings
        tracer = self.tracer()
        store: Store
        # A table in multi-Region strong consistency refuses transactions: the use-cases write one record at a time.
        transactions = settings.table_consistency != "strong"
        if settings.store == "dynamodb":
            from chalicelib.store.dynamodb import DynamoDBStore

            store = DynamoDBStore(
                settings.table_name or "",
                endpoint_url=settings.dynamodb_endpoint_url,
                region=settings.aws_region,
                transport=settings.dynamodb_transport,
                tracer=tracer,
                transactions=transactions,
            )
            if settings.dynamodb_endpoint_url:
                # Local endpoints only (DynamoDB Local): against AWS the stack owns the table, and Lambda
                # forwards its stream; here the local feed does.
                store.ensure_schema()
                self._built["store"] = store
                self.change_feed  # noqa: B018 - started with the store, as below
        else:
            from chalicelib.store.sqlite import SQLiteStore

            # With an activity pipeline, the store logs each change of a captured record in the write's own
            # transaction (the outbox); the local feed forwards the log (``change_feed``).
            capture = self._captured() if settings.queue != "off" else None
            store = SQLiteStore(settings.sqlite_path, capture=capture, transactions=transactions)
            self._built["store"] = store  # the feed reads the log of this very store
            self.change_feed  # noqa: B018 - started with the store: what an earlier run logged is forwarded too
        faults = self.faults
        if faults is not None:  # a drill: the request's store calls may fail (inside the trace, as real ones)
            store = faults.store(store)
        if tracer is None:
            return store
        from chalicelib.observability.tracing import TracedStore

        return TracedStore(store, tracer)

    @_member
    def queue(self) -> Queue:
        """The activity queue: SQS when deployed with one, else the embedded queue, whose worker thread
        delivers to the consumers this root was given (app.py's). QUEUE=off: no change is logged, so nothing
        is ever sent."""
        settings = self.settings
        if settings.queue == "sqs":
            self.tracer()  # botocore patched before the client is built: SendMessage gets its subsegment
            from chalicelib.events.sqs import SQSQueue

            return SQSQueue(settings.activity_queue_url or "", region=settings.aws_region)
        from chalicelib.events.local import LocalQueue

        consumers = _consumers if self._consumers is None else self._consumers
        handlers: dict[str, Handler] = {
            name: self._deliver_to(consumer) for name, consumer in consumers.items() if name != TABLE_STREAM
        }
        return LocalQueue(os.path.join(settings.data_dir, "queue.db"), handlers)

    @_member
    def change_feed(self) -> LocalFeed | None:
        """The embedded change feed: forwards the SQLite store's change log to the forwarder app.py declared
        (deployed, Lambda reads the table's stream instead). None without a log or a forwarder."""
        settings = self.settings
        consumers = _consumers if self._consumers is None else self._consumers
        forwarder = consumers.get(TABLE_STREAM)
        if forwarder is None or settings.queue == "off":
            return None
        store: Any = self.store
        if settings.store == "dynamodb":
            if not settings.dynamodb_endpoint_url:
                return None  # deployed: Lambda's event source mapping reads the stream
            from chalicelib.store.dynamodb_stream import DynamoDBLocalStream

            store = DynamoDBLocalStream(
                settings.table_name or "",
                capture=self._captured(),
                endpoint_url=settings.dynamodb_endpoint_url,
                region=settings.aws_region,
            )
        from chalicelib.events.feed import LocalFeed

        feed = LocalFeed(store, self._deliver_to(forwarder))
        feed.start()
        return feed

    @staticmethod
    def _captured() -> Callable[[Any], bool]:
        from chalicelib.tasks.outbox import captured  # lazy: the outbox's domain loads with the store

        return captured

    def _deliver_to(self, consumer: Consumer) -> Handler:
        def handler(event: dict) -> dict:
            return consumer(self, event, None)

        return handler

    @_member
    def provider(self) -> Provider:
        settings = self.settings
        if settings.assistant_provider == "bedrock":
            self.tracer()  # botocore patched before the client is built: ConverseStream gets its subsegment
            from chalicelib.assistant.bedrock import BedrockProvider

            return BedrockProvider(settings.bedrock_model_id, region=settings.aws_region)
        # lazy: providers load with the assistant's first use
        from chalicelib.assistant.offline import OfflineProvider

        return OfflineProvider(delay=settings.assistant_offline_delay_ms / 1000)

    @_member
    def secrets(self) -> Secrets:
        """Decrypted SSM parameters (the Slack webhook's URL), each read on first use and kept."""
        from chalicelib.alerts.ssm import SsmSecrets  # lazy: the notifier function's only

        return SsmSecrets(region=self.settings.aws_region)

    @_member
    def chat_webhook(self) -> ChatWebhook | None:
        """The team's Slack incoming webhook, its URL the SecureString Settings name; None: alerts off."""
        parameter = self.settings.slack_webhook_parameter
        if parameter is None:
            return None
        from chalicelib.alerts.slack import SlackWebhook  # lazy: the notifier function's only

        return SlackWebhook(self.secrets, parameter, sleep=self.sleep)

    # --- services (each loads with its first use: module docstring) ------------------------------

    @_member
    def alarm_notifier(self) -> AlarmNotifier | None:
        """Posts the alarm topic's messages to the chat; None when no webhook is configured (alerts off)."""
        webhook = self.chat_webhook
        if webhook is None:
            return None
        from chalicelib.alerts.notifier import AlarmNotifier  # lazy: loads with its first use

        settings = self.settings
        return AlarmNotifier(
            webhook, stage=settings.stage, region=settings.aws_region, dashboard=settings.dashboard_name
        )

    @_member
    def activity_recorder(self) -> ActivityRecorder:
        from chalicelib.tasks.activity import ActivityRecorder  # lazy: loads with its first use

        return ActivityRecorder(self.store, clock=self.clock, region=self._stats_region())

    def _stats_region(self) -> str | None:
        """Whose STATS shard this process's counters go to: in two regions its own (``STATS#<region>``, so no
        two regions ever write one record), else None (the one ``STATS`` record)."""
        settings = self.settings
        return settings.aws_region if settings.regions else None

    @_member
    def dead_letters(self) -> DeadLetters:
        """The activity messages given up on, kept for replay: the consumers note and keep them, the
        operator's command (chalicelib/ops.py) lists and replays them."""
        from chalicelib.tasks.dead_letters import DeadLetters  # lazy: loads with its first use

        return DeadLetters(self.store, clock=self.clock)

    @_member
    def stats_rebuild(self) -> StatsRebuild:
        """STATS rebuilt from items (the operator's command only)."""
        from chalicelib.tasks.stats import StatsRebuild  # lazy: loads with its first use

        return StatsRebuild(self.store, clock=self.clock, region=self._stats_region())

    @_member
    def items(self) -> ItemService:
        from chalicelib.tasks.items import ItemService  # lazy: loads with its first use

        return ItemService(self.store, clock=self.clock, request_id=request_id, region=self.settings.aws_region)

    @_member
    def profiles(self) -> ProfileService:
        from chalicelib.tasks.profiles import ProfileService  # lazy: loads with its first use

        return ProfileService(self.store, clock=self.clock, request_id=request_id, region=self.settings.aws_region)

    @_member
    def feed(self) -> ActivityFeed:
        """The caller's stats and activity; without the activity pipeline (QUEUE=off) nothing records
        them, so they answer 503 feature_disabled rather than counters that never move."""
        if self.settings.queue == "off":
            raise FeatureDisabled("activity and stats are not enabled in this deployment")
        from chalicelib.tasks.feed import ActivityFeed  # lazy: loads with its first use

        return ActivityFeed(self.store, clock=self.clock)

    @_member
    def assistant(self) -> AssistantService:
        """The assistant over the caller's items, with the provider Settings name (off: 503 feature_disabled)."""
        if self.settings.assistant_provider == "off":
            raise FeatureDisabled("the assistant is switched off in this deployment")
        from chalicelib.assistant.service import AssistantService  # lazy: loads with its first use

        return AssistantService(self.items, self.provider, clock=self.clock)

    # --- operations: this region's switch and the chat commands (docs/OPERATIONS.md) ----------------

    @_member
    def region_switch(self) -> CachedSwitch:
        """This region's switch as GET /health reads it (cached: tasks/region.py): the SSM parameter
        REGION_SWITCH_PARAMETER names, else a file under DATA_DIR. Standard library only, either way."""
        from chalicelib.tasks.region import CachedSwitch  # lazy: loads with its first use (GET /health)

        settings = self.settings
        name = settings.region_switch_parameter
        if name:
            from chalicelib.operations.ssm import SSMRegionSwitch  # lazy: only where the parameter is set

            switch: Any = SSMRegionSwitch(self._ssm, name)
        else:
            from chalicelib.operations.files import FILE_NAME  # lazy: as above
            from chalicelib.operations.files import FileRegionSwitch  # lazy: as above

            switch = FileRegionSwitch(os.path.join(settings.data_dir, FILE_NAME))
        options: dict[str, Any] = {}
        if settings.region_switch_cache_seconds is not None:
            options["ttl"] = settings.region_switch_cache_seconds
        if self._monotonic is not None:
            options["monotonic"] = self._monotonic
        return CachedSwitch(switch, **options)

    @_member
    def _ssm(self) -> Any:
        """SSM through the standard-library transport (no boto3 on /health); untraced, so a traced /health
        does not load the X-Ray SDK for it."""
        from chalicelib.operations import ssm  # lazy: only where an SSM parameter is configured

        return ssm.client(self.settings.aws_region)

    @_member
    def slack_signing_secret(self) -> str:
        """The Slack app's signing secret, read from SSM on first use and kept (never logged); not kept
        when the read fails (503), so the next command tries again. Not configured: 401."""
        from chalicelib.errors import SignatureRefused  # lazy: the chat commands' route only

        name = self.settings.slack_signing_secret_parameter
        if not name:
            # Nothing could verify a signature here: every request is refused as unsigned, never a 5xx.
            raise SignatureRefused("The chat commands are not configured here (SLACK_SIGNING_SECRET_PARAMETER)")
        from chalicelib.operations.ssm import secret  # lazy: the chat commands' route only

        return secret(self._ssm, name)

    @_member
    def slack_replays(self) -> ReplayGuard:
        """The Slack signatures already accepted: in the app's store (every instance), else in memory."""
        if self.settings.store == "off":
            from chalicelib.operations.replay import MemoryReplayGuard  # lazy: the chat commands' route only

            return MemoryReplayGuard()
        from chalicelib.operations.replay import StoreReplayGuard  # lazy: the chat commands' route only

        return StoreReplayGuard(self.store)

    @_member
    def local_grants(self) -> GrantStore:
        """The local development issuer's codes and refresh tokens (its OAuth endpoints, chalicelib/web/oauth.py),
        in a file next to its key pair: ``chalice local``'s threads and restarts all see them."""
        from chalicelib.auth.grants import GrantStore  # lazy: the local sign-in's routes only
        from chalicelib.auth.local_issuer import issuer_dir  # lazy: as above

        return GrantStore(issuer_dir(self.settings.data_dir))

    @_member
    def alarms(self) -> Alarms:
        """The stack's alarms in ALARM (CloudWatch, under ALARM_NAME_PREFIX), for the chat command status."""
        prefix = self.settings.alarm_name_prefix
        if not prefix:
            from chalicelib.operations.alarms import NoAlarms  # lazy: the chat commands' route only

            return NoAlarms()
        from chalicelib.operations.alarms import CloudWatchAlarms  # lazy: the chat commands' route only

        return CloudWatchAlarms(prefix, region=self.settings.aws_region)

    @_member
    def chat_commands(self) -> ChatCommands:
        from chalicelib.tasks.commands import ChatCommands  # lazy: the chat commands' route only

        settings = self.settings
        return ChatCommands(
            self.region_switch,
            self.alarms,
            region=settings.aws_region or "local",
            stage=settings.stage,
            version=settings.version,
            allowed_users=settings.slack_allowed_users,
            allowed_channels=settings.slack_allowed_channels,
        )

    def close(self) -> None:
        """Stop what this root started (the embedded feed's and queue's workers); what was handed in is the
        caller's."""
        for name in ("change_feed", "queue"):
            started = None if name in self._given else self._built.get(name)
            close = getattr(started, "close", None)
            if close is not None:
                close()


# --- the process's instance ------------------------------------------------------------------------

_lock = threading.Lock()
_current: Services | None = None
_consumers: dict[str, Consumer] = {}


def declare_consumers(consumers: Mapping[str, Consumer]) -> None:
    """The queue consumers, by queue name: app.py declares its own at import, and every root built from
    then on hands them to the embedded queue (deployed, Lambda invokes them from SQS instead)."""
    _consumers.update(consumers)


def bootstrap(settings: Settings | None = None, **replacements: Unpack[Replacements]) -> Services:
    """Install a new process instance (closing the previous one) with whatever replacements are given;
    everything else is built from ``settings`` (default: the process's) on first use."""
    global _current
    fresh = Services(settings, **replacements)
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
