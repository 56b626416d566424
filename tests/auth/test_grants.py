"""The local issuer's codes and refresh tokens (chalicelib/auth/grants.py): in a file every thread and every
restart of `chalice local` sees, a code taken once however many race for it, only hashes on disk; and the
lifetime setting of the tokens its OAuth endpoints mint."""

from __future__ import annotations

import threading

import pytest

from chalicelib.auth.grants import CODE_TTL
from chalicelib.auth.grants import GRANTS_FILE
from chalicelib.auth.grants import REFRESH_TTL
from chalicelib.auth.grants import Grant
from chalicelib.auth.grants import GrantStore
from chalicelib.auth.grants import digest
from chalicelib.settings import DEFAULT_LOCAL_TOKEN_TTL
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings

NOW = 1_800_000_000
GRANT = Grant(
    client_id="local-dev-client",
    username="alice",
    scope="openid tasks-api/api",
    origin_jti="sign-in-1",
    auth_time=NOW,
    browser=digest("cookie-1"),
    redirect_uri="http://127.0.0.1:8000/console/",
    challenge="c" * 43,
)


def test_a_code_is_taken_by_exactly_one_of_many_racing_requests(tmp_path):
    GrantStore(str(tmp_path)).add_code("the-code", GRANT, now=NOW)
    start = threading.Barrier(8)
    taken: list[Grant | None] = []

    def present() -> None:
        store = GrantStore(str(tmp_path))  # each its own connection, as each request thread has
        start.wait()
        taken.append(store.take_code("the-code", now=NOW).grant)

    threads = [threading.Thread(target=present) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [grant for grant in taken if grant is not None] == [GRANT]


def test_codes_and_refresh_tokens_outlive_the_process_that_made_them(tmp_path):
    GrantStore(str(tmp_path)).add_code("the-code", GRANT, now=NOW)
    GrantStore(str(tmp_path)).add_refresh_token("the-refresh-token", GRANT, now=NOW)
    restarted = GrantStore(str(tmp_path))  # `chalice local` reloaded: a new process on the same files
    assert restarted.take_code("the-code", now=NOW + 1).grant == GRANT
    kept = restarted.refresh_grant("the-refresh-token", now=NOW + REFRESH_TTL - 1)
    assert kept == GRANT._replace(redirect_uri="", challenge="", nonce=None)


def test_a_code_and_a_refresh_token_expire(tmp_path):
    store = GrantStore(str(tmp_path))
    store.add_code("the-code", GRANT, now=NOW)
    store.add_refresh_token("the-refresh-token", GRANT, now=NOW)
    assert store.take_code("the-code", now=NOW + CODE_TTL).grant is None
    assert store.refresh_grant("the-refresh-token", now=NOW + REFRESH_TTL) is None


def test_a_replayed_code_revokes_its_sign_ins_refresh_tokens_and_a_sign_out_its_browsers(tmp_path):
    store = GrantStore(str(tmp_path))
    store.add_code("the-code", GRANT, now=NOW)
    store.add_refresh_token("first", GRANT, now=NOW)
    other = GRANT._replace(origin_jti="sign-in-2", browser=digest("cookie-2"))
    store.add_refresh_token("second", other, now=NOW)
    assert store.take_code("the-code", now=NOW).grant is not None
    assert store.take_code("the-code", now=NOW) == (None, True)
    assert store.refresh_grant("first", now=NOW) is None
    assert store.refresh_grant("second", now=NOW) is not None
    assert store.forget_browser(digest("cookie-2")) == 1
    assert store.refresh_grant("second", now=NOW) is None


def test_only_hashes_of_codes_refresh_tokens_and_cookies_are_written(tmp_path):
    store = GrantStore(str(tmp_path))
    store.add_code("code-secret-value", GRANT._replace(browser=digest("cookie-secret-value")), now=NOW)
    store.add_refresh_token("refresh-secret-value", GRANT, now=NOW)
    written = (tmp_path / GRANTS_FILE).read_bytes()
    assert b"secret-value" not in written
    assert digest("code-secret-value").encode() in written


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5", "9999999999"])
def test_the_local_token_lifetime_is_a_positive_whole_number_of_seconds(value):
    assert Settings.from_env({}).local_token_ttl == DEFAULT_LOCAL_TOKEN_TTL == 3600
    assert Settings.from_env({"LOCAL_TOKEN_TTL": " 90 "}).local_token_ttl == 90
    with pytest.raises(ConfigError, match="LOCAL_TOKEN_TTL"):
        Settings.from_env({"LOCAL_TOKEN_TTL": value})
