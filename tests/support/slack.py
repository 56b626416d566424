"""A stand-in for Slack's incoming webhooks on a real socket: a threading HTTP server on 127.0.0.1 that
answers each POST with the next scripted response (status, headers, body; the last one repeats) and keeps
what it received. Slack's answers, as its webhook documentation gives them: 200 ``ok``; 400
``invalid_payload``; 403 ``action_prohibited``; 404 ``channel_not_found`` / ``no_service``; 410
``channel_is_archived``; 429 with ``Retry-After`` (seconds); 500 ``rollup_error``."""

from __future__ import annotations

import ipaddress
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["slack"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no CA signed (what a client that verifies
    certificates must refuse)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "slack.pem", directory / "slack.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
