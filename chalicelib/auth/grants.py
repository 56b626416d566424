"""What the local issuer's OAuth endpoints (chalicelib/web/oauth.py) remember between requests: authorization
codes (single-use, short-lived, bound to their client, redirect URI and PKCE challenge) and refresh tokens
(bound to their client and to the sign-in they refresh), each sign-in known to the browser that made it by a
cookie, so that its sign-out forgets that sign-in's refresh tokens.

Kept in a SQLite file next to the issuer's key pair (``$DATA_DIR/issuer/grants.db``), not in memory and not in
the app's store: ``chalice local`` serves each request on a thread and restarts the process whenever a source
file changes (its autoreload), and a sign-in must outlive both; the store may be DynamoDB Local, or off, and
these are the development issuer's state, not the app's data. Each call opens its own connection, so threads
and processes share nothing but the file; taking a code is one write transaction, so exactly one of two racing
token requests gets it. Only SHA-256 hashes of codes, refresh tokens and cookies are stored.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

GRANTS_FILE = "grants.db"
# An authorization code's life (Cognito's: five minutes), and a refresh token's (Cognito's default: 30 days).
CODE_TTL = 300
REFRESH_TTL = 30 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS codes (
    hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    challenge TEXT NOT NULL,
    username TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    origin_jti TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    browser TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    scope TEXT NOT NULL,
    origin_jti TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    browser TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refresh_by_sign_in ON refresh_tokens (origin_jti);
CREATE INDEX IF NOT EXISTS refresh_by_browser ON refresh_tokens (browser);
"""


class Grant(NamedTuple):
    """What a code or a refresh token stands for: who signed in, in which sign-in, for which client and scope."""

    client_id: str
    username: str
    scope: str
    origin_jti: str
    auth_time: int
    browser: str  # the hash of the sign-in's browser cookie
    redirect_uri: str = ""  # a code's only
    challenge: str = ""  # a code's only: its PKCE S256 challenge
    nonce: str | None = None  # a code's only: the OpenID nonce its ID token repeats


class Taken(NamedTuple):
    """The outcome of presenting a code: its grant, or None; ``replayed`` when it had been presented before."""

    grant: Grant | None
    replayed: bool = False


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class GrantStore:
    """The codes and refresh tokens of one local issuer, in ``directory`` (its data dir's ``issuer/``)."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, GRANTS_FILE)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.executescript(_SCHEMA)  # in a transaction of its own (executescript commits first)
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # --- codes --------------------------------------------------------------------------------------

    def add_code(self, code: str, grant: Grant, *, now: int) -> None:
        with self._transaction() as db:
            # Expired codes are of no use, used ones only to recognise a replay while they would have lived.
            db.execute("DELETE FROM codes WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO codes (hash, client_id, redirect_uri, challenge, username, scope, nonce, origin_jti,"
                " auth_time, browser, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest(code),
                    grant.client_id,
                    grant.redirect_uri,
                    grant.challenge,
                    grant.username,
                    grant.scope,
                    grant.nonce,
                    grant.origin_jti,
                    grant.auth_time,
                    grant.browser,
                    now + CODE_TTL,
                ),
            )

    def take_code(self, code: str, *, now: int) -> Taken:
        """The code's grant, once: the first presentation uses it up (whatever the request's other
        parameters), an expired or unknown code has none. A code presented again is a replay: the sign-in
        it started loses its refresh tokens (RFC 6749 section 4.1.2: the code may have leaked)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT client_id, username, scope, origin_jti, auth_time, browser, redirect_uri, challenge, nonce,"
                " expires_at, used FROM codes WHERE hash = ?",
                (digest(code),),
            ).fetchone()
            if row is None or row[9] <= now:
                return Taken(None)
            if row[10]:
                db.execute("DELETE FROM refresh_tokens WHERE origin_jti = ?", (row[3],))
                return Taken(None, replayed=True)
            db.execute("UPDATE codes SET used = 1 WHERE hash = ?", (digest(code),))
            return Taken(Grant(*row[:9]))

    # --- refresh tokens -----------------------------------------------------------------------------

    def add_refresh_token(self, token: str, grant: Grant, *, now: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO refresh_tokens (hash, client_id, username, scope, origin_jti, auth_time, browser,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest(token),
                    grant.client_id,
                    grant.username,
                    grant.scope,
                    grant.origin_jti,
                    grant.auth_time,
                    grant.browser,
                    now + REFRESH_TTL,
                ),
            )

    def refresh_grant(self, token: str, *, now: int) -> Grant | None:
        """The sign-in a refresh token keeps, or None (unknown, expired or forgotten)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT client_id, username, scope, origin_jti, auth_time, browser FROM refresh_tokens"
                " WHERE hash = ? AND expires_at > ?",
                (digest(token), now),
            ).fetchone()
        return None if row is None else Grant(*row)

    def forget_browser(self, browser: str) -> int:
        """Sign-out: forget the refresh tokens of the sign-in(s) this browser cookie (its hash) made."""
        with self._transaction() as db:
            return db.execute("DELETE FROM refresh_tokens WHERE browser = ?", (browser,)).rowcount
