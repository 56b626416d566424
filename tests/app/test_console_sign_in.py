"""The console's local sign-in, through the app as a browser uses it (Chalice's test client): the development
issuer's OAuth endpoints (authorization code with PKCE, Cognito's hosted-UI shapes) on the API's own origin,
its tokens accepted by the API, refresh keeping the sign-in, sign-out forgetting it; and the console's page
and configuration served on that origin. Wherever AUTH_ISSUER is set, none of it exists (404 problems)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import jwt
import pytest

from chalicelib.auth.grants import CODE_TTL
from chalicelib.auth.local_issuer import sub_for
from chalicelib.settings import LOCAL_CLIENT_ID
from chalicelib.vocabulary import API_SCOPE
from chalicelib.web.console import CONSOLE_DIR
from chalicelib.web.console import CONTENT_TYPES
from tests.support.activity import settle
from tests.support.api import Reply
from tests.support.api import assert_problem
from tests.support.issuer_key import seed_issuer_key
from tests.support.tokens import FakeClock

HOST = "127.0.0.1:8000"
ORIGIN = f"http://{HOST}"
PAGE = f"{ORIGIN}/console/"
SCOPE = f"openid {API_SCOPE}"
FORM = "application/x-www-form-urlencoded"
OTHER_CLIENT = "other-client"


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge, as the page makes them."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class _Inputs(HTMLParser):
    """The inputs of a page's form: name -> (type, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, tuple[str, str]] = {}
        self.labels: dict[str, str] = {}
        self.forms: list[dict[str, str | None]] = []
        self._label_for: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.inputs[found["name"] or ""] = (found.get("type") or "text", found.get("value") or "")
        elif tag == "form":
            self.forms.append(found)
        elif tag == "label":
            self._label_for = found.get("for")

    def handle_data(self, data: str) -> None:
        if self._label_for is not None and data.strip():
            self.labels[self._label_for] = data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None


def inputs(page: Reply) -> _Inputs:
    parser = _Inputs()
    parser.feed(page.body.decode())
    return parser


