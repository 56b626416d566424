"""The offline provider: a deterministic planner over the caller's items, no model and no network, so
the assistant works (and is testable) on a fresh checkout.

It reads the items from the context block of the system text (base.py: TODAY_LABEL, ITEMS_BEGIN ..
ITEMS_END, one JSON object per LINE_BREAK, written by service.render_system), so it keeps the Provider
protocol: what it knows is exactly what a model would be shown. It answers a few kinds of question
by keywords in the prompt (overdue, done, how many/summary, a tag the items carry); anything else
gets the plan "what to do first": open items ordered by due date (overdue first, then soonest,
undated last), in progress before to do on the same date.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

from chalicelib.assistant.base import ITEMS_BEGIN
from chalicelib.assistant.base import ITEMS_END
from chalicelib.assistant.base import LINE_BREAK
from chalicelib.assistant.base import TODAY_LABEL
from chalicelib.assistant.base import Chunk
from chalicelib.assistant.base import Token
from chalicelib.assistant.base import Usage
from chalicelib.vocabulary import STATUS_DONE
from chalicelib.vocabulary import STATUS_IN_PROGRESS
from chalicelib.vocabulary import STATUS_TODO
from chalicelib.vocabulary import STATUSES

OPEN = (STATUS_IN_PROGRESS, STATUS_TODO)  # the statuses of open items; on a tie, in progress goes first
SHOWN = 5  # items listed in one answer; the rest are counted

_WORD = re.compile(r"\S+\s*")
_PROMPT_WORD = re.compile(r"[a-z0-9-]+")
_OVERDUE = re.compile(r"\b(overdue|late|behind|missed)\b")
_DONE = re.compile(r"\b(done|finished|completed?|accomplished)\b")
_SUMMARY = re.compile(r"\b(how many|count|summary|summari[sz]e|overview|status)\b")


def parse_context(system: str) -> tuple[date | None, list[dict[str, Any]]]:
    """Today's date and the items of the context block; lines that are not items are skipped."""
    today: date | None = None
    items: list[dict[str, Any]] = []
    inside = False
    for line in system.split(LINE_BREAK):
        if line.startswith(TODAY_LABEL):
            today = _date(line[len(TODAY_LABEL) :].strip())
        elif line == ITEMS_BEGIN:
            inside = True
        elif line == ITEMS_END:
            inside = False
        elif inside:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("title"), str):
                items.append(item)
    return today, items


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _title(item: dict[str, Any]) -> str:
    return "“" + " ".join(item["title"].split()) + "”"


def _due_phrase(due: date | None, today: date | None) -> str:
    if due is None:
        return "no due date"
    if today is None:
        return f"due {due.isoformat()}"
    days = (due - today).days
    if days < 0:
        return f"{_plural(-days, 'day')} overdue, due {due.isoformat()}"
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    return f"due {due.isoformat()}"


def _is_overdue(item: dict[str, Any], today: date | None) -> bool:
    due = _date(item.get("due"))
    return today is not None and due is not None and due < today


