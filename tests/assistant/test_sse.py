"""Server-sent events framing: exact bytes, one data line whatever the text holds."""

from __future__ import annotations

import json

import pytest

from chalicelib.assistant import sse


def _parse(frame: bytes) -> tuple[str, dict]:
    """Read one event back the way an EventSource does (lines split on CR, LF or CRLF)."""
    text = frame.decode("utf-8")
    assert text.endswith("\n\n")
    lines = text[:-2].splitlines()
    fields = dict(line.split(": ", 1) for line in lines)
    assert len(lines) == 2 and set(fields) == {"event", "data"}
    return fields["event"], json.loads(fields["data"])


def test_an_event_is_an_event_line_a_compact_data_line_and_a_blank_line():
    assert sse.encode("done", {"usage": {"input_tokens": 3, "output_tokens": 2}, "provider": "offline"}) == (
        b'event: done\ndata: {"usage":{"input_tokens":3,"output_tokens":2},"provider":"offline"}\n\n'
    )


def test_a_multi_line_token_stays_on_one_data_line_and_round_trips():
    text = "Your plan:\n1. Pay rent\r\n2. Call mom\r\n\n"
    frame = sse.encode("token", {"text": text})
    assert frame == b'event: token\ndata: {"text":"Your plan:\\n1. Pay rent\\r\\n2. Call mom\\r\\n\\n"}\n\n'
    assert _parse(frame) == ("token", {"text": text})


def test_non_ascii_text_is_sent_as_utf8():
    frame = sse.encode("token", {"text": "Start with “Café” 🚀"})
    assert "“Café” 🚀".encode() in frame
    assert _parse(frame) == ("token", {"text": "Start with “Café” 🚀"})


def test_a_lone_surrogate_falls_back_to_json_escapes():
    frame = sse.encode("token", {"text": "a\ud800b"})
    assert frame == b'event: token\ndata: {"text":"a\\ud800b"}\n\n'
    assert _parse(frame) == ("token", {"text": "a\ud800b"})


@pytest.mark.parametrize("name", ["token\ndata: {}", "x\r", "event: x"])
def test_an_event_name_cannot_add_lines_or_fields(name):
    with pytest.raises(ValueError):
        sse.encode(name, {})


def test_headers_announce_an_uncached_unbuffered_event_stream():
    assert sse.CONTENT_TYPE == "text/event-stream"
    assert sse.HEADERS == {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
