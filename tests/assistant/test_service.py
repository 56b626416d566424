"""The assistant service on a real store (SQLite and DynamoDB Local): one read of the caller's items,
their items only, tokens then exactly one done, provider errors passed through unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.assistant.base import DONE
from chalicelib.assistant.base import ITEMS_BEGIN
from chalicelib.assistant.base import ITEMS_END
from chalicelib.assistant.base import TOKEN
from chalicelib.assistant.base import Token
from chalicelib.assistant.base import Usage
from chalicelib.assistant.offline import OfflineProvider
from chalicelib.assistant.service import AssistantService
from chalicelib.assistant.service import render_system
from chalicelib.errors import ProviderThrottled
from chalicelib.errors import ProviderUnavailable
from chalicelib.errors import ValidationFailed
from tests.support.assistant import TODAY
from tests.support.assistant import add
from tests.support.assistant import fixed_clock

ALICE, BOB = "sub-alice", "sub-bob"
FIRST = "what should I do first today?"


class Recording:
    """Wraps a provider and keeps what it was shown."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model
        self.calls: list[tuple[str, str, int]] = []

    def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Any]:
        self.calls.append((system, prompt, max_tokens))
        return self.inner.stream(system, prompt, max_tokens=max_tokens)


class Scripted:
    """A provider that yields the given chunks, raising any exception among them in place."""

    name, model = "scripted", "scripted-1"

    def __init__(self, *chunks: Any) -> None:
        self.chunks = chunks

    def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Any]:
        for chunk in self.chunks:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk


def service(items, provider: Any = None, **options: Any) -> AssistantService:
    return AssistantService(items, provider or OfflineProvider(), clock=fixed_clock, **options)


def test_the_context_is_read_with_one_store_request(items, store):
    for n in range(3):
        add(items, ALICE, f"Task {n}")
    store.calls.clear()
    list(service(items).stream(ALICE, FIRST))
    assert store.calls == ["query"]
    service(items).answer(ALICE, FIRST)
    assert store.calls == ["query", "query"]


def test_only_the_callers_items_reach_the_provider_and_the_answer(items):
    mine = add(items, ALICE, "Pay rent", due="2026-11-25")
    theirs = add(items, BOB, "Bob's secret plan", due="2026-11-20", tags=["private"])
    provider = Recording(OfflineProvider())
    answer = service(items, provider).answer(ALICE, "what should I do first today? anything private?")
    [(system, _, _)] = provider.calls
    assert mine["id"] in system and "Pay rent" in system
    assert theirs["id"] not in system and "secret" not in system and "private" not in system
    assert "Pay rent" in answer["text"] and "secret" not in answer["text"]
    bob = service(items, provider).answer(BOB, FIRST)
    assert "Bob's secret plan" in bob["text"] and "Pay rent" not in bob["text"]


def test_the_system_text_holds_instructions_today_and_the_items_one_per_line(items):
    created = [
        add(items, ALICE, "Pay rent", due="2026-11-25", tags=["home"]),
        add(items, ALICE, "Write report", status="in_progress"),
    ]
    system = service(items).system_text(ALICE)
    assert system.startswith("You are the assistant of a personal task list. Answer only about")
    assert f"\nToday (UTC): {TODAY}\n" in system
    block = system.split(ITEMS_BEGIN + "\n", 1)[1].split("\n" + ITEMS_END, 1)[0].splitlines()
    assert len(block) == 2
    assert created[0]["id"] in block[1] and '"due":"2026-11-25","tags":["home"]' in block[1]  # newest first
    assert '"status":"in_progress"' in block[0] and "notes" not in system


def test_the_context_is_capped_at_context_items_and_says_that_more_exist(items, store):
    for n in range(4):
        add(items, ALICE, f"Task {n}")
    store.calls.clear()
    capped = service(items, context_items=3).system_text(ALICE)
    assert store.calls == ["query"]
    assert "3 most recently created items; older ones exist" in capped
    assert "Task 0" not in capped and "Task 3" in capped
    assert "all of the user's items (4)" in service(items, context_items=4).system_text(ALICE)


def test_events_are_tokens_then_exactly_one_done(items):
    add(items, ALICE, "Pay rent", due="2026-11-25")
    events = list(service(items).stream(ALICE, FIRST))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == DONE and kinds.count(DONE) == 1 and set(kinds[:-1]) == {TOKEN} and len(kinds) > 5
    assert all(set(data) == {"text"} and data["text"] for kind, data in events[:-1])
    done = events[-1][1]
    assert done == {
        "usage": {"input_tokens": done["usage"]["input_tokens"], "output_tokens": len(events) - 1},
        "provider": "offline",
        "model": "offline-planner-v1",
    }
    assert list(done) == ["usage", "provider", "model"]