def plan(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open items, most urgent first: by due date (undated last), in progress before to do on a tie,
    then in the order given (newest first)."""
    open_items = [item for item in items if item.get("status") in OPEN]

    def urgency(indexed: tuple[int, dict[str, Any]]) -> tuple[int, str, int, int]:
        position, item = indexed
        due = _date(item.get("due"))
        return (due is None, due.isoformat() if due else "", OPEN.index(item["status"]), position)

    return [item for _, item in sorted(enumerate(open_items), key=urgency)]


def _line(number: int, item: dict[str, Any], today: date | None) -> str:
    state = "in progress, " if item.get("status") == STATUS_IN_PROGRESS else ""
    return f"{number}. {_title(item)} ({state}{_due_phrase(_date(item.get('due')), today)})"


def _listing(items: list[dict[str, Any]], today: date | None, noun: str = "item") -> list[str]:
    lines = [_line(number, item, today) for number, item in enumerate(items[:SHOWN], start=1)]
    if len(items) > SHOWN:
        lines.append(f"…and {_plural(len(items) - SHOWN, 'more ' + noun)}.")
    return lines


def _why_first(item: dict[str, Any], today: date | None) -> str:
    due = _date(item.get("due"))
    in_progress = item.get("status") == STATUS_IN_PROGRESS
    if due is None:
        return "it is already in progress" if in_progress else "it is next on your list"
    phrase = _due_phrase(due, today)
    if in_progress:
        return f"it is in progress and {phrase}"
    return f"it is {phrase}" if today is not None and due <= today else f"it is due soonest ({phrase})"


def _answer_plan(items: list[dict[str, Any]], today: date | None, scope: str) -> str:
    ordered = plan(items)
    done = sum(1 for item in items if item.get("status") == STATUS_DONE)
    if not ordered:
        return (
            f"Everything{scope} is done: you have finished {_plural(done, 'item')}. Nothing is left "
            "for today; add a new item when something comes up."
        )
    overdue = sum(1 for item in ordered if _is_overdue(item, today))
    summary = f"You have {_plural(len(ordered), 'open item')}{scope}"
    summary += f", {overdue} of them overdue." if overdue else "."
    lines = [
        summary,
        f"Start with {_title(ordered[0])}: {_why_first(ordered[0], today)}.",
        "Your open items, most urgent first:",
        *_listing(ordered, today, "open item"),
    ]
    if done:
        lines.append(f"Already done: {_plural(done, 'item')}.")
    return "\n".join(lines)


def _answer_overdue(items: list[dict[str, Any]], today: date | None, scope: str) -> str:
    ordered = plan(items)
    overdue = [item for item in ordered if _is_overdue(item, today)]
    if overdue:
        return "\n".join(
            [
                f"{_plural(len(overdue), 'item')}{scope} {'is' if len(overdue) == 1 else 'are'} overdue, oldest first:",
                *_listing(overdue, today, "overdue item"),
            ]
        )
    upcoming = [item for item in ordered if item.get("due")]
    if upcoming:
        nxt = upcoming[0]
        return (
            f"Nothing{scope} is overdue. The next one due is {_title(nxt)} "
            f"({_due_phrase(_date(nxt.get('due')), today)})."
        )
    return f"Nothing{scope} is overdue: none of your open items has a due date."


def _answer_done(items: list[dict[str, Any]], today: date | None, scope: str) -> str:
    done = [item for item in items if item.get("status") == STATUS_DONE]
    ordered = plan(items)
    if not done:
        tail = f" Start with {_title(ordered[0])}." if ordered else ""
        return f"Nothing{scope} is done yet; you have {_plural(len(ordered), 'open item')}.{tail}"
    titles = ", ".join(_title(item) for item in done[:SHOWN])
    more = f" and {len(done) - SHOWN} more" if len(done) > SHOWN else ""
    left = f" {_plural(len(ordered), 'open item')} left." if ordered else " Nothing is left open."
    return f"You have finished {_plural(len(done), 'item')}{scope}: {titles}{more}.{left}"


def _answer_summary(items: list[dict[str, Any]], today: date | None, scope: str) -> str:
    counts = {status: sum(1 for item in items if item.get("status") == status) for status in STATUSES}
    text = (
        f"You have {_plural(len(items), 'item')}{scope}: {counts[STATUS_TODO]} to do, "
        f"{counts[STATUS_IN_PROGRESS]} in progress and {counts[STATUS_DONE]} done."
    )
    ordered = plan(items)
    overdue = sum(1 for item in ordered if _is_overdue(item, today))
    due_today = sum(1 for item in ordered if today is not None and _date(item.get("due")) == today)
    if overdue or due_today:
        text += f" {overdue} overdue, {due_today} due today."
    return text


def answer_text(prompt: str, items: list[dict[str, Any]], today: date | None) -> str:
    """The answer's whole text for ``prompt`` about ``items`` (a pure function of its arguments)."""
    if not items:
        return (
            "You have no items yet, so there is nothing to plan. Create your first item (a title, "
            "and a due date if it has one) and ask me again."
        )
    asked = prompt.lower()
    scope = ""
    tags = {tag for item in items for tag in (item.get("tags") or []) if isinstance(tag, str)}
    mentioned = [word for word in _PROMPT_WORD.findall(asked) if word in tags]
    if mentioned:
        tag = mentioned[0]
        items = [item for item in items if tag in (item.get("tags") or [])]
        scope = f" tagged “{tag}”"
    if _OVERDUE.search(asked):
        return _answer_overdue(items, today, scope)
    if _SUMMARY.search(asked):
        return _answer_summary(items, today, scope)
    if _DONE.search(asked) and not re.search(r"\b(do|next|first|left|remaining)\b", asked):
        return _answer_done(items, today, scope)
    return _answer_plan(items, today, scope)


class OfflineProvider:
    """The Provider protocol without a model. ``delay`` (seconds) is slept between tokens, so tests and
    benchmarks can watch an answer arrive incrementally; 0 streams as fast as it is consumed."""

    name = "offline"
    model = "offline-planner-v1"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay

    def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Chunk]:
        today, items = parse_context(system)
        words = _WORD.findall(answer_text(prompt, items, today))[: max(max_tokens, 0)]
        for position, word in enumerate(words):
            if self.delay and position:
                time.sleep(self.delay)
            yield Token(word)
        # Words stand in for a model's tokens: the same unit for what went in and what came out.
        yield Usage(input_tokens=len(system.split()) + len(prompt.split()), output_tokens=len(words))
