"""The assistant's ports: a Provider streams a model's answer as Token chunks and one final Usage;
the service turns that into the API's events (``token`` ..., then ``done``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple
from typing import Protocol


class Token(NamedTuple):
    """A piece of the answer's text, in order."""

    text: str


class Usage(NamedTuple):
    """What the call cost, reported once, after the last Token."""

    input_tokens: int
    output_tokens: int


Chunk = Token | Usage


class Provider(Protocol):
    """A model behind the assistant. ``name`` is the API's ``provider`` (``offline``, ``bedrock``),
    ``model`` its ``model``."""

    name: str
    model: str

    def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Chunk]:
        """Yield Token chunks as the model produces them, then exactly one Usage.

        Raises errors.ProviderThrottled when the provider throttles the call and
        errors.ProviderUnavailable when it fails or cannot be reached (``raise ... from exc``); either
        may happen before the first chunk or between chunks.
        """


# The events of one answer, as the API names them (docs/API.md "Assistant").
TOKEN, DONE, ERROR = "token", "done", "error"

# The context block of the system text, written by service.render_system and read back by the
# offline provider, so every Provider keeps the one ``stream(system, prompt)`` signature. A line
# ``Today (UTC): YYYY-MM-DD``, then ITEMS_BEGIN, one compact JSON object per item per line, then
# ITEMS_END. Lines end with LINE_BREAK and are split there only: JSON escapes a title's "\n", so a
# title can never forge a line or the end marker, but it keeps U+0085, U+2028 and U+2029 as they are,
# where str.splitlines() would break the line too.
TODAY_LABEL = "Today (UTC): "
ITEMS_BEGIN, ITEMS_END = "<items>", "</items>"
LINE_BREAK = "\n"
