"""The chat webhook port on a Slack incoming webhook: one JSON POST per message over the standard library's
HTTPS (certificates and host name verified), its URL read from the secrets port on first use.

Slack answers 200 ``ok``; 400, 403, 404 and 410 for a request it will never take (``invalid_payload``,
``action_prohibited``, ``channel_not_found``, ``channel_is_archived``; the webhook was removed: 404
``no_service``); 500 when it failed itself; and 429 with a ``Retry-After`` header (seconds) when messages
come faster than it allows (about one a second, short bursts tolerated). 429 and 5xx are retried, after
``Retry-After`` when given, else after a doubling backoff, within a bounded number of attempts and a bounded
total wait; a refused webhook is read again from its parameter next time (the operator may have replaced
it). Plain ``http://`` is accepted for a loopback host only (a stand-in on this machine).

The URL is a secret: no message, exception or log line of this module contains it.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import ssl
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chalicelib.alerts.base import Secrets
from chalicelib.errors import ChatUnavailable

log = logging.getLogger("tasks.alerts")

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
REFUSED = frozenset({403, 404, 410})  # the webhook itself is gone or barred: read it again next time
# Slack's error bodies are short snake_case codes; anything else is not repeated in a log line.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")

DEFAULT_ATTEMPTS = 4
DEFAULT_MAX_WAIT = 20.0  # seconds of waiting between attempts, in all (the function's timeout is 60 s)
DEFAULT_TIMEOUT = 5.0  # seconds per connection and per read


class SlackWebhook:
    """Posts to the incoming webhook whose URL is the secret ``parameter`` of ``secrets``."""

    def __init__(
        self,
        secrets: Secrets,
        parameter: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = DEFAULT_ATTEMPTS,
        max_wait: float = DEFAULT_MAX_WAIT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._secrets = secrets
        self._parameter = parameter
        self._sleep = sleep
        self._attempts = max(1, attempts)
        self._max_wait = max_wait
        self._timeout = timeout
        self._tls = ssl.create_default_context()  # the system's CAs; host names checked

    def post(self, message: Mapping[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":")).encode()
        waited = 0.0
        for attempt in range(1, self._attempts + 1):
            url = self._secrets.get(self._parameter)
            try:
                status, retry_after, error = self._send(url, body)
            except (OSError, http.client.HTTPException) as exc:
                # The type only: some of these quote the host, and nothing here may quote the URL.
                outcome, delay = f"connection failed ({type(exc).__name__})", None
            else:
                if status == 200:
                    return
                outcome, delay = f"HTTP {status}{f' {error}' if error else ''}", retry_after
                if status in REFUSED:
                    self._secrets.forget(self._parameter)
                if status != 429 and status < 500:
                    raise ChatUnavailable(f"Slack refused the message: {outcome}")
            wait = delay if delay is not None else float(2 ** (attempt - 1))
            if attempt == self._attempts or waited + wait > self._max_wait:
                raise ChatUnavailable(f"Slack did not take the message after {attempt} attempt(s): {outcome}")
            log.info(
                "Slack did not take the message (%s); retrying in %.1f s", outcome, wait, extra={"attempt": attempt}
            )
            self._sleep(wait)
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send(self, url: str, body: bytes) -> tuple[int, float | None, str | None]:
        """One POST: the status, the Retry-After seconds (None when absent or unreadable), Slack's error code."""
        connection = self._connection(url)
        try:
            parts = urlsplit(url)
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            connection.request("POST", target, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            text = response.read(256).decode("utf-8", "replace").strip()
            return (
                response.status,
                _seconds(response.getheader("Retry-After")),
                text if _ERROR_CODE.fullmatch(text) else None,
            )
        finally:
            connection.close()

    def _connection(self, url: str) -> http.client.HTTPConnection:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            host = port = None
            parts = None
        if parts is None or not host:
            raise ChatUnavailable("the webhook parameter does not hold a URL")
        if parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls)
        if parts.scheme == "http" and host in LOOPBACK:
            return http.client.HTTPConnection(host, port, timeout=self._timeout)
        raise ChatUnavailable("the webhook parameter does not hold an https URL")


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds (Slack sends a whole number); None when absent or not a number."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
