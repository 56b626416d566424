"""The chat commands an operator sends from Slack (docs/OPERATIONS.md "Chat commands"): ``status`` (region,
stage, version, this region's switch, the alarms in ALARM), ``fail`` and ``restore`` (flip this region's
switch, which GET /health reports). Only users or channels on the allow lists may run them (empty: nobody);
every command, refused or run, is logged with who asked. Slack's signature is checked before this is
reached (chalicelib/web/chat.py); this knows nothing of HTTP or of Slack's request format.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import NamedTuple
from typing import Protocol

from chalicelib.errors import AppError
from chalicelib.errors import Forbidden
from chalicelib.tasks.region import CACHE_SECONDS
from chalicelib.tasks.region import CachedSwitch
from chalicelib.vocabulary import REGION_FAILED
from chalicelib.vocabulary import REGION_SERVING

log = logging.getLogger("tasks.chat")

STATUS, FAIL, RESTORE, HELP = "status", "fail", "restore", "help"
COMMANDS = (STATUS, FAIL, RESTORE)
MAX_LISTED_ALARMS = 20
USAGE = (
    f"Commands: `{STATUS}` (region, stage, version, region switch, alarms in ALARM), "
    f"`{FAIL}` (this region's /health answers 503, so DNS moves traffic away), `{RESTORE}` (it answers 200 again)."
)


class Operator(NamedTuple):
    """Who asked, as Slack names them (ids and display names; never a token)."""

    user_id: str
    user_name: str
    channel_id: str
    channel_name: str


class Reply(NamedTuple):
    text: str
    in_channel: bool = False  # everyone in the channel sees it (a switch flipped), else only the asker


class Alarms(Protocol):
    def firing(self) -> list[str] | None:
        """The names of this stack's alarms in ALARM; None where no alarm is watched (locally)."""
        ...


class ChatCommands:
    def __init__(
        self,
        switch: CachedSwitch,
        alarms: Alarms,
        *,
        region: str,
        stage: str,
        version: str,
        allowed_users: Collection[str],
        allowed_channels: Collection[str],
    ) -> None:
        self.switch = switch
        self.alarms = alarms
        self.region = region
        self.stage = stage
        self.version = version
        self.allowed_users = frozenset(allowed_users)
        self.allowed_channels = frozenset(allowed_channels)

    def allowed(self, who: Operator) -> bool:
        return who.user_id in self.allowed_users or who.channel_id in self.allowed_channels

    def run(self, text: str, who: Operator) -> Reply:
        """Run the command ``text`` names for ``who``; Forbidden (nothing done) unless they may."""
        words = text.split()
        command = words[0].lower() if words else HELP
        if command not in COMMANDS:
            command = HELP
        fields = {
            "command": command,
            "slack_user_id": who.user_id,
            "slack_user_name": who.user_name,
            "slack_channel_id": who.channel_id,
            "slack_channel_name": who.channel_name,
        }
        if not self.allowed(who):
            log.warning("chat command refused: user and channel not allowed", extra={**fields, "outcome": "refused"})
            raise Forbidden("This Slack user and channel may not run these commands (SLACK_ALLOWED_USERS/CHANNELS).")
        try:
            reply = self._run(command, who)
        except AppError as error:
            log.warning("chat command failed: %s", error.detail, extra={**fields, "outcome": "unavailable"})
            raise
        log.info("chat command", extra={**fields, "outcome": "ran"})
        return reply

    def _run(self, command: str, who: Operator) -> Reply:
        if command == STATUS:
            return Reply(self._status())
        if command in (FAIL, RESTORE):
            state = REGION_FAILED if command == FAIL else REGION_SERVING
            self.switch.set(state)
            effect = "answers 503" if state == REGION_FAILED else "answers 200 again"
            return Reply(
                f"<@{who.user_id}> set region {self.region} (stage {self.stage}) to *{state}*: its /health "
                f"{effect} within {CACHE_SECONDS:g} s on every instance.",
                in_channel=True,
            )
        return Reply(USAGE)

    def _status(self) -> str:
        try:
            switch = self.switch.read_now()
        except AppError as error:
            switch = f"unreadable ({error.detail})"
        try:
            firing = self.alarms.firing()
            if firing is None:
                alarms = "not watched here"
            elif not firing:
                alarms = "none"
            else:
                shown = ", ".join(firing[:MAX_LISTED_ALARMS])
                more = len(firing) - MAX_LISTED_ALARMS
                alarms = f"{len(firing)}: {shown}" + (f" and {more} more" if more > 0 else "")
        except AppError as error:
            alarms = f"unavailable ({error.detail})"
        return (
            f"region {self.region}, stage {self.stage}, version {self.version}\n"
            f"region switch: {switch}\n"
            f"alarms in ALARM: {alarms}"
        )
