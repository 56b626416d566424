"""The console's page, served locally by the app on the API's own origin (docs/DESIGN.md "The console's
sign-in"): ``GET /`` sends the browser to ``/console/``, which is ``console/index.html`` of the repository;
``GET /console/<name>`` is the file of that name there, and ``GET /console/config.json`` the page's
configuration, computed from the request's origin (the API and the OAuth authority are that origin, the
development issuer's endpoints: chalicelib/web/oauth.py).

Only with the local issuer (AUTH_ISSUER unset): deployed, the page is served from S3 behind CloudFront, and
these routes answer the same 404 problem as a path no route serves. A file name is one plain name of a
file directly in console/ (no directory, no dot file, a known text type), so nothing outside it is served.
Files are sent with ``Cache-Control: no-cache`` and an ETag: the browser revalidates each time, and an
unchanged file is a 304, so an edit shows on the next reload.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

from chalice.app import Request
from chalice.app import Response

from chalicelib.errors import BadRequest
from chalicelib.errors import NotFound
from chalicelib.protocol import context
from chalicelib.settings import Settings
from chalicelib.settings import get_settings
from chalicelib.vocabulary import API_SCOPE
from chalicelib.vocabulary import CONSOLE_PATH
from chalicelib.web.responses import Verbatim
from chalicelib.web.responses import endpoint
from chalicelib.web.responses import json_response
from chalicelib.web.routing import NOT_ROUTED_DETAIL

CONSOLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "console")
INDEX = "index.html"
CONFIG = "config.json"
# What the console may be made of: text only (the API declares no binary media types, app.py), by extension.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# A Host header: a name or IPv4 address, or a bracketed IPv6 address, and an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def local_settings() -> Settings:
    """The settings, when the local issuer is in use; else these routes do not exist here (404)."""
    settings = get_settings()
    if not settings.auth_is_local:
        raise NotFound(NOT_ROUTED_DETAIL)
    return settings


def request_origin(request: Request) -> str:
    """The origin the browser reached the app on (``chalice local`` speaks plain HTTP), from its Host header."""
    host = header(request, "host")
    if host is None or not _HOST.fullmatch(host):
        raise BadRequest("The request has no usable Host header")
    return "http://" + host.lower()


def header(request: Request, name: str) -> str | None:
    """A request header's value, stripped (the name lower case, as both gateways and the local one give it)."""
    headers: Mapping[str, Any] = request.headers or {}
    value = headers.get(name)
    return value.strip() if isinstance(value, str) else None


@endpoint
def home() -> Response:
    local_settings()
    return _redirect(CONSOLE_PATH + "/")


@endpoint
def serve(name: str | None) -> Response:
    """``/console/`` (``name`` None), ``/console/config.json`` or a file of console/."""
    request: Request = context.current().request
    settings = local_settings()
    if name is None:
        # The gateway matches /console and /console/ alike; relative URLs in the page need the slash.
        if not str((request.context or {}).get("path", "")).endswith("/"):
            return _redirect(CONSOLE_PATH + "/")
        name = INDEX
    if name == CONFIG:
        return json_response(config(request_origin(request), settings), headers={"Cache-Control": "no-store"})
    return _file(request, name)


def config(origin: str, settings: Settings) -> dict[str, Any]:
    """The page's configuration (the contract in docs/DESIGN.md "The console's sign-in"), for a page served
    on ``origin``: the API and the OAuth authority are both that origin."""
    page = origin + CONSOLE_PATH + "/"
    return {
        "apiUrl": origin,
        "streamUrl": settings.assistant_stream_url,
        "authority": origin,
        "clientId": settings.auth_client_ids[0],
        "scope": f"openid {API_SCOPE}",
        "redirectUri": page,
        "logoutUri": page,
    }


def _file(request: Request, name: str) -> Response:
    content_type = CONTENT_TYPES.get(os.path.splitext(name)[1].lower())
    if content_type is None or not _FILE_NAME.fullmatch(name) or ".." in name:
        raise NotFound(f"The console has no file {name[:128]!r}")
    path = os.path.join(CONSOLE_DIR, name)
    try:
        # Opened without following a symbolic link (O_NOFOLLOW): only the directory's own files.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise NotFound(f"The console has no file {name!r}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NotFound(f"The console has no file {name!r}")
        body = handle.read()
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers: dict[str, str | list[str]] = {
        "Content-Type": content_type,
        "Cache-Control": "no-cache",
        "ETag": tag,
        "X-Content-Type-Options": "nosniff",
    }
    if tag in [given.strip().removeprefix("W/") for given in (header(request, "if-none-match") or "").split(",")]:
        return Verbatim(body="", status_code=304, headers=headers)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotFound(f"The console has no text file {name!r}") from None
    return Verbatim(body=text, status_code=200, headers=headers)


def _redirect(location: str) -> Response:
    return Verbatim(body="", status_code=302, headers={"Location": location, "Cache-Control": "no-store"})
