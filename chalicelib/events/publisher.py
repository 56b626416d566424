"""Hands the activity events of committed changes to the queue, carrying the request id in the body
and as a message attribute, so the consumer's log lines join the request's."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from chalicelib.observability import correlation
from chalicelib.observability import metrics

if TYPE_CHECKING:
    from chalicelib.events.base import Queue

log = logging.getLogger("tasks.events")


class Publisher:
    """The ActivitySink of chalicelib/tasks/activity.py, backed by a Queue. ``request_id`` tells the id of the
    request being served (chalicelib/protocol/context.py), None outside one."""

    def __init__(self, queue: Queue, request_id: Callable[[], str | None]) -> None:
        self._queue = queue
        self._request_id = request_id

    def publish(self, event: dict[str, Any]) -> None:
        request_id = self._request_id()
        body = json.dumps(correlation.stamp(event, request_id), separators=(",", ":"))
        attributes = {correlation.MESSAGE_ATTRIBUTE: request_id} if request_id else {}
        try:
            self._queue.send(body, attributes)
        except Exception:
            # The change is committed and answered as such; failing the request now would invite a retry
            # that duplicates it. The event is lost: say so loudly (ERROR feeds the error-rate alarm,
            # EnqueueFailures its own alarm) with what an operator needs to reconcile, never the body.
            log.error(
                "activity event not enqueued",
                exc_info=True,
                extra={"event_id": event.get("id"), "event_type": event.get("type"), "item_id": event.get("item_id")},
            )
            metrics.count(metrics.ENQUEUE_FAILURES)
