"""Chalice's local gateway (``chalice local``, and Chalice's test client) matches a route segment by segment,
so a greedy path parameter (``{proxy+}``, which API Gateway matches against the rest of the path) matches
one segment there, and any other path is answered ``403 Missing Authentication Token`` before the app is
called. Deployed, every request no route serves reaches the app (chalicelib/web/routing.py): the greedy
route below the root, the root by the stack's own method (cloudformation/transforms/api.py, http_api.py).

``serve_unrouted_paths`` makes the local gateway match the same way: the routes as before, then a greedy
route by the rest of the path, the root included. It replaces ``chalice.local.RouteMatcher`` (which the
local gateway builds per connection, the test client per client) with a subclass, only where
``chalice.local`` is already loaded: the Lambda runtime never loads it, so there it does nothing and
imports nothing. The program calls it (app.py), as the test client's fixture does.

``stream_assistant_answers`` makes ``chalice local`` stream ``POST /assistant/stream`` through the streaming
function's handler, as deployed (the test client still answers it buffered, through the API's route).
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlparse

from chalicelib.vocabulary import ASSISTANT_STREAM_PATH


def serve_unrouted_paths() -> None:
    local: Any = sys.modules.get("chalice.local")
    if local is None or getattr(local.RouteMatcher, "matches_greedy_paths", False):
        return
    local.RouteMatcher = _greedy(local.RouteMatcher, local.MatchResult)


def _is_greedy(route: str) -> bool:
    return route.endswith("+}")


def _greedy(base: type, match_result: Any) -> type:
    class GreedyRouteMatcher(base):
        """Chalice's matcher for the routes without a greedy parameter, then the greedy ones, deepest first."""

        matches_greedy_paths = True

        def __init__(self, route_urls: list[str]) -> None:
            super().__init__([route for route in route_urls if not _is_greedy(route)])
            self.greedy_urls = sorted((r for r in route_urls if _is_greedy(r)), key=lambda r: -r.count("/"))

        def match_route(self, url: str) -> Any:
            try:
                return super().match_route(url)
            except ValueError:
                parsed = urlparse(url)
                path = parsed.path.rstrip("/")
                for route in self.greedy_urls:
                    parent, _, parameter = route.rpartition("/")
                    if path == parent or path.startswith(parent + "/"):
                        captured = {parameter.strip("{+}"): path[len(parent) + 1 :]}
                        return match_result(route, captured, parse_qs(parsed.query, keep_blank_values=True))
                raise

    return GreedyRouteMatcher


def stream_assistant_answers() -> None:
    """Make ``chalice local`` answer ``POST /assistant/stream`` as deployed: each event sent the moment it is
    made, instead of the whole answer buffered into one body (which is all Chalice's gateway can send).

    The request is handed to the streaming function's own handler (chalicelib/streaming/handler.py) as a
    Lambda function URL's event, the way the HTTP API flavour's function URL sends it: the handler verifies
    the token itself and writes API Gateway's streaming format, whose body this sends on with chunked
    transfer encoding, flushing each write. Every other request goes to Chalice as before. Like
    ``serve_unrouted_paths``, it changes ``chalice.local`` only where that is already loaded.
    """
    local: Any = sys.modules.get("chalice.local")
    if local is None or getattr(local.ChaliceRequestHandler, "streams_assistant_answers", False):
        return
    handler_class = local.ChaliceRequestHandler
    buffered = handler_class.do_POST

    def do_POST(request: Any) -> None:
        if urlparse(request.path).path == ASSISTANT_STREAM_PATH:
            _stream(request)
        else:
            buffered(request)

    handler_class.do_POST = do_POST
    handler_class.streams_assistant_answers = True


def _stream(request: Any) -> None:
    from chalicelib.streaming import handler  # lazy: loaded by the first streamed answer

    length = request.headers.get("Content-Length") or "0"
    body = request.rfile.read(int(length)) if length.isdigit() and int(length) > 0 else b""
    event = {
        "version": "2.0",
        "rawPath": ASSISTANT_STREAM_PATH,
        "rawQueryString": urlparse(request.path).query,
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "requestContext": {
            "http": {"method": request.command, "path": ASSISTANT_STREAM_PATH, "sourceIp": request.client_address[0]}
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
    response = _ChunkedResponse(request, handler.DELIMITER)
    handler.handle(event, None, response.write)
    response.end()


class _ChunkedResponse:
    """The streaming format's prelude (status and headers as JSON, then the delimiter) becomes the HTTP status
    line and headers; every later write, one chunk sent at once."""

    def __init__(self, request: Any, delimiter: bytes) -> None:
        self.request = request
        self.delimiter = delimiter
        self.prelude = b""
        self.started = False

    def write(self, data: bytes) -> None:
        if not self.started:
            self.prelude += data
            head, found, data = self.prelude.partition(self.delimiter)
            if not found:
                return
            self._start(json.loads(head))
        if data:
            self.request.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.request.wfile.flush()

    def _start(self, prelude: dict[str, Any]) -> None:
        self.started = True
        self.request.send_response(prelude["statusCode"])
        for name, value in prelude.get("headers", {}).items():
            self.request.send_header(name, value)
        self.request.send_header("Transfer-Encoding", "chunked")
        self.request.end_headers()

    def end(self) -> None:
        try:
            if not self.started:  # the handler always answers; should it not, the client is not left waiting
                self._start({"statusCode": 502, "headers": {"Content-Type": "text/plain"}})
            self.request.wfile.write(b"0\r\n\r\n")
            self.request.wfile.flush()
        except OSError:  # the client went away (the handler has logged it)
            self.request.close_connection = True
