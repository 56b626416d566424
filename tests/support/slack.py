"""A stand-in for Slack's incoming webhooks on a real socket: a threading HTTP server on 127.0.0.1 that
answers each POST with the next scripted response (status, headers, body; the last one repeats) and keeps
what it received. Slack's answers, as its webhook documentation gives them: 200 ``ok``; 400
``invalid_payload``; 403 ``action_prohibited``; 404 ``channel_not_found`` / ``no_service``; 410
``channel_is_archived``; 429 with ``Retry-After`` (seconds); 500 ``rollup_error``."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.serving import serving
from tests.support.tls import self_signed

# A webhook path of Slack's shape; its last part is the secret a log line must never show.
SECRET_PART = "xoxwebhookSECRETabc123"
WEBHOOK_PATH = f"/services/T00000000/B00000000/{SECRET_PART}"


@dataclass
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


OK = Answer()
RATE_LIMITED = Answer(429, "rate_limited", {"Retry-After": "7"})
SERVER_ERROR = Answer(500, "rollup_error")
NO_SERVICE = Answer(404, "no_service")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the stand-in answered

    def json(self) -> Any:
        return json.loads(self.body)


class FakeSlack:
    def __init__(self, server: ThreadingHTTPServer, answers: list[Answer]) -> None:
        self._server = server
        self.answers = answers
        self.received: list[Received] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        port = self._server.server_address[1]
        return f"{getattr(self._server, 'scheme', 'http')}://127.0.0.1:{port}"

    @property
    def url(self) -> str:
        """The webhook's URL: what the SSM parameter holds."""
        return self.base + WEBHOOK_PATH

    def script(self, *answers: Answer) -> None:
        with self.lock:
            self.answers[:] = list(answers)

    def next_answer(self) -> Answer:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def delivered(self) -> list[Received]:
        """The messages Slack accepted (answered 200)."""
        return [r for r in self.received if r.status == 200]


@contextmanager
def fake_slack(*answers: Answer, tls: ssl.SSLContext | None = None) -> Iterator[FakeSlack]:
    """A running stand-in answering ``answers`` in order (default: always 200 ok); over HTTPS with ``tls``."""
    state: dict[str, FakeSlack] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            slack = state["slack"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            answer = slack.next_answer()
            received = Received(self.path, dict(self.headers.items()), body, answer.status)
            with slack.lock:
                slack.received.append(received)
            payload = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads what was received

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.scheme = "https"  # type: ignore[attr-defined]
    state["slack"] = FakeSlack(server, list(answers) or [OK])
    with serving(server):
        yield state["slack"]


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no CA signed (what a client that verifies
    certificates must refuse)."""
    context, _certificate = self_signed(directory)
    return context