class Browser:
    """Chalice's test client as a browser on ``HOST``: it sends the Host header and keeps cookies."""

    def __init__(self, client: Any, host: str = HOST) -> None:
        self.client = client
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, *, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        sent = {"Host": self.host, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = b""
        if form is not None:
            sent.setdefault("Content-Type", FORM)
            body = urlencode(form).encode()
        response = self.client.http.request(method, path, headers=sent, body=body)
        reply = Reply(response.status_code, dict(response.headers), response.body)
        cookie = reply.header("Set-Cookie")
        if cookie:
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Reply:
        return self.request("POST", path, **kw)

    # --- the flow, as the page drives it --------------------------------------------------------------

    def authorize_query(self, challenge: str, **overrides: str | None) -> dict[str, str]:
        query: dict[str, str | None] = {
            "response_type": "code",
            "client_id": LOCAL_CLIENT_ID,
            "redirect_uri": PAGE,
            "scope": SCOPE,
            "state": "state-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **overrides,
        }
        return {name: value for name, value in query.items() if value is not None}

    def sign_in(self, username: str = "alice", **overrides: str | None) -> tuple[str, str]:
        """Through the sign-in page: (the code the browser is sent back with, the PKCE verifier)."""
        verifier, challenge = pkce()
        page = self.get("/oauth2/authorize?" + urlencode(self.authorize_query(challenge, **overrides)))
        assert page.status == 200, page.body
        fields = {name: value for name, (_, value) in inputs(page).inputs.items()}
        back = self.post("/oauth2/authorize", form={**fields, "username": username})
        assert back.status == 302, back.body
        location = back.header("Location") or ""
        redirect_uri = overrides.get("redirect_uri") or PAGE
        assert location.startswith(redirect_uri + "?")
        answer = parse_qs(urlsplit(location).query)
        assert answer["state"] == ["state-1"]
        return answer["code"][0], verifier

    def exchange(self, code: str, verifier: str, /, **overrides: str) -> Reply:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": PAGE,
            "client_id": LOCAL_CLIENT_ID,
            "code_verifier": verifier,
            **overrides,
        }
        return self.post("/oauth2/token", form=form)

    def tokens(self, username: str = "alice") -> dict[str, Any]:
        code, verifier = self.sign_in(username)
        reply = self.exchange(code, verifier)
        assert reply.status == 200, reply.body
        return reply.json

    def refresh(self, refresh_token: str, client_id: str = LOCAL_CLIENT_ID) -> Reply:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
        return self.post("/oauth2/token", form=form)

    def api(self, method: str, path: str, token: str) -> Reply:
        return self.request(method, path, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def browser(env, client) -> Browser:
    seed_issuer_key(os.environ["DATA_DIR"])
    return Browser(client)


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def assert_oauth_error(reply: Reply, error: str) -> None:
    assert reply.status == 400, reply.body
    assert reply.header("Content-Type") == "application/json"
    assert reply.json["error"] == error, reply.json
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("X-Request-Id")  # through the app's middleware, as every answer


# --- the whole flow ---------------------------------------------------------------------------------


def test_signing_in_through_the_form_with_pkce_gives_tokens_the_api_accepts(browser):
    tokens = browser.tokens("alice")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert set(tokens) == {"access_token", "id_token", "refresh_token", "expires_in", "token_type"}
    access, identity = claims(tokens["access_token"]), claims(tokens["id_token"])
    assert access["token_use"] == "access" and access["client_id"] == LOCAL_CLIENT_ID
    assert access["scope"].split() == ["openid", API_SCOPE]
    assert access["sub"] == identity["sub"] == sub_for("alice")  # the CLI's alice: the same data
    assert identity["aud"] == LOCAL_CLIENT_ID and identity["cognito:username"] == "alice"
    assert access["origin_jti"] == identity["origin_jti"] and access["exp"] - access["iat"] == 3600

    listed = browser.api("GET", "/items", tokens["access_token"])
    assert listed.status == 200 and listed.json == {"items": [], "next_cursor": None}
    assert browser.api("GET", "/me", tokens["access_token"]).json["username"] == "alice"


def test_the_access_token_carries_the_scope_the_api_requires(browser, env):
    env(AUTH_REQUIRED_SCOPE=API_SCOPE)
    tokens = browser.tokens()
    assert browser.api("GET", "/items", tokens["access_token"]).status == 200
    assert browser.api("GET", "/items", tokens["id_token"]).status == 401  # an ID token has no scope


def test_the_sign_in_page_is_an_accessible_form_with_one_field_and_the_request_hidden(browser):
    _, challenge = pkce()
    query = browser.authorize_query(challenge)
    page = browser.get("/oauth2/authorize?" + urlencode(query))
    assert page.status == 200
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in (page.header("Content-Security-Policy") or "")
    text = page.body.decode()
    assert '<html lang="en">' in text and "<title>" in text and 'name="viewport"' in text
    found = inputs(page)
    assert found.forms == [{"method": "post", "action": "/oauth2/authorize"}]
    visible = {name for name, (kind, _) in found.inputs.items() if kind != "hidden"}
    assert visible == {"username"} and found.labels == {"username": "Sign in as"}
    assert {name: value for name, (kind, value) in found.inputs.items() if kind == "hidden"} == query


def test_an_empty_name_shows_the_form_again_with_the_error_announced(browser):
    _, challenge = pkce()
    query = browser.authorize_query(challenge)
    reply = browser.post("/oauth2/authorize", form={**query, "username": "   "})
    assert reply.status == 400 and reply.header("Content-Type") == "text/html; charset=utf-8"
    text = reply.body.decode()
    assert 'role="alert"' in text and 'aria-invalid="true"' in text and 'aria-describedby="username-error"' in text
    assert {name: value for name, (kind, value) in inputs(reply).inputs.items() if kind == "hidden"} == query


# --- the code: single-use, bound to its client, redirect URI and challenge ---------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": pkce()[0]}, "invalid_grant"),  # another verifier
        ({"redirect_uri": f"{ORIGIN}/elsewhere"}, "invalid_grant"),
        ({"client_id": OTHER_CLIENT}, "invalid_grant"),  # a client of this issuer, not the code's
        ({"client_id": "nobody"}, "invalid_client"),
        ({"code": "not-a-code"}, "invalid_grant"),
        ({"code_verifier": "short"}, "invalid_request"),
        ({"code_verifier": ""}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_a_token_request_that_does_not_fit_its_code_is_refused(browser, env, change, error):
    env(AUTH_CLIENT_IDS=f"{LOCAL_CLIENT_ID},{OTHER_CLIENT}")
    code, verifier = browser.sign_in()
    assert_oauth_error(browser.exchange(code, verifier, **change), error)


def test_a_code_is_used_once_and_presenting_it_again_ends_its_sign_in(browser):
    code, verifier = browser.sign_in()
    first = browser.exchange(code, verifier)
    assert first.status == 200
    assert_oauth_error(browser.exchange(code, verifier), "invalid_grant")
    # The code may have leaked: the refresh token it gave no longer works.
    assert_oauth_error(browser.refresh(first.json["refresh_token"]), "invalid_grant")


def test_a_failed_presentation_uses_the_code_up(browser):
    code, verifier = browser.sign_in()
    assert_oauth_error(browser.exchange(code, pkce()[0]), "invalid_grant")
    assert_oauth_error(browser.exchange(code, verifier), "invalid_grant")


def test_a_code_expires_after_five_minutes(browser, env):
    clock = FakeClock(time.time())
    env.install(clock=clock)
    code, verifier = browser.sign_in()
    clock.advance(CODE_TTL)
    assert_oauth_error(browser.exchange(code, verifier), "invalid_grant")


def test_the_token_endpoint_takes_only_a_form(browser):
    code, verifier = browser.sign_in()
    reply = browser.request(
        "POST", "/oauth2/token", form={"code": code, "code_verifier": verifier}, headers={"Content-Type": "text/plain"}
    )
    assert_oauth_error(reply, "invalid_request")
    bare = browser.post("/oauth2/token", form={"grant_type": "refresh_token"})
    assert_oauth_error(bare, "invalid_request")  # no refresh_token, no client_id


# --- refresh: the same sign-in ----------------------------------------------------------------------


def test_a_refresh_keeps_the_sign_in_so_the_app_counts_one(browser):
    tokens = browser.tokens()
    assert browser.api("GET", "/me", tokens["access_token"]).status == 200
    refreshed = browser.refresh(tokens["refresh_token"])
    assert refreshed.status == 200
    assert set(refreshed.json) == {"access_token", "id_token", "expires_in", "token_type"}  # Cognito: no new one
    before, after = claims(tokens["access_token"]), claims(refreshed.json["access_token"])
    assert (after["origin_jti"], after["auth_time"]) == (before["origin_jti"], before["auth_time"])
    assert after["jti"] != before["jti"]
    assert browser.api("GET", "/me", refreshed.json["access_token"]).status == 200
    settle()
    assert browser.api("GET", "/stats", refreshed.json["access_token"]).json["sign_ins"] == 1

    again = browser.tokens()  # a new sign-in through the form is counted
    assert browser.api("GET", "/me", again["access_token"]).status == 200
    settle()
    assert browser.api("GET", "/stats", again["access_token"]).json["sign_ins"] == 2


def test_a_refresh_token_is_its_clients_only(browser, env):
    env(AUTH_CLIENT_IDS=f"{LOCAL_CLIENT_ID},{OTHER_CLIENT}")
    tokens = browser.tokens()
    assert_oauth_error(browser.refresh(tokens["refresh_token"], OTHER_CLIENT), "invalid_grant")
    assert_oauth_error(browser.refresh("made-up"), "invalid_grant")


def test_an_expired_access_token_is_refused_until_a_refresh_replaces_it(browser, env):
    env(LOCAL_TOKEN_TTL="60")
    clock = FakeClock(time.time() - 120)  # signed in two minutes ago: the token lived one
    env.install(clock=clock)
    tokens = browser.tokens()
    assert tokens["expires_in"] == 60
    expired = browser.api("GET", "/items", tokens["access_token"])
    assert_problem(expired, 401, "unauthorized")
    clock.now = time.time()
    refreshed = browser.refresh(tokens["refresh_token"])
    assert refreshed.json["expires_in"] == 60
    access = claims(refreshed.json["access_token"])
    assert access["exp"] - access["iat"] == 60
    assert browser.api("GET", "/items", refreshed.json["access_token"]).status == 200


# --- sign-out ---------------------------------------------------------------------------------------


def test_signing_out_forgets_this_browsers_sign_in_and_returns_to_the_page(browser, client):
    tokens = browser.tokens()
    other = Browser(client)
    others = other.tokens("bob")
    reply = browser.get("/logout?" + urlencode({"client_id": LOCAL_CLIENT_ID, "logout_uri": PAGE}))
    assert reply.status == 302 and reply.header("Location") == PAGE
    assert "Max-Age=0" in (reply.header("Set-Cookie") or "") and browser.cookies == {}
    assert_oauth_error(browser.refresh(tokens["refresh_token"]), "invalid_grant")
    assert other.refresh(others["refresh_token"]).status == 200  # another browser's sign-in is not this one


def test_signing_out_forgets_every_sign_in_this_browser_made(browser):
    first = browser.tokens()
    second = browser.tokens("alice")  # signed in again (another tab, a reload): the same browser
    browser.get("/logout?" + urlencode({"client_id": LOCAL_CLIENT_ID, "logout_uri": PAGE}))
    assert_oauth_error(browser.refresh(first["refresh_token"]), "invalid_grant")
    assert_oauth_error(browser.refresh(second["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize(
    "query",
    [
        {"client_id": LOCAL_CLIENT_ID, "logout_uri": "https://evil.example/console/"},
        {"client_id": LOCAL_CLIENT_ID},
        {"client_id": "nobody", "logout_uri": PAGE},
    ],
)
def test_a_sign_out_to_elsewhere_or_for_another_client_is_a_400_problem(browser, query):
    assert_problem(browser.get("/logout?" + urlencode(query)), 400, "bad_request")


# --- the authorization request ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "nobody"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/console/"},
        {"redirect_uri": f"{ORIGIN}/console/#fragment"},
        {"redirect_uri": f"http://user@{HOST}/console/"},
        {"redirect_uri": "/console/"},
    ],
)
def test_an_unknown_client_or_a_redirect_uri_elsewhere_is_a_400_problem_not_a_redirect(browser, change):
    _, challenge = pkce()
    reply = browser.get("/oauth2/authorize?" + urlencode(browser.authorize_query(challenge, **change)))
    assert_problem(reply, 400, "bad_request")


def test_a_redirect_uri_on_an_allowed_cors_origin_is_accepted(browser, env):
    env(CORS_ALLOW_ORIGINS="http://localhost:5173")
    code, verifier = browser.sign_in(redirect_uri="http://localhost:5173/")
    assert browser.exchange(code, verifier, redirect_uri="http://localhost:5173/").status == 200


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
    ],
)
def test_an_invalid_authorization_request_is_sent_back_to_the_page_with_its_error(browser, change, error):
    _, challenge = pkce()
    reply = browser.get("/oauth2/authorize?" + urlencode(browser.authorize_query(challenge, **change)))
    assert reply.status == 302
    location = reply.header("Location") or ""
    assert location.startswith(PAGE + "?")
    answer = parse_qs(urlsplit(location).query)
    assert answer["error"] == [error] and answer["state"] == ["state-1"]


