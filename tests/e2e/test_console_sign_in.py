"""End to end: the console's local sign-in against a real `chalice local`, over HTTP as a browser does it (no
redirect followed for it): the page and its configuration, the sign-in form, the code and PKCE exchange, the
API with the access token, and a refresh that still works after the server restarted (as its autoreload
restarts it on every edit)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest

from chalicelib.settings import LOCAL_CLIENT_ID
from chalicelib.vocabulary import API_SCOPE
from tests.e2e.test_chalice_local import LocalServer
from tests.e2e.test_chalice_local import call
from tests.support.api import Reply

pytestmark = pytest.mark.e2e

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 302 is the answer under test, not something to follow


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def fetch(server: LocalServer, method: str, path: str, form: dict[str, str] | None = None) -> Reply:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=FORM if form else {})
    try:
        with _opener.open(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, dict(error.headers), error.read())


class _Hidden(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden":
            self.fields[found.get("name") or ""] = found.get("value") or ""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LocalServer]:
    with LocalServer.running(tmp_path_factory.mktemp("console") / ".data") as local:
        yield local


def test_a_browser_signs_in_through_the_local_issuer_and_calls_the_api(server):
    assert fetch(server, "GET", "/").header("Location") == "/console/"
    page = fetch(server, "GET", "/console/")
    assert page.status == 200 and page.header("Content-Type") == "text/html; charset=utf-8"
    config = fetch(server, "GET", "/console/config.json").json
    assert config["apiUrl"] == config["authority"] == server.url and config["scope"] == f"openid {API_SCOPE}"

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": config["clientId"],
        "redirect_uri": config["redirectUri"],
        "scope": config["scope"],
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    form = fetch(server, "GET", "/oauth2/authorize?" + urlencode(query))
    assert form.status == 200
    hidden = _Hidden()
    hidden.feed(form.body.decode())
    assert hidden.fields == query
    back = fetch(server, "POST", "/oauth2/authorize", {**hidden.fields, "username": "alice"})
    assert back.status == 302
    location = back.header("Location") or ""
    assert location.startswith(config["redirectUri"] + "?")
    answer = parse_qs(urlsplit(location).query)
    assert answer["state"] == ["s1"]

    exchange = {
        "grant_type": "authorization_code",
        "code": answer["code"][0],
        "redirect_uri": config["redirectUri"],
        "client_id": config["clientId"],
        "code_verifier": verifier,
    }
    tokens = fetch(server, "POST", "/oauth2/token", exchange)
    assert tokens.status == 200, tokens.body
    created = call(server, "POST", "/items", {"title": "From the console"}, token=tokens.json["access_token"])
    assert created.status == 201, created.body

    server.restart()  # as `chalice local` reloads on an edit: the sign-in is kept in files
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": tokens.json["refresh_token"],
        "client_id": LOCAL_CLIENT_ID,
    }
    refreshed = fetch(server, "POST", "/oauth2/token", refresh)
    assert refreshed.status == 200, refreshed.body
    listed = call(server, "GET", "/items", token=refreshed.json["access_token"])
    assert [item["title"] for item in listed.json["items"]] == ["From the console"]

    # The code again, on the restarted server: refused, and the sign-in it started ends (it may have leaked).
    reused = fetch(server, "POST", "/oauth2/token", exchange)
    assert reused.status == 400 and reused.json["error"] == "invalid_grant"
    assert fetch(server, "POST", "/oauth2/token", refresh).json["error"] == "invalid_grant"
