"""The assistant's streaming core (assistant/stream.py) on its own, as both entry points use it: the first
event decides, a later failure is one error event, tokens and throttles are counted, a bug is logged once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib.assistant.base import DONE
from chalicelib.assistant.base import ERROR
from chalicelib.assistant.base import TOKEN
from chalicelib.assistant.stream import open_answer
from chalicelib.errors import AppError
from chalicelib.errors import ProviderThrottled
from chalicelib.errors import ProviderUnavailable
from chalicelib.observability import metrics
from chalicelib.vocabulary import INTERNAL_ERROR_DETAIL
from chalicelib.vocabulary import UNHANDLED_FIELD
from chalicelib.vocabulary import UNHANDLED_VALUE
from tests.support.streaming import FakeEvents

USAGE = {"input_tokens": 42, "output_tokens": 7}  # FakeEvents' default


class Settings:
    metrics = "emf"
    metrics_namespace = "TasksApi"


def _document(token: Any) -> dict[str, Any]:
    """The metrics recorded since ``metrics.begin`` gave ``token``, as the EMF document's values."""
    return metrics.take(token) or {}


def test_the_events_pass_through_and_done_counts_the_tokens_by_the_provider_it_names():
    token = metrics.begin(Settings(), metrics.API)
    with open_answer(iter(FakeEvents(("a ", "b"), provider="bedrock")), provider="offline") as answer:
        assert list(answer) == [
            (TOKEN, {"text": "a "}),
            (TOKEN, {"text": "b"}),
            (DONE, {"usage": USAGE, "provider": "bedrock", "model": "fake-model"}),
        ]
    document = _document(token)
    assert (document["Provider"], document["AssistantInputTokens"], document["AssistantOutputTokens"]) == (
        "bedrock",
        42,
        7,
    )
    assert (answer.provider, answer.error, answer.unhandled) == ("bedrock", None, False)


@pytest.mark.parametrize("error", [ProviderThrottled("slow down"), ProviderUnavailable("down"), KeyError("bug")])
def test_a_failure_before_the_first_event_propagates_for_the_caller_to_answer_as_a_problem(error):
    token = metrics.begin(Settings(), metrics.API)
    with pytest.raises(type(error)):
        open_answer(iter(FakeEvents(("a",), fail_at=0, error=error)), provider="offline")
    document = _document(token)
    if isinstance(error, ProviderThrottled):
        assert (document["ProviderThrottles"], document["Provider"]) == (1, "offline")
    else:
        assert "ProviderThrottles" not in document


def test_an_answer_without_any_event_is_a_bug_before_the_stream_began():
    with pytest.raises(RuntimeError, match="without an event"):
        open_answer(iter([]), provider="offline")


def test_a_provider_failure_after_the_first_event_ends_the_answer_with_one_error_event(caplog):
    token = metrics.begin(Settings(), metrics.API)
    answer = open_answer(iter(FakeEvents(("a ", "b "), fail_at=1, error=ProviderThrottled("busy"))), provider="offline")
    assert list(answer) == [(TOKEN, {"text": "a "}), (ERROR, {"code": "provider_throttled", "detail": "busy"})]
    assert answer.error == "provider_throttled" and not answer.unhandled
    assert _document(token)["ProviderThrottles"] == 1
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "error, detail", [(ZeroDivisionError("secret detail"), INTERNAL_ERROR_DETAIL), (AppError(), AppError.title)]
)
def test_a_bug_after_the_first_event_is_one_internal_error_event_and_one_unhandled_line(caplog, error, detail):
    answer = open_answer(iter(FakeEvents(("a ",), fail_at=1, error=error)), provider="offline")
    assert list(answer) == [(TOKEN, {"text": "a "}), (ERROR, {"code": "internal_error", "detail": detail})]
    assert answer.error == "internal_error" and answer.unhandled
    [line] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert getattr(line, UNHANDLED_FIELD) == UNHANDLED_VALUE and line.exc_info[0] is type(error)


def test_closing_an_answer_early_ends_the_providers_stream_at_once():
    events = FakeEvents(("a", "b", "c"))
    with open_answer(iter(events), provider="offline") as answer:
        assert next(iter(answer)) == (TOKEN, {"text": "a"})
    assert events.closed and not events.finished


def test_a_done_event_without_a_provider_name_is_counted_as_unknown():
    token = metrics.begin(Settings(), metrics.API)
    with open_answer(iter(FakeEvents(provider=None)), provider="offline") as answer:
        list(answer)
    assert _document(token)["Provider"] == "unknown" and answer.provider is None