def test_without_openid_there_is_no_id_token(browser):
    code, verifier = browser.sign_in(scope=API_SCOPE)
    reply = browser.exchange(code, verifier)
    assert "id_token" not in reply.json and claims(reply.json["access_token"])["scope"] == API_SCOPE


# --- the console's page -----------------------------------------------------------------------------


def test_the_root_and_the_bare_console_path_lead_to_the_page(browser):
    for path in ("/", "/console"):
        reply = browser.get(path)
        assert reply.status == 302 and reply.header("Location") == "/console/", path


def test_the_page_is_console_index_html(browser):
    reply = browser.get("/console/")
    assert reply.status == 200
    assert reply.body == (Path(CONSOLE_DIR) / "index.html").read_bytes()
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert reply.header("Cache-Control") == "no-cache" and reply.header("X-Request-Id")


@pytest.mark.parametrize("name", sorted(p.name for p in Path(CONSOLE_DIR).iterdir() if p.is_file()))
def test_each_file_of_the_console_is_served_with_its_content_type(browser, name):
    reply = browser.get(f"/console/{name}")
    assert reply.status == 200, name
    assert reply.body == (Path(CONSOLE_DIR) / name).read_bytes()
    assert reply.header("Content-Type") == CONTENT_TYPES[Path(name).suffix]
    assert reply.header("X-Content-Type-Options") == "nosniff"


