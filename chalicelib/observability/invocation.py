"""One observed invocation: log fields, cold start and the metrics collector; for an API request also
the access-log line and the request metrics."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from contextvars import Token
from typing import Any

from chalicelib.observability import access
from chalicelib.observability import logs
from chalicelib.observability import metrics

access_log = logging.getLogger(logs.ACCESS_LOGGER)

# Lambda runs one invocation at a time per process, so the first one counted is the cold start;
# next() on a count is atomic, so `chalice local`'s threads cannot both see 0.
_invocations = itertools.count()


def _cold_start() -> bool:
    return next(_invocations) == 0


class Invocation:
    """Begun with ``begin()``, ended with ``end()`` (which writes the EMF line)."""

    __slots__ = ("settings", "started", "_log_token", "_metrics_token")

    def __init__(self, settings: Any, log_token: Token, metrics_token: Token | None) -> None:
        self.settings = settings
        self.started = time.perf_counter()
        self._log_token = log_token
        self._metrics_token = metrics_token

    def identify(self, sub: str) -> None:
        """The caller is known: later lines carry their pseudonym (never the sub itself)."""
        logs.add(user=logs.pseudonym(sub, self.settings.cursor_secret))

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)

    def end(self) -> None:
        metrics.flush(self._metrics_token)
        logs.reset(self._log_token)


def begin(
    settings: Any, *, service: str, request_id: str | None, lambda_context: Any = None, **fields: Any
) -> Invocation:
    """Configure logging (once), bind this invocation's log fields and start its metrics."""
    return _start(Invocation, settings, service, request_id, lambda_context, fields)


def _start(
    kind: type,
    settings: Any,
    service: str,
    request_id: str | None,
    lambda_context: Any,
    fields: dict[str, Any],
    dimensions: dict[str, str] | None = None,
) -> Any:
    logs.configure(settings)
    log_token = logs.bind(
        request_id=request_id,
        lambda_request_id=getattr(lambda_context, "aws_request_id", None),
        function_name=getattr(lambda_context, "function_name", None) or settings.function_name,
        cold_start=_cold_start(),
        **fields,
    )
    properties = {"request_id": request_id} if request_id is not None else None
    metrics_token = metrics.begin(settings, service, dimensions, properties)
    return kind(settings, log_token, metrics_token)


class ApiRequest(Invocation):
    __slots__ = ("route", "method", "fields")
    route: str
    method: str
    # The log fields this request bound (and identify() added to): access.py fills a template only while
    # they are the current ones.
    fields: Mapping[str, Any]

    def identify(self, sub: str) -> None:
        super().identify(sub)
        self.fields = logs.current_fields()

    def finish(self, status: int, *, unhandled: bool = False, replayed: bool = False) -> None:
        """After the response: the request metrics, the access-log line, the EMF line."""
        level = logging.WARNING if status >= 500 else logging.INFO
        collector = metrics.current() if self._metrics_token is not None else None
        if collector is not None and access.write(self, collector, status, level, unhandled, replayed):
            metrics.take(self._metrics_token, render=False)
            logs.reset(self._log_token)
            return
        latency_ms = self.elapsed_ms()
        if collector is not None:
            access.count(collector, status, latency_ms, unhandled, replayed)
        extra: dict[str, Any] = {"status": status, "latency_ms": latency_ms}
        document = metrics.take(self._metrics_token)
        if document is not None and self.settings.log_format == "json" and access_log.isEnabledFor(level):
            # The access line carries the EMF document: CloudWatch extracts the metrics and keeps the
            # rest as log fields, and the request costs one encode and one write instead of two.
            extra[logs.EMF_EXTRA], document = document, None
        logs.log(access_log, level, access.message(self.method, self.route, status), extra)
        metrics.write(document)
        logs.reset(self._log_token)


def begin_api_request(
    settings: Any, *, request_id: str, request_context: Mapping[str, Any] | None, lambda_context: Any = None
) -> ApiRequest:
    """Begin observing one API Gateway REST request (Chalice's request context): ``_start``'s work, written
    out, since every request pays it."""
    context = request_context or _NO_CONTEXT
    route = context.get("resourcePath") or "unknown"
    method = context.get("httpMethod") or "-"
    logs.configure(settings)
    fields = {  # in _start's order
        "request_id": request_id,
        "lambda_request_id": getattr(lambda_context, "aws_request_id", None),
        "function_name": getattr(lambda_context, "function_name", None) or settings.function_name,
        "cold_start": next(_invocations) == 0,
        "apigw_request_id": context.get("requestId"),
        "route": route,
        "method": method,
    }
    metrics_token = metrics.begin(
        settings, metrics.API, {metrics.ROUTE: f"{method} {route}"}, {"request_id": request_id}
    )
    request = ApiRequest(settings, logs.bind_fields(fields), metrics_token)
    request.route, request.method, request.fields = route, method, fields
    return request


_NO_CONTEXT: Mapping[str, Any] = {}