def test_answer_is_the_joined_text_with_provider_model_and_usage(items):
    add(items, ALICE, "Call mom", due=TODAY)
    add(items, ALICE, "Pay rent", due="2026-11-25")
    events = list(service(items).stream(ALICE, FIRST))
    answer = service(items).answer(ALICE, FIRST)
    assert list(answer) == ["text", "provider", "model", "usage"]
    assert answer["text"] == "".join(data["text"] for kind, data in events if kind == TOKEN)
    assert answer["text"].startswith("You have 2 open items, 1 of them overdue.\nStart with “Pay rent”")
    assert answer["usage"] == events[-1][1]["usage"]
    assert (answer["provider"], answer["model"]) == ("offline", "offline-planner-v1")


def test_a_user_without_items_is_told_to_create_one(items):
    assert service(items).answer(ALICE, FIRST)["text"].startswith("You have no items yet")


def test_max_tokens_reaches_the_provider(items):
    add(items, ALICE, "Pay rent")
    provider = Recording(OfflineProvider())
    answer = service(items, provider, max_tokens=3).answer(ALICE, FIRST)
    assert provider.calls[0][2] == 3 and answer["usage"]["output_tokens"] == 3
    assert len(answer["text"].split()) == 3


def test_nothing_is_read_until_the_first_event_is_pulled(items, store):
    store.calls.clear()
    events = service(items).stream(ALICE, FIRST)
    assert store.calls == []
    next(events)
    assert store.calls == ["query"]


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 2001])
def test_a_prompt_outside_the_api_limits_is_refused_before_any_read(items, store, prompt):
    store.calls.clear()
    with pytest.raises(ValidationFailed):
        next(service(items).stream(ALICE, prompt))
    assert store.calls == []


@pytest.mark.parametrize("error", [ProviderThrottled("busy"), ProviderUnavailable("down")])
def test_provider_errors_before_the_first_token_propagate_unchanged(items, error):
    events = service(items, Scripted(error)).stream(ALICE, FIRST)
    with pytest.raises(type(error)) as raised:
        next(events)
    assert raised.value is error


@pytest.mark.parametrize("error", [ProviderThrottled("busy"), ProviderUnavailable("down")])
def test_provider_errors_mid_answer_propagate_unchanged_after_the_tokens_before_them(items, error):
    events = service(items, Scripted(Token("Start "), Token("with "), error)).stream(ALICE, FIRST)
    assert [next(events), next(events)] == [(TOKEN, {"text": "Start "}), (TOKEN, {"text": "with "})]
    with pytest.raises(type(error)) as raised:
        next(events)
    assert raised.value is error
    with pytest.raises(type(error)):
        service(items, Scripted(Token("a"), error)).answer(ALICE, FIRST)


def test_stopping_early_ends_the_providers_stream_at_once(items):
    ended: list[bool] = []

    class Endless:
        name, model = "endless", "endless-1"

        def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Any]:
            try:
                while True:
                    yield Token("more ")
            finally:
                ended.append(True)

    events = service(items, Endless()).stream(ALICE, FIRST)
    assert next(events) == (TOKEN, {"text": "more "})
    events.close()
    assert ended == [True]


def test_usage_and_identity_come_from_the_provider(items):
    events = list(service(items, Scripted(Token("Hi"), Token(""), Usage(40, 2))).stream(ALICE, FIRST))
    assert events == [
        (TOKEN, {"text": "Hi"}),
        (DONE, {"usage": {"input_tokens": 40, "output_tokens": 2}, "provider": "scripted", "model": "scripted-1"}),
    ]


def test_a_provider_that_omits_usage_still_ends_with_done(items):
    events = list(service(items, Scripted(Token("a"), Token("b"))).stream(ALICE, FIRST))
    assert events[-1] == (
        DONE,
        {"usage": {"input_tokens": 0, "output_tokens": 2}, "provider": "scripted", "model": "scripted-1"},
    )


def test_the_offline_provider_reads_back_exactly_what_the_service_rendered(items):
    from chalicelib.assistant.offline import parse_context

    created = [
        add(items, ALICE, "Pay rent", due="2026-11-25", tags=["home", "money"]),
        add(items, ALICE, "Plan “trip”\nto Oslo", status="in_progress"),
    ]
    page, _ = items.list(ALICE, limit=50)
    today, parsed = parse_context(render_system(page, today=TODAY))
    assert today.isoformat() == TODAY
    assert parsed == [
        {name: entry[name] for name in ("id", "title", "status", "due", "tags")} for entry in reversed(created)
    ]
