"""The alarm notifier: each record the alarm topic delivers, posted to the chat as one message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.alerts.base import ChatWebhook
from chalicelib.alerts.message import AlarmChange
from chalicelib.alerts.message import Notice
from chalicelib.alerts.message import parse
from chalicelib.alerts.message import render


class AlarmNotifier:
    """Posts alarm changes of this deployment (``stage``, ``region``) with a link to its ``dashboard``."""

    def __init__(self, webhook: ChatWebhook, *, stage: str, region: str | None, dashboard: str | None) -> None:
        self._webhook = webhook
        self._stage = stage
        self._region = region
        self._dashboard = dashboard

    def post(self, record: Mapping[str, Any]) -> AlarmChange | Notice:
        """Post what one SNS record reports; returns it. Raises errors.ChatUnavailable or
        errors.SecretUnavailable when the chat did not get it."""
        found = parse(record)
        self._webhook.post(render(found, stage=self._stage, region=self._region, dashboard=self._dashboard))
        return found
