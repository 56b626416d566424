"""The consumers app.py declares: the forwarder of the table's change stream (``@app.on_dynamodb_record``)
and the queue consumers (``@app.on_sqs_message``); locally the embedded feed and queue deliver to the same
functions. One Lambda batch in, Lambda's partial batch response out, each record logged under its request
id. Each is handed the services it works with (chalicelib/wiring.py).

Imported by app.py at cold start, so the activity use-case and the observability code load with the first
batch (``import app`` loads no observability code).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from chalicelib.errors import AppError
from chalicelib.vocabulary import UNHANDLED
from chalicelib.vocabulary import UNHANDLED_VALUE

if TYPE_CHECKING:
    from chalicelib.alerts.notifier import AlarmNotifier
    from chalicelib.events.base import Queue
    from chalicelib.settings import Settings
    from chalicelib.tasks.activity import ActivityRecorder
    from chalicelib.tasks.dead_letters import DeadLetters

log = logging.getLogger("tasks.consumers")

# Lambda's SQS partial batch response (the event source mapping has ReportBatchItemFailures).
FAILURES = "batchItemFailures"


class ConsumerServices(Protocol):
    """What the consumers use of the composition root's services."""

    @property
    def settings(self) -> Settings: ...

    @property
    def activity_recorder(self) -> ActivityRecorder: ...

    @property
    def queue(self) -> Queue: ...

    @property
    def dead_letters(self) -> DeadLetters: ...

    @property
    def alarm_notifier(self) -> AlarmNotifier | None: ...


def forward(services: ConsumerServices, event: Mapping[str, Any], lambda_context: Any = None) -> dict[str, Any]:
    """Send the activity events of each committed change the table's stream reports to the activity queue,
    in order. The first change that could not be sent is reported, and Lambda (or the local feed) hands it
    and everything after it over again: nothing committed is lost, and a change sent twice is one event
    (its id follows from the change), which the consumer applies once. In two regions only the changes this
    region owns are sent (``outbox.owned``): the other region's stream carries the same change and sends it."""
    # lazy: the forwarder's code loads with its first batch, never on the API's cold start
    from chalicelib.events.stream import change_of
    from chalicelib.events.stream import sequence_of
    from chalicelib.observability import correlation
    from chalicelib.observability import logs
    from chalicelib.observability import metrics
    from chalicelib.tasks import outbox

    settings = services.settings
    invocation = _begin(settings, metrics.FORWARDER, lambda_context)
    try:
        for record in event.get("Records") or ():
            sequence = sequence_of(record)
            change = change_of(record)
            with correlation.bound(outbox.request_id(change), sequence_number=sequence):
                if not outbox.owned(change, settings.aws_region, settings.regions):
                    # Two regions: the region that wrote it forwards it (its stream carries it too).
                    log.debug("change written in another region: that region forwards it")
                    continue
                try:
                    _forward_change(services, change)
                    continue
                except AppError as error:  # the queue did not take it: retried from here
                    log.warning(
                        "change not forwarded; it will be retried: %s", error.detail, extra={"code": error.code}
                    )
                except Exception:
                    logs.log_unhandled(log, "unhandled exception while forwarding a change")
                    metrics.count(metrics.UNHANDLED_EXCEPTIONS)
                metrics.count(metrics.ENQUEUE_FAILURES)
            # Lambda resumes a stream at the first reported record: the rest are not tried now.
            return {FAILURES: [{"itemIdentifier": sequence}]}
    finally:
        if invocation is not None:
            invocation.end()
    return {FAILURES: []}


def _forward_change(services: ConsumerServices, change: Any) -> None:
    from chalicelib.observability import correlation
    from chalicelib.observability import metrics
    from chalicelib.tasks import outbox  # lazy: as in forward

    request_id = outbox.request_id(change)
    for event in outbox.events_of(change):
        body = json.dumps(correlation.stamp(event, request_id), separators=(",", ":"))
        attributes = {correlation.MESSAGE_ATTRIBUTE: request_id} if request_id else {}
        services.queue.send(body, attributes)
        metrics.count(metrics.EVENTS_FORWARDED)
        log.info(
            "activity event forwarded",
            extra={"event_id": event["id"], "event_type": event["type"], "item_id": event["item_id"]},
        )


