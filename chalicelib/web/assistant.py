"""The assistant's two routes as the API function serves them: the buffered answer, and the event
stream buffered into one response (chalice local, the test client; deployed, chalicelib/streaming
streams the same events). chalicelib/assistant/stream.py decides what both entry points stream."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib import wiring
from chalicelib.assistant import sse
from chalicelib.assistant.stream import open_answer
from chalicelib.errors import ProviderThrottled
from chalicelib.observability import metrics
from chalicelib.protocol import context
from chalicelib.settings import get_settings


def answer(sub: str, prompt: str) -> dict[str, Any]:
    try:
        result = wiring.services().assistant.answer(sub, prompt)
    except ProviderThrottled:
        metrics.count_throttle(get_settings().assistant_provider)
        raise
    metrics.count_usage(result["provider"], result["usage"])
    return result


def buffered_stream(sub: str, prompt: str) -> Response:
    # Failures before the stream began propagate: ordinary problem responses (docs/API.md).
    events = wiring.services().assistant.stream(sub, prompt)
    with open_answer(events, provider=get_settings().assistant_provider) as streamed:
        body = b"".join(sse.encode(name, data) for name, data in streamed)
    if streamed.unhandled:
        context.current().unhandled = True  # logged once already; the request's metrics count it
    # Text, not bytes: Chalice (and API Gateway) would treat a bytes body as binary and base64 it.
    return Response(body=body.decode("utf-8"), status_code=200, headers=dict(sse.HEADERS))
