"""CloudWatch Embedded Metric Format: every metric name in one place, a per-invocation collector, and
one EMF JSON line on stdout per invocation (CloudWatch Logs extracts the metrics from it)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from contextvars import Token
from typing import Any

COUNT = "Count"
MILLISECONDS = "Milliseconds"

# Dimensions: few values each (never a user, item or request id).
SERVICE = "Service"  # which code path: "api", "forwarder", "activity", "dead-letters", "assistant-stream", "notifier"
ROUTE = "Route"  # "GET /items/{item_id}": the route template, never the path
STATUS_CLASS = "StatusClass"  # "2xx", "4xx", "5xx"
PROVIDER = "Provider"  # assistant provider: "offline", "bedrock"
REASON = "Reason"  # why a token was refused: one of vocabulary.REJECTION_REASONS
KIND = "Kind"  # an injected fault's kind: one of settings.FAULT_KINDS

API = "api"
FORWARDER = "forwarder"
ACTIVITY = "activity"
DEAD_LETTERS = "dead-letters"
ASSISTANT_STREAM = "assistant-stream"
NOTIFIER = "notifier"

EMF_MAX_VALUES = 100  # values per metric in one document (the specification's limit)


class Metric:
    """A metric's name, unit and dimension sets. Each set is one EMF DimensionSet; () publishes the
    metric without dimensions too (what an alarm on the bare metric name reads)."""

    __slots__ = ("name", "unit", "dimensions")

    # A plain class, not a dataclass: this module loads on the first request, where codegen costs.
    def __init__(self, name: str, unit: str, dimensions: tuple[tuple[str, ...], ...]) -> None:
        self.name = name
        self.unit = unit
        self.dimensions = dimensions

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, {self.unit!r}, {self.dimensions!r})"


# --- emitted by the API function (chalicelib/web/middleware.py) ----------------------------------
REQUESTS = Metric("Requests", COUNT, ((SERVICE, ROUTE, STATUS_CLASS),))
LATENCY = Metric("Latency", MILLISECONDS, ((SERVICE, ROUTE),))
ERRORS_5XX = Metric("Errors5xx", COUNT, ((SERVICE,),))
UNHANDLED_EXCEPTIONS = Metric("UnhandledExceptions", COUNT, ((SERVICE,), ()))
IDEMPOTENT_REPLAYS = Metric("IdempotentReplays", COUNT, ((SERVICE,),))
PRECONDITION_FAILED = Metric("PreconditionFailed", COUNT, ((SERVICE,),))
# Each 401 the API or the streaming function answers, by reason (count_rejection, from chalicelib/auth's
# refused()); never by user. Counted only when one happens: a request has at most one reason.
SIGN_IN_FAILURES = Metric("SignInFailures", COUNT, ((SERVICE, REASON), (SERVICE,)))
# Each fault injected on purpose for a drill (chalicelib/faults.py), by kind, and without dimensions (what a
# dashboard reads to tell a drill from an outage). Counted only when one is injected; the fault itself is
# counted as a real one would be too (UnhandledExceptions, Errors5xx, ...).
INJECTED_FAULTS = Metric("InjectedFaults", COUNT, ((SERVICE, KIND), ()))

# --- emitted around the activity queue (chalicelib/consumers.py) ----------------------------------
EVENTS_FORWARDED = Metric("EventsForwarded", COUNT, ((SERVICE,),))  # forwarder: a change's event sent
# Forwarder: a committed change's event the queue did not take; the change is retried until it does.
ENQUEUE_FAILURES = Metric("EnqueueFailures", COUNT, ((SERVICE,), ()))
EVENTS_RECORDED = Metric("EventsRecorded", COUNT, ((SERVICE,),))  # consumer: applied to ACTIVITY#/STATS
DUPLICATE_EVENTS = Metric("DuplicateEvents", COUNT, ((SERVICE,),))  # consumer: a redelivery, changed nothing
EVENT_FAILURES = Metric("EventFailures", COUNT, ((SERVICE,), ()))  # consumer: reported back for a retry
EVENT_AGE = Metric("EventAge", MILLISECONDS, ((SERVICE,),))  # consumer: change -> processed (queue lag)
DEAD_LETTER_MESSAGES = Metric("DeadLetterMessages", COUNT, ((SERVICE,), ()))

# --- the assistant ----------------------------------------------------------------------------------
# Tokens and throttles: count_usage/count_throttle below, called by chalicelib/assistant/stream.py for both
# entry points (and by the buffered POST /assistant); the first token: chalicelib/streaming.
ASSISTANT_INPUT_TOKENS = Metric("AssistantInputTokens", COUNT, ((SERVICE, PROVIDER),))
ASSISTANT_OUTPUT_TOKENS = Metric("AssistantOutputTokens", COUNT, ((SERVICE, PROVIDER),))
TIME_TO_FIRST_TOKEN = Metric("TimeToFirstToken", MILLISECONDS, ((SERVICE, PROVIDER),))
PROVIDER_THROTTLES = Metric("ProviderThrottles", COUNT, ((SERVICE, PROVIDER),))

# --- emitted by the alarm notifier (chalicelib/consumers.py alarm, chalicelib/alerts) -------------------
NOTIFICATIONS_SENT = Metric("NotificationsSent", COUNT, ((SERVICE,),))  # an alarm change posted to the chat
# One the chat never got (the webhook refused it, kept failing, or its secret could not be read): logged too.
NOTIFICATION_FAILURES = Metric("NotificationFailures", COUNT, ((SERVICE,), ()))

# --- counted by the stack, not by code: every 401 the API answered (its authorizer's and the app's), by a
# metric filter on its access log (cloudformation/transforms/api.py); the stack's SignInFailuresAlarm reads it.
API_SIGN_IN_FAILURES = "ApiSignInFailures"

API_METRICS = (
    REQUESTS,
    LATENCY,
    ERRORS_5XX,
    UNHANDLED_EXCEPTIONS,
    IDEMPOTENT_REPLAYS,
    PRECONDITION_FAILED,
    SIGN_IN_FAILURES,
    INJECTED_FAULTS,
)
CONSUMER_METRICS = (
    EVENTS_FORWARDED,
    ENQUEUE_FAILURES,
    EVENTS_RECORDED,
    DUPLICATE_EVENTS,
    EVENT_FAILURES,
    EVENT_AGE,
    DEAD_LETTER_MESSAGES,
)
ASSISTANT_METRICS = (ASSISTANT_INPUT_TOKENS, ASSISTANT_OUTPUT_TOKENS, TIME_TO_FIRST_TOKEN, PROVIDER_THROTTLES)
NOTIFIER_METRICS = (NOTIFICATIONS_SENT, NOTIFICATION_FAILURES)
ALL_METRICS = API_METRICS + CONSUMER_METRICS + ASSISTANT_METRICS + NOTIFIER_METRICS


class Collector:
    """The metrics of one invocation; ``document()`` renders them as one EMF document."""

    __slots__ = ("namespace", "dimensions", "properties", "_counts", "_values")

    def __init__(
        self,
        namespace: str,
        service: str,
        dimensions: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        self.namespace = namespace
        self.dimensions: dict[str, str] = {SERVICE: service, **dimensions} if dimensions else {SERVICE: service}
        # Searchable, not dimensions (e.g. request_id).
        self.properties: dict[str, Any] = dict(properties) if properties else {}
        self._counts: dict[Metric, float] = {}
        self._values: dict[Metric, list[float]] = {}

    def count(self, metric: Metric, amount: float = 1) -> None:
        """Add to a counter; ``amount=0`` records an explicit zero (so Average is a rate)."""
        self._counts[metric] = self._counts.get(metric, 0) + amount

    def observe(self, metric: Metric, value: float) -> None:
        """Record one sample of a distribution (latency, time to first token)."""
        self._values.setdefault(metric, []).append(value)

    def recorded(self) -> bool:
        """Whether any metric was recorded."""
        return bool(self._counts or self._values)

    def document(self, timestamp_ms: int | None = None) -> dict[str, Any] | None:
        """The EMF document, or None when nothing was recorded (see ``_layout`` for its directives)."""
        recorded: dict[Metric, Any] = dict(self._counts)
        for metric, values in self._values.items():
            values = values[:EMF_MAX_VALUES]
            recorded[metric] = values[0] if len(values) == 1 else values
        layout = _layout(self.namespace, tuple(recorded), frozenset(self.dimensions))
        if not layout.directives:
            return None
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
                "CloudWatchMetrics": layout.directives,
            }
        }
        if layout.every_dimension:
            document.update(self.dimensions)
        else:
            document.update({name: value for name, value in self.dimensions.items() if name in layout.used})
        if layout.names is not None:  # every metric recorded is kept: its names in recorded order
            document.update(zip(layout.names, recorded.values()))
        else:
            document.update({metric.name: value for metric, value in recorded.items() if metric in layout.kept})
        for name, value in self.properties.items():
            document.setdefault(name, value)
        return document


class Directives(list[dict[str, Any]]):
    """A document's ``CloudWatchMetrics`` list, with its JSON (``encoded``): the same for every invocation
    of a path, so encoded once (chalicelib/observability/logs.py splices it into the access line)."""

    __slots__ = ("encoded",)

    def __init__(self, directives: list[dict[str, Any]]) -> None:
        super().__init__(directives)
        self.encoded: str = _encode(directives)


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class _Layout:
    """What ``_layout`` works out for one set of recorded metrics and given dimensions (shared: read-only)."""

    __slots__ = ("directives", "used", "kept", "every_dimension", "names")

    def __init__(
        self,
        directives: Directives,
        used: frozenset[str],
        kept: frozenset[Metric],
        recorded: tuple[Metric, ...],
        given: frozenset[str],
    ) -> None:
        self.directives = directives
        self.used = used
        self.kept = kept
        self.every_dimension = used == given  # the document carries every dimension given
        # The metrics' names in recorded order when every one is kept (else filtered by ``kept``).
        self.names = tuple(metric.name for metric in recorded) if kept == frozenset(recorded) else None


_LAYOUTS: dict[tuple[Any, ...], _Layout] = {}


def _layout(namespace: str, recorded: tuple[Metric, ...], given: frozenset[str]) -> _Layout:
    """The ``CloudWatchMetrics`` directives for these metrics and dimensions, the dimension names they
    use and the metrics they keep. Metrics sharing dimension sets share a directive; a set naming a
    dimension never given is left out. An invocation of a path records the same metrics as the last one, so it is cached
    (the result is shared: read-only)."""
    key = (namespace, recorded, given)
    cached = _LAYOUTS.get(key)
    if cached is not None:
        return cached
    grouped: dict[tuple[tuple[str, ...], ...], list[Metric]] = {}
    for metric in recorded:
        sets = tuple(s for s in metric.dimensions if all(name in given for name in s))
        if sets:
            grouped.setdefault(sets, []).append(metric)
    directives = Directives(
        [
            {
                "Namespace": namespace,
                "Dimensions": [list(dimension_set) for dimension_set in sets],
                "Metrics": [{"Name": metric.name, "Unit": metric.unit} for metric in metrics],
            }
            for sets, metrics in grouped.items()
        ]
    )
    used = frozenset(name for sets in grouped for dimension_set in sets for name in dimension_set)
    kept = frozenset(metric for metrics in grouped.values() for metric in metrics)
    layout = _Layout(directives, used, kept, recorded, given)
    if len(_LAYOUTS) < 256:
        _LAYOUTS[key] = layout
    return layout


_current: ContextVar[Collector | None] = ContextVar("metrics_collector", default=None)


def begin(
    settings: Any,
    service: str,
    dimensions: Mapping[str, str] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> Token | None:
    """Start collecting for one invocation (None, and nothing collected, when METRICS=off), with these
    dimensions beside the service and these properties to begin with."""
    if settings.metrics != "emf":
        return None
    return _current.set(Collector(settings.metrics_namespace, service, dimensions, properties))


def current() -> Collector | None:
    return _current.get()


def dimension(name: str, value: str) -> None:
    collector = _current.get()
    if collector is not None:
        collector.dimensions[name] = value


def prop(name: str, value: Any) -> None:
    collector = _current.get()
    if collector is not None and value is not None:
        collector.properties[name] = value


def count(metric: Metric, amount: float = 1) -> None:
    collector = _current.get()
    if collector is not None:
        collector.count(metric, amount)


def observe(metric: Metric, value: float) -> None:
    collector = _current.get()
    if collector is not None:
        collector.observe(metric, value)


def count_usage(provider: str, usage: Mapping[str, int]) -> None:
    """An answer's tokens (the ``usage`` of its ``done`` event), by provider."""
    dimension(PROVIDER, provider)
    count(ASSISTANT_INPUT_TOKENS, usage["input_tokens"])
    count(ASSISTANT_OUTPUT_TOKENS, usage["output_tokens"])


def count_throttle(provider: str) -> None:
    """One call the model provider throttled (errors.ProviderThrottled), by provider."""
    dimension(PROVIDER, provider)
    count(PROVIDER_THROTTLES)


def count_rejection(reason: str) -> None:
    """One refused token (errors.Unauthorized), by reason."""
    dimension(REASON, reason)
    count(SIGN_IN_FAILURES)


def count_injected_fault(kind: str) -> None:
    """One fault injected on purpose (chalicelib/faults.py), by kind."""
    dimension(KIND, kind)
    count(INJECTED_FAULTS)


def take(token: Token | None, *, render: bool = True) -> dict[str, Any] | None:
    """Stop collecting for this invocation and return its EMF document (None if nothing to write, or
    not ``render``: its metrics went out another way)."""
    if token is None:
        return None
    collector = _current.get()
    _current.reset(token)
    return collector.document() if collector is not None and render else None


def write(document: dict[str, Any] | None) -> None:
    """Write an EMF document as one line on stdout."""
    if document is not None:
        sys.stdout.write(_encode(document) + "\n")
        sys.stdout.flush()


def flush(token: Token | None) -> None:
    """Write the invocation's one EMF line to stdout and stop collecting."""
    write(take(token))