def activity(services: ConsumerServices, event: Mapping[str, Any], lambda_context: Any = None) -> dict[str, Any]:
    """Apply each activity event to the caller's ACTIVITY# records and STATS; report the ones that failed."""
    from chalicelib.observability import metrics

    def record(message: Mapping[str, Any]) -> None:
        _record_activity(services, message)

    def note(message_id: str, reason: str) -> None:
        # What the dead-letter consumer keeps with the message, should the queue give up on it.
        services.dead_letters.note_failure(message_id, reason)

    return _batch(services, event, lambda_context, metrics.ACTIVITY, record, note)


def dead_letters(services: ConsumerServices, event: Mapping[str, Any], lambda_context: Any = None) -> dict[str, Any]:
    """Events the activity consumer gave up on: keep each in the store (message, attributes, receive
    count, why it failed) for a replay, then log it once at ERROR and count it for the alarm. One that
    could not be kept is reported as failed, so the queue keeps it instead: nothing is deleted unkept."""
    from chalicelib.observability import metrics

    def keep(message: Mapping[str, Any]) -> None:
        _keep_dead_letter(services, message)

    return _batch(services, event, lambda_context, metrics.DEAD_LETTERS, keep)


def _record_activity(services: ConsumerServices, record: Mapping[str, Any]) -> None:
    from chalicelib.observability import metrics

    # lazy: the consumer's code loads with its first batch, never on the API's cold start
    from chalicelib.tasks.activity import parse_event
    from chalicelib.tasks.activity import seconds_of

    event = parse_event(_body(record))
    applied = services.activity_recorder.record(event)
    metrics.count(metrics.EVENTS_RECORDED if applied else metrics.DUPLICATE_EVENTS)
    if event["item_id"] is not None:  # a sign-in's ``at`` is when the session began, not when it was recorded
        metrics.observe(metrics.EVENT_AGE, round(max(0.0, time.time() - seconds_of(event["at"])) * 1000, 1))
    log.info(
        "activity event %s",
        "recorded" if applied else "already recorded (redelivery)",
        extra={
            "event_id": event["id"],
            "event_type": event["type"],
            "item_id": event["item_id"],
            "user": _pseudonym(services, event["sub"]),
        },
    )


def _keep_dead_letter(services: ConsumerServices, record: Mapping[str, Any]) -> None:
    from chalicelib.observability import metrics

    receives = (record.get("attributes") or {}).get("ApproximateReceiveCount")
    attributes = {
        name: value["stringValue"]
        for name, value in (record.get("messageAttributes") or {}).items()
        if isinstance(value, Mapping) and isinstance(value.get("stringValue"), str)
    }
    # Before anything else: a message the store did not take fails here, and the queue keeps it.
    kept = services.dead_letters.keep(
        record["messageId"],
        record.get("body") or "",
        attributes,
        int(receives) if isinstance(receives, str) and receives.isdigit() else None,
    )
    try:
        body = json.loads(record.get("body") or "")
    except (TypeError, ValueError):
        body = None  # a poison message: logged and counted all the same
    body = body if isinstance(body, dict) else {}
    sub = body.get("sub")
    # What an operator needs to find the change again; never the body itself.
    log.error(
        "activity event dead-lettered and kept for a replay: its stats and activity record were not applied",
        extra={
            "error": "dead_letter",
            "event_id": body.get("id"),
            "event_type": body.get("type"),
            "item_id": body.get("item_id"),
            "at": body.get("at"),
            "user": _pseudonym(services, sub) if isinstance(sub, str) else None,
            "first_failure": kept["first_failure"],
            "last_failure": kept["last_failure"],
        },
    )
    metrics.count(metrics.DEAD_LETTER_MESSAGES)


