"""The local development issuer's OAuth endpoints, shaped as Cognito's hosted UI ones, so the console signs
in locally exactly as it does deployed (docs/DESIGN.md "The console's sign-in"): the authorization code
grant with PKCE (S256 only, required), on the API's own origin.

- ``GET /oauth2/authorize``: the sign-in page, one field ("Sign in as": any name; the same name is always the
  same user, as ``python -m chalicelib.auth.local_issuer <name>``), the OAuth parameters hidden in the form.
  ``POST /oauth2/authorize``: a new sign-in, then ``302`` to ``redirect_uri?code=...&state=...``.
- ``POST /oauth2/token`` (form-encoded): ``authorization_code`` (the code, its client, its redirect URI and the
  PKCE verifier of its challenge) answers an access token (the granted scopes, the API's among them), an ID
  token (with ``openid``) and a refresh token; ``refresh_token`` answers new access and ID tokens of the same
  sign-in (Cognito's ``origin_jti`` and ``auth_time``, so the app counts no new sign-in). Errors are RFC 6749's
  JSON (``400 {"error": ...}``), never a problem document: the client is an OAuth client.
- ``GET /logout?client_id=...&logout_uri=...``: forgets the refresh tokens of the sign-in this browser made
  (its cookie), then ``302`` to ``logout_uri``.

Before a redirect URI is trusted the request fails as a ``400`` problem (there is nowhere safe to send the
browser); after, an OAuth error goes back to it (``?error=...&state=...``), as RFC 6749 section 4.1.2.1 says.
A redirect or logout URI must be on the request's own origin or one of CORS_ALLOW_ORIGINS (a page on another
origin needs that to call the API anyway). Tokens live LOCAL_TOKEN_TTL seconds; codes five minutes, once.
Codes and refresh tokens are kept in ``$DATA_DIR/issuer/grants.db`` (chalicelib/auth/grants.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import unicodedata
from collections.abc import Mapping
from typing import Any
from typing import NamedTuple
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from chalice.app import Request
from chalice.app import Response

from chalicelib import wiring
from chalicelib.auth import local_issuer
from chalicelib.auth.grants import REFRESH_TTL
from chalicelib.auth.grants import Grant
from chalicelib.auth.grants import GrantStore
from chalicelib.auth.grants import digest
from chalicelib.errors import BadRequest
from chalicelib.protocol import context
from chalicelib.settings import Settings
from chalicelib.vocabulary import API_SCOPE
from chalicelib.vocabulary import OAUTH_AUTHORIZE_PATH
from chalicelib.web.console import header
from chalicelib.web.console import local_settings
from chalicelib.web.console import request_origin
from chalicelib.web.responses import Verbatim
from chalicelib.web.responses import endpoint

# The scopes the local client may ask for: the stack's app client's (cloudformation/transforms/cognito.py).
ALLOWED_SCOPES = ("openid", "email", API_SCOPE)
# The cookie that tells which sign-in a browser made, so that its sign-out forgets it (Cognito's hosted UI
# keeps a session cookie of its own on its domain; locally the domain is the API's).
COOKIE = "local_issuer_sign_in"
MAX_USERNAME = 128
MAX_PARAMETER = 2048
# RFC 7636: a verifier is 43-128 unreserved characters; an S256 challenge is its SHA-256 in base64url, 43.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
FORM = "application/x-www-form-urlencoded"
# OAuth's parameters of an authorization request, carried through the sign-in form.
AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


class OAuthError(Exception):
    """An OAuth error response (RFC 6749 sections 4.1.2.1 and 5.2): its ``error`` code and description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class Authorization(NamedTuple):
    """A checked authorization request."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    challenge: str


def grants() -> GrantStore:
    return wiring.services().local_grants


def _now() -> int:
    return int(wiring.services().clock())


# --- /oauth2/authorize ----------------------------------------------------------------------------


@endpoint
def authorize() -> Response:
    request: Request = context.current().request
    settings = local_settings()
    origin = request_origin(request)
    if request.method == "GET":
        params = _single(_query(request))
        try:
            checked = _authorization(params, origin, settings)
        except _Redirect as redirect:
            return redirect.response()
        return _page(params, checked)
    fields = _single(_form_fields(request))
    try:
        checked = _authorization(fields, origin, settings)
    except _Redirect as redirect:
        return redirect.response()
    username = " ".join(fields.get("username", "").split())
    if not username or len(username) > MAX_USERNAME or any(unicodedata.category(c)[0] == "C" for c in username):
        return _page(fields, checked, error=f"Enter a name of 1 to {MAX_USERNAME} characters to sign in as.")
    now = _now()
    session = local_issuer.sign_in(now)
    # The browser's one secret across its sign-ins (kept, its cookie renewed), so signing out forgets them all.
    browser = _cookie(request, COOKIE) or secrets.token_urlsafe(32)
    code = secrets.token_urlsafe(32)
    grants().add_code(
        code,
        Grant(
            client_id=checked.client_id,
            username=username,
            scope=checked.scope,
            origin_jti=session.origin_jti,
            auth_time=session.auth_time,
            browser=digest(browser),
            redirect_uri=checked.redirect_uri,
            challenge=checked.challenge,
            nonce=checked.nonce,
        ),
        now=now,
    )
    answer = {"code": code, **({"state": checked.state} if checked.state is not None else {})}
    return _redirect_to(
        checked.redirect_uri,
        answer,
        cookie=f"{COOKIE}={browser}; Path=/; Max-Age={REFRESH_TTL}; HttpOnly; SameSite=Lax",
    )


class _Redirect(Exception):
    """An authorization error sent back to the (checked) redirect URI."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri, self.state, self.error, self.description = redirect_uri, state, error, description

    def response(self) -> Response:
        answer = {"error": self.error, "error_description": self.description}
        if self.state is not None:
            answer["state"] = self.state
        return _redirect_to(self.redirect_uri, answer)


