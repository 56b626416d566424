"""The chat alerts' ports: where a message goes, and where the webhook's URL (a secret) comes from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Protocol


class ChatWebhook(Protocol):
    def post(self, message: Mapping[str, Any]) -> None:
        """Deliver one message (Slack's JSON: ``text`` and ``blocks``). Raises errors.ChatUnavailable when it
        was not delivered, errors.SecretUnavailable when the webhook's URL could not be read."""
        ...


class Secrets(Protocol):
    def get(self, name: str) -> str:
        """The decrypted value of the secret ``name``: read on first use, then kept. Raises
        errors.SecretUnavailable when it cannot be read."""
        ...

    def forget(self, name: str) -> None:
        """Drop the kept value of ``name``: the next ``get`` reads it again (after it was refused: the
        operator may have replaced it)."""
        ...