def _batch(
    services: ConsumerServices,
    event: Mapping[str, Any],
    lambda_context: Any,
    service: str,
    process: Callable[[Mapping[str, Any]], None],
    note_failure: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    from chalicelib.observability import correlation
    from chalicelib.observability import logs
    from chalicelib.observability import metrics

    invocation = _begin(services.settings, service, lambda_context)
    failed: list[str] = []
    try:
        for record in event.get("Records") or ():
            message_id = record.get("messageId")
            receives = (record.get("attributes") or {}).get("ApproximateReceiveCount")
            with correlation.bound(correlation.request_id_of(record), message_id=message_id, receive_count=receives):
                try:
                    process(record)
                except AppError as error:
                    # Expected failures (a malformed event, the store throttling): retried by the queue,
                    # dead-lettered after the redrive limit. The message has no trace worth keeping.
                    log.warning("message failed; the queue will retry it: %s", error.detail, extra={"code": error.code})
                    failed.append(message_id)
                    metrics.count(metrics.EVENT_FAILURES)
                    _note(note_failure, message_id, f"{error.code}: {error.detail}")
                except Exception as error:
                    logs.log_unhandled(log, "unhandled exception while processing a message")
                    failed.append(message_id)
                    metrics.count(metrics.EVENT_FAILURES)
                    metrics.count(metrics.UNHANDLED_EXCEPTIONS)
                    # The type only: an exception's text may quote the message (user data).
                    _note(note_failure, message_id, f"{UNHANDLED_VALUE}: {type(error).__name__}")
    finally:
        if invocation is not None:
            invocation.end()
    return {FAILURES: [{"itemIdentifier": message_id} for message_id in failed]}


def alarm(services: ConsumerServices, event: Mapping[str, Any], lambda_context: Any = None) -> dict[str, int]:
    """Post each alarm state change the alarm topic delivers to the team's chat (chalicelib/alerts). A
    message the chat did not get is logged (never with the webhook's URL, nor a trace that might quote it)
    and counted as NotificationFailures; nothing raises out of here, so Lambda never retries an alarm
    already posted. With no webhook configured, alerts are off: nothing is read or posted."""
    from chalicelib.observability import metrics

    invocation = _begin(services.settings, metrics.NOTIFIER, lambda_context)
    records = list(event.get("Records") or ())
    posted = 0
    try:
        notifier = services.alarm_notifier
        if notifier is None:
            log.info("chat alerts are off (no SLACK_WEBHOOK_PARAMETER): %d message(s) not posted", len(records))
            return {"posted": 0, "not_posted": 0}
        for record in records:
            if _post_alarm(notifier, record):
                posted += 1
                metrics.count(metrics.NOTIFICATIONS_SENT)
            else:
                metrics.count(metrics.NOTIFICATION_FAILURES)
    finally:
        if invocation is not None:
            invocation.end()
    return {"posted": posted, "not_posted": len(records) - posted}


def _post_alarm(notifier: AlarmNotifier, record: Mapping[str, Any]) -> bool:
    """Post one record; False (and logged) when the chat did not get it."""
    from chalicelib.alerts.message import AlarmChange  # lazy: loaded with the notifier already

    try:
        found = notifier.post(record)
    except AppError as error:  # ChatUnavailable, SecretUnavailable: their details never hold the URL
        log.warning("alarm not posted to the chat: %s", error.detail, extra={"code": error.code})
        return False
    except Exception as error:
        # A bug must neither lose the other records nor crash the function. The type only: a trace or an
        # exception's text could quote the webhook's URL.
        log.error(
            "alarm not posted to the chat: unexpected %s",
            type(error).__name__,
            extra={**UNHANDLED, "error_type": type(error).__name__},
        )
        return False
    if isinstance(found, AlarmChange):
        log.info("alarm posted to the chat", extra={"alarm": found.name, "state": found.state})
    else:
        log.info("notice posted to the chat", extra={"subject": found.subject})
    return True


def _note(note_failure: Callable[[str, str], None] | None, message_id: Any, reason: str) -> None:
    """Note why a message failed, at most once; a note that cannot be written (the store may be what
    failed) is logged and let go: the message is retried all the same, only its reason is unknown."""
    if note_failure is None or not isinstance(message_id, str):
        return
    try:
        note_failure(message_id, reason)
    except Exception as exc:
        log.warning("could not note why the message failed (%s)", type(exc).__name__, extra={"code": reason})


def _begin(settings: Settings, service: str, lambda_context: Any) -> Any:
    if not settings.observability:
        return None
    from chalicelib.observability.invocation import begin

    return begin(settings, service=service, request_id=None, lambda_context=lambda_context)


def _body(record: Mapping[str, Any]) -> Any:
    from chalicelib.tasks.activity import InvalidEvent  # lazy: as in _record_activity

    try:
        return json.loads(record.get("body") or "")
    except (TypeError, ValueError):
        raise InvalidEvent("the message body is not JSON") from None


def _pseudonym(services: ConsumerServices, sub: str) -> str:
    from chalicelib.observability import logs

    return logs.pseudonym(sub, services.settings.cursor_secret)