def _authorization(params: Mapping[str, str], origin: str, settings: Settings) -> Authorization:
    client_id = params.get("client_id", "")
    if client_id not in settings.auth_client_ids:
        raise BadRequest("client_id names no client of the local issuer")
    redirect_uri = params.get("redirect_uri", "")
    if not _allowed(redirect_uri, origin, settings):
        raise BadRequest("redirect_uri must be a URL on this origin (or one of CORS_ALLOW_ORIGINS), without fragment")
    state = params.get("state")
    if state is not None and len(state) > MAX_PARAMETER:
        raise _Redirect(redirect_uri, None, "invalid_request", "state is too long")

    def fail(error: str, description: str) -> _Redirect:
        return _Redirect(redirect_uri, state, error, description)

    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "response_type must be code")
    if params.get("code_challenge_method") != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256 (PKCE is required)")
    challenge = params.get("code_challenge", "")
    if not _CHALLENGE.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier")
    requested = params.get("scope", "").split()
    if any(scope not in ALLOWED_SCOPES for scope in requested):
        raise fail("invalid_scope", f"the scopes this client may ask for: {' '.join(ALLOWED_SCOPES)}")
    # No scope asked: all the client may have (Cognito's rule); in the order asked, each once.
    scope = " ".join(dict.fromkeys(requested or ALLOWED_SCOPES))
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > MAX_PARAMETER:
        raise fail("invalid_request", "nonce is too long")
    return Authorization(client_id, redirect_uri, scope, state, nonce, challenge)


