"""A local server that answers as SSM Parameter Store does (JSON 1.1, ``X-Amz-Target: AmazonSSM.<Operation>``):
GetParameter and PutParameter over a dict of parameters, ``ParameterNotFound`` for a missing one, and any
scripted replies first (``(status, payload)``). It keeps each request's headers and body: for the
standard-library SSM client's tests and the chat commands' (the signing secret, the region switch)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

from tests.support.serving import serving

REQUEST_ID = "ssm-stub-request-0000"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.parameters: dict[str, dict[str, Any]] = {}  # name -> {"Type", "Value", "Version"}
        self.replies: deque[tuple[int, dict[str, Any]]] = deque()
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def put(self, name: str, value: str, kind: str = "String") -> None:
        version = self.parameters.get(name, {}).get("Version", 0) + 1
        self.parameters[name] = {"Type": kind, "Value": value, "Version": version}

    def operations(self) -> list[str]:
        return [headers["x-amz-target"] for headers, _ in self.requests]

    def answer(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.replies:
            return self.replies.popleft()
        name = body.get("Name", "")
        if target == "AmazonSSM.GetParameter":
            parameter = self.parameters.get(name)
            if parameter is None:
                return 400, {"__type": "ParameterNotFound", "message": f"Parameter {name} not found."}
            value = parameter["Value"]
            if parameter["Type"] == "SecureString" and not body.get("WithDecryption"):
                value = "kms-encrypted-blob"
            return 200, {"Parameter": {"Name": name, "Type": parameter["Type"], "Value": value, "Version": 1}}
        if target == "AmazonSSM.PutParameter":
            if name in self.parameters and not body.get("Overwrite"):
                return 400, {"__type": "ParameterAlreadyExists", "message": "The parameter already exists."}
            self.put(name, body["Value"], body.get("Type", "String"))
            return 200, {"Version": self.parameters[name]["Version"], "Tier": "Standard"}
        return 400, {"__type": "InvalidAction", "message": f"not served here: {target}"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.append((headers, body))
        status, payload = self.server.answer(headers.get("x-amz-target", ""), body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", REQUEST_ID)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def running_ssm() -> Iterator[Server]:
    with serving(Server()) as server:
        yield server
