"""A local server that answers as DynamoDB does (JSON 1.0, ``x-amz-crc32``, a request id), each request with
the next scripted reply (``(status, payload)``, DROP, or ``{}`` when the script is done), and keeps each
request's headers and body: for the lean transport's tests, and for the runs that must not need DynamoDB
Local (the image layout, the trace header sent to DynamoDB)."""

from __future__ import annotations

import json
import zlib
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

from tests.support.serving import serving

DROP = "drop"  # close the connection without a reply
REQUEST_ID = "STUBREQUEST0000000000000000000000000000000000000000000"


class Server(ThreadingHTTPServer):
    """Answers each request with the next scripted reply (``{}`` when the script is done)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.replies: deque[Any] = deque()
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.connections = 0
        self.close_after_reply = False
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(({name.lower(): value for name, value in self.headers.items()}, body))
        reply = self.server.replies.popleft() if self.server.replies else (200, {})
        if reply == DROP:
            self.close_connection = True
            return
        # (status, payload), or with a third member: the CRC32 is corrupted when it is truthy, and a fourth
        # gives extra headers.
        status, payload, *rest = reply
        corrupt = bool(rest and rest[0])
        extra = rest[1] if len(rest) > 1 else {}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", REQUEST_ID)
        self.send_header("x-amz-crc32", str(zlib.crc32(data) + (1 if corrupt else 0)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        # Closed silently, as an idle timeout does: the client learns it on its next request.
        self.close_connection = self.server.close_after_reply

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def running_stub() -> Iterator[Server]:
    with serving(Server()) as server:
        yield server
