"""POST /chat/slack: Slack's slash command. Public to API Gateway (Slack sends no token), so this checks who sent
it: Slack's signature with the signing secret (chalicelib/protocol/slack.py), a signature never seen before
(ReplayGuard), then the user or channel (chalicelib/tasks/commands.py). A refusal is a 401 or 403 problem and
changes nothing; an accepted command answers in Slack's slash-command response JSON."""

from __future__ import annotations

from typing import Protocol

from chalice.app import Response

from chalicelib import wiring
from chalicelib.errors import SignatureRefused
from chalicelib.protocol import context
from chalicelib.protocol import slack
from chalicelib.tasks.commands import Operator
from chalicelib.web.responses import endpoint
from chalicelib.web.responses import json_response


class ReplayGuard(Protocol):
    def first_use(self, signature: str, *, now: int, expires_at: int) -> bool:
        """Record ``signature`` until ``expires_at`` (epoch seconds); False when it was recorded and has not
        expired by ``now``: a replay."""
        ...


@endpoint
def slack_command() -> Response:
    request = context.current().request
    services = wiring.services()
    body = request.raw_body or b""
    now = int(services.clock())
    signature, sent = slack.verify(services.slack_signing_secret, request.headers, body, now)
    # Remembered past the last moment the timestamp check would let the same request through.
    if not services.slack_replays.first_use(signature, now=now, expires_at=sent + slack.MAX_AGE_SECONDS + 1):
        raise SignatureRefused("This request was already received (a replay)")
    fields = slack.form(body)
    who = Operator(
        fields.get("user_id", ""),
        fields.get("user_name", ""),
        fields.get("channel_id", ""),
        fields.get("channel_name", ""),
    )
    reply = services.chat_commands.run(fields.get("text", ""), who)
    return json_response({"response_type": "in_channel" if reply.in_channel else "ephemeral", "text": reply.text})