def _allowed(url: str, origin: str, settings: Settings) -> bool:
    """Whether the browser may be sent to ``url``: an http(s) URL on this origin or an allowed one."""
    if not url or len(url) > MAX_PARAMETER or any(c.isspace() or ord(c) < 0x20 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc or parts.fragment:
        return False
    if "#" in url:
        return False
    allowed = {origin.lower(), *(o.rstrip("/").lower() for o in settings.cors_allow_origins)}
    return f"{parts.scheme}://{parts.netloc}".lower() in allowed


def _redirect_to(url: str, params: Mapping[str, str], *, cookie: str | None = None) -> Response:
    location = url + ("&" if urlsplit(url).query else ("" if url.endswith("?") else "?")) + urlencode(params)
    headers: dict[str, str | list[str]] = {"Location": location, "Cache-Control": "no-store"}
    if cookie is not None:
        headers["Set-Cookie"] = cookie
    return Verbatim(body="", status_code=302, headers=headers)


_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:1rem;color:#1b1b1b;background:#f6f7f9}"
    "main{max-width:24rem;margin:3rem auto;padding:1.5rem;background:#fff;border:1px solid #c9ccd1;"
    "border-radius:.5rem}h1{font-size:1.5rem;margin-top:0}label{display:block;font-weight:600}"
    "input{box-sizing:border-box;width:100%;font:inherit;padding:.5rem;margin:.25rem 0 1rem;"
    "border:1px solid #5c6370;border-radius:.25rem}button{font:inherit;padding:.5rem 1rem;color:#fff;"
    "background:#0b5cad;border:0;border-radius:.25rem;cursor:pointer}"
    ":focus-visible{outline:3px solid #f2a900;outline-offset:2px}"
    ".error{color:#a4000f;font-weight:600}.note{color:#4a4f57;font-size:.875rem}"
)


def _page(params: Mapping[str, str], checked: Authorization, *, error: str | None = None) -> Response:
    """The sign-in page: an accessible form (a labelled field, its error announced and tied to it)."""
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
        for name in AUTHORIZE_PARAMETERS
        if name in params
    )
    username = html.escape(" ".join(params.get("username", "").split())[:MAX_USERNAME])
    described = ' aria-invalid="true" aria-describedby="username-error"' if error else ""
    message = f'<p id="username-error" class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Sign in - local development issuer</title><style>{_STYLE}</style></head>"
        f'<body><main><h1>Sign in</h1><form method="post" action="{OAUTH_AUTHORIZE_PATH}">{hidden}{message}'
        '<label for="username">Sign in as</label>'
        f'<input id="username" name="username" type="text" autocomplete="username" required autofocus '
        f'maxlength="{MAX_USERNAME}" value="{username}"{described}>'
        '<button type="submit">Sign in</button></form>'
        '<p class="note">The local development issuer: any name signs in, and the same name is always the same '
        f"user. Signing in to {html.escape(urlsplit(checked.redirect_uri).netloc)}.</p></main></body></html>"
    )
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # Nothing but its own inline style; never framed (a sign-in page).
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    }
    return Verbatim(body=body, status_code=400 if error else 200, headers=headers)


# --- /oauth2/token --------------------------------------------------------------------------------


@endpoint
def token() -> Response:
    request: Request = context.current().request
    settings = local_settings()
    try:
        return _token(request, settings)
    except OAuthError as error:
        return _oauth_json({"error": error.error, "error_description": error.description}, 400)