def test_an_unchanged_file_is_a_304(browser):
    tag = browser.get("/console/index.html").header("ETag")
    assert tag
    reply = browser.get("/console/index.html", headers={"If-None-Match": tag})
    assert reply.status == 304 and reply.body == b""


@pytest.mark.parametrize(
    "name",
    ["..%2Fapp.py", "%2e%2e", "..", ".hidden.js", "missing.js", "app.py", "index.html%00.js", "~index.html"],
)
def test_nothing_but_a_file_of_the_console_is_served(browser, name):
    assert_problem(browser.get(f"/console/{name}"), 404, "not_found")


def test_the_pages_configuration_names_the_origin_it_was_reached_on(client, env):
    seed_issuer_key(os.environ["DATA_DIR"])
    reply = Browser(client, host="localhost:8123").get("/console/config.json")
    assert reply.status == 200 and reply.header("Cache-Control") == "no-store"
    origin = "http://localhost:8123"
    assert reply.json == {
        "apiUrl": origin,
        "streamUrl": None,
        "authority": origin,
        "clientId": LOCAL_CLIENT_ID,
        "scope": f"openid {API_SCOPE}",
        "redirectUri": f"{origin}/console/",
        "logoutUri": f"{origin}/console/",
    }


def test_a_request_without_a_usable_host_is_a_400_problem(client, env):
    assert_problem(Browser(client, host="bad host").get("/console/config.json"), 400, "bad_request")


# --- deployed: none of it ---------------------------------------------------------------------------

LOCAL_ONLY = [
    ("GET", "/"),
    ("GET", "/console"),
    ("GET", "/console/"),
    ("GET", "/console/index.html"),
    ("GET", "/console/config.json"),
    ("GET", "/oauth2/authorize"),
    ("POST", "/oauth2/authorize"),
    ("POST", "/oauth2/token"),
    ("GET", "/logout"),
]


@pytest.mark.parametrize(("method", "path"), LOCAL_ONLY)
def test_with_a_real_issuer_the_console_and_the_local_sign_in_are_404_problems(client, env, method, path):
    env(AUTH_ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example", AUTH_CLIENT_IDS="abc")
    assert_problem(Browser(client).request(method, path, form={}), 404, "not_found")
