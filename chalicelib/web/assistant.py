"""The assistant's two routes as the API function serves them: the buffered answer, and the event
stream buffered into one response (chalice local, the test client; deployed, chalicelib/streaming
streams the same events)."""

from __future__ import annotations

import itertools
import logging
from typing import Any, Iterator

from chalice.app import Response

from chalicelib import wiring
from chalicelib.errors import AppError, ProviderThrottled

log = logging.getLogger("tasks.assistant")


def answer(sub: str, prompt: str) -> dict[str, Any]:
    try:
        result = wiring.services().assistant.answer(sub, prompt)
    except ProviderThrottled:
        _count_throttle()
        raise
    count_usage(result["provider"], result["usage"])
    return result


def buffered_stream(sub: str, prompt: str) -> Response:
    from chalicelib.assistant import sse

    events = wiring.services().assistant.events(sub, prompt)
    try:
        # Failures before the stream began are ordinary problem responses (docs/API.md).
        first = next(events)
    except ProviderThrottled:
        _count_throttle()
        raise
    body = b"".join(sse.encode(name, data) for name, data in _guarded(itertools.chain([first], events)))
    # Text, not bytes: Chalice (and API Gateway) would treat a bytes body as binary and base64 it.
    return Response(body=body.decode("utf-8"), status_code=200, headers=dict(sse.HEADERS))


def _guarded(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The events, ending with one ``error`` event if producing them fails after the stream began."""
    from chalicelib.assistant.base import DONE, ERROR

    try:
        for name, data in events:
            if name == DONE:
                count_usage(data["provider"], data["usage"])
            yield name, data
    except AppError as error:
        if isinstance(error, ProviderThrottled):
            _count_throttle()
        yield ERROR, {"code": error.code, "detail": error.detail}
    except Exception:
        from chalicelib.web import problems

        problems.log_unhandled("unhandled exception while streaming the assistant's answer")
        yield ERROR, {"code": "internal_error", "detail": problems.INTERNAL_ERROR_DETAIL}


def count_usage(provider: str, usage: dict[str, int]) -> None:
    from chalicelib.observability import metrics

    metrics.dimension(metrics.PROVIDER, provider)
    metrics.count(metrics.ASSISTANT_INPUT_TOKENS, usage["input_tokens"])
    metrics.count(metrics.ASSISTANT_OUTPUT_TOKENS, usage["output_tokens"])


def _count_throttle() -> None:
    from chalicelib.observability import metrics
    from chalicelib.settings import get_settings

    metrics.dimension(metrics.PROVIDER, get_settings().assistant_provider)
    metrics.count(metrics.PROVIDER_THROTTLES)