def _token(request: Request, settings: Settings) -> Response:
    content_type = header(request, "content-type") or ""
    if content_type.split(";")[0].strip().lower() != FORM:
        raise OAuthError("invalid_request", f"the token request must be {FORM}")
    try:
        fields = _single(_form_fields(request))
    except BadRequest as error:
        raise OAuthError("invalid_request", error.detail or "malformed form") from None
    grant_type = fields.get("grant_type")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
    client_id = fields.get("client_id")
    if not client_id:
        raise OAuthError("invalid_request", "client_id is required")
    if client_id not in settings.auth_client_ids:
        raise OAuthError("invalid_client", "client_id names no client of the local issuer")
    store = grants()
    now = _now()
    if grant_type == "refresh_token":
        refresh_token = fields.get("refresh_token")
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        grant = store.refresh_grant(refresh_token, now=now)
        if grant is None or grant.client_id != client_id:
            raise OAuthError("invalid_grant", "the refresh token is unknown, expired, revoked or another client's")
        return _tokens(grant, settings, now)
    missing = [name for name in ("code", "redirect_uri", "code_verifier") if not fields.get(name)]
    if missing:
        raise OAuthError("invalid_request", f"{', '.join(missing)} required")
    verifier = fields["code_verifier"]
    if not _VERIFIER.fullmatch(verifier):
        raise OAuthError("invalid_request", "code_verifier must be 43-128 unreserved characters (RFC 7636)")
    # Used up by this request, whatever follows: a code is presented once.
    taken = store.take_code(fields["code"], now=now)
    grant = taken.grant
    if grant is None:
        raise OAuthError("invalid_grant", "the code is unknown, expired or already used")
    if grant.client_id != client_id:
        raise OAuthError("invalid_grant", "the code was issued to another client")
    if grant.redirect_uri != fields["redirect_uri"]:
        raise OAuthError("invalid_grant", "redirect_uri is not the one the code was issued for")
    if not hmac.compare_digest(_s256(verifier), grant.challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code challenge")
    refresh_token = secrets.token_urlsafe(48)
    store.add_refresh_token(refresh_token, grant, now=now)
    return _tokens(grant, settings, now, refresh_token=refresh_token)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _tokens(grant: Grant, settings: Settings, now: int, *, refresh_token: str | None = None) -> Response:
    """Cognito's token response: tokens of ``grant``'s sign-in, issued at ``now``."""
    ttl = settings.local_token_ttl
    session = local_issuer.SignIn(grant.origin_jti, grant.auth_time)
    common: dict[str, Any] = {"settings": settings, "ttl": ttl, "now": now, "session": session}
    body: dict[str, Any] = {
        "access_token": local_issuer.mint(grant.username, client_id=grant.client_id, scope=grant.scope, **common)
    }
    if "openid" in grant.scope.split():
        nonce = grant.nonce if grant.nonce is not None else local_issuer.OMIT
        body["id_token"] = local_issuer.mint(grant.username, token_use="id", aud=grant.client_id, nonce=nonce, **common)
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    body.update({"expires_in": ttl, "token_type": "Bearer"})
    return _oauth_json(body, 200)


def _oauth_json(body: Mapping[str, Any], status: int) -> Response:
    # RFC 6749 section 5.1: token responses are never cached.
    headers: dict[str, str | list[str]] = {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }
    return Verbatim(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=headers)


# --- /logout --------------------------------------------------------------------------------------


@endpoint
def logout() -> Response:
    request: Request = context.current().request
    settings = local_settings()
    params = _single(_query(request))
    if params.get("client_id") not in settings.auth_client_ids:
        raise BadRequest("client_id names no client of the local issuer")
    logout_uri = params.get("logout_uri", "")
    if not _allowed(logout_uri, request_origin(request), settings):
        raise BadRequest("logout_uri must be a URL on this origin (or one of CORS_ALLOW_ORIGINS), without fragment")
    browser = _cookie(request, COOKIE)
    if browser:
        grants().forget_browser(digest(browser))
    headers: dict[str, str | list[str]] = {
        "Location": logout_uri,
        "Cache-Control": "no-store",
        "Set-Cookie": f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
    }
    return Verbatim(body="", status_code=302, headers=headers)


# --- parsing --------------------------------------------------------------------------------------


def _query(request: Request) -> dict[str, list[str]]:
    params: Any = request.query_params
    return {name: params.getlist(name) for name in params} if params else {}


def _form_fields(request: Request) -> dict[str, list[str]]:
    try:
        raw = request.raw_body or b""
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return parse_qs(text, keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The body must be a form (application/x-www-form-urlencoded, UTF-8)") from None


def _single(fields: Mapping[str, list[str]]) -> dict[str, str]:
    """Each parameter once (RFC 6749 section 3.1: a parameter sent twice makes the request invalid)."""
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        raise BadRequest(f"Parameters sent more than once: {', '.join(repeated)[:200]}")
    return {name: values[0] for name, values in fields.items()}


def _cookie(request: Request, name: str) -> str | None:
    for part in (header(request, "cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
