"""What the alarm topic delivers, and what the chat shows of it.

An SNS record's ``Message`` is, for a CloudWatch alarm action, a JSON document (CloudWatch's alarm
notification: ``AlarmName``, ``AlarmDescription``, ``NewStateValue``, ``OldStateValue``, ``NewStateReason``,
``StateChangeTime``, ``Region`` (a display name such as "US East (N. Virginia)"), ``AlarmArn``, ``Trigger``, ...).
Anything else published to the topic (an AWS Budgets notice is plain text) is shown as a notice: its
subject and the start of its text.

The Slack message follows Slack's message format: ``text`` (the notification's fallback) and ``blocks``
(Block Kit sections in mrkdwn, whose ``&``, ``<`` and ``>`` are escaped, and limited in length).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from typing import NamedTuple
from urllib.parse import quote

STATE_ICONS = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:", "INSUFFICIENT_DATA": ":grey_question:"}
NOTICE_ICON = ":information_source:"
# Block Kit: a section's text holds at most 3000 characters, a field's 2000; the rest is cut.
MAX_TEXT = 2900
MAX_FIELD = 1900


class AlarmChange(NamedTuple):
    """One alarm state change, as CloudWatch reported it."""

    name: str
    state: str
    previous: str | None
    reason: str
    region_name: str | None  # CloudWatch's display name of the region
    region: str | None  # the region's code, from the alarm's ARN
    changed_at: str | None
    description: str | None


class Notice(NamedTuple):
    """Anything else the topic delivered."""

    subject: str | None
    text: str


def parse(record: Mapping[str, Any]) -> AlarmChange | Notice:
    """The alarm change (or notice) one SNS record of a Lambda event carries."""
    sns = record.get("Sns") or {}
    text = sns.get("Message")
    text = text if isinstance(text, str) else ""
    subject = sns.get("Subject") if isinstance(sns.get("Subject"), str) else None
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if (
        not isinstance(document, dict)
        or not _text(document.get("AlarmName"))
        or not _text(document.get("NewStateValue"))
    ):
        return Notice(subject, text)
    arn = _text(document.get("AlarmArn"))
    parts = arn.split(":") if arn else []
    return AlarmChange(
        name=document["AlarmName"],
        state=document["NewStateValue"],
        previous=_text(document.get("OldStateValue")),
        reason=_text(document.get("NewStateReason")) or "",
        region_name=_text(document.get("Region")),
        region=parts[3] if len(parts) > 6 and parts[2] == "cloudwatch" and parts[3] else None,
        changed_at=_text(document.get("StateChangeTime")),
        description=_text(document.get("AlarmDescription")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def console(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"


def dashboard_url(region: str, dashboard: str) -> str:
    """The CloudWatch console's page of ``dashboard`` (as the stack's DashboardUrl output)."""
    return f"{console(region)}#dashboards:name={quote(dashboard, safe='')}"


def alarm_url(region: str, name: str) -> str:
    return f"{console(region)}#alarmsV2:alarm/{quote(name, safe='')}"


def escape(text: str) -> str:
    """Text as Slack's mrkdwn shows it literally (its three control characters escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(found: AlarmChange | Notice, *, stage: str, region: str | None, dashboard: str | None) -> dict[str, Any]:
    """The Slack message for an alarm change (or a notice): name, state, reason, region, stage and a link
    to the dashboard. ``region`` is the function's (the stack's); the alarm's own ARN says it otherwise."""
    if isinstance(found, Notice):
        return _notice(found, stage=stage, region=region)
    where = region or found.region
    icon = STATE_ICONS.get(found.state, NOTICE_ICON)
    was = f" (was {found.previous})" if found.previous else ""
    headline = f"{icon} *{escape(found.name)}* is *{escape(found.state)}*{escape(was)}"
    region_text = " ".join(part for part in (where, f"({found.region_name})" if found.region_name else None) if part)
    fields = [
        ("Stage", stage),
        ("Region", region_text or "unknown"),
        ("State", f"{found.previous or '?'} → {found.state}"),
    ]
    if found.changed_at:
        fields.append(("Changed at", found.changed_at))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(headline, MAX_TEXT)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{label}*\n{escape(value)}", MAX_FIELD)} for label, value in fields
            ],
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(f"*Reason*\n{escape(found.reason or '-')}", MAX_TEXT)},
        },
    ]
    if found.description:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(escape(found.description), MAX_FIELD)}]}
        )
    links = []
    if where and dashboard:
        links.append(f"<{dashboard_url(where, dashboard)}|Dashboard>")
    if where:
        links.append(f"<{alarm_url(where, found.name)}|Alarm>")
    if links:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": " · ".join(links)}})
    text = f"{found.state}: {found.name} ({stage}, {where or found.region_name or 'unknown region'})"
    return {"text": _cut(text, MAX_TEXT), "blocks": blocks}


def _notice(notice: Notice, *, stage: str, region: str | None) -> dict[str, Any]:
    title = notice.subject or "Notice on the alarm topic"
    where = region or "unknown region"
    return {
        "text": _cut(f"{title} ({stage}, {where})", MAX_TEXT),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"{NOTICE_ICON} *{escape(title)}*", MAX_TEXT)}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Stage*\n{escape(stage)}"},
                    {"type": "mrkdwn", "text": f"*Region*\n{escape(where)}"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(escape(notice.text or "-"), MAX_TEXT)}},
        ],
    }
