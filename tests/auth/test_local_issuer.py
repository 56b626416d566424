"""The local development issuer: its key files, its Cognito-shaped tokens and its command line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest

from chalicelib.auth import local_issuer
from chalicelib.auth.local_issuer import OMIT
from chalicelib.auth.local_issuer import LocalIssuerDisabled
from chalicelib.auth.local_issuer import SignIn
from chalicelib.auth.local_issuer import build_claims
from chalicelib.auth.local_issuer import ensure_keys
from chalicelib.auth.local_issuer import issuer_dir
from chalicelib.auth.local_issuer import main
from chalicelib.auth.local_issuer import mint
from chalicelib.auth.local_issuer import sign_in
from chalicelib.auth.local_issuer import sign_in_of
from chalicelib.auth.local_issuer import sub_for
from chalicelib.auth.local_issuer import thumbprint
from chalicelib.auth.verifier import TokenVerifier
from chalicelib.settings import LOCAL_CLIENT_ID
from chalicelib.settings import LOCAL_ISSUER
from chalicelib.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path / ".data")})


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def verifier_for(settings: Settings) -> TokenVerifier:
    return TokenVerifier(settings.auth_issuer, settings.auth_client_ids, settings.auth_jwks_url)


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def clean_env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **extra}


# --- the key files ----------------------------------------------------------------------------------------


def test_first_use_creates_the_key_files_with_a_private_key_readable_only_by_its_owner(settings):
    directory = Path(issuer_dir(settings.data_dir))
    assert not directory.exists()
    mint("alice", settings=settings)
    assert files_in(directory) == ["jwks.json", "private_key.pem"]
    assert stat.S_IMODE((directory / "private_key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert settings.auth_jwks_url == "file://" + str(directory / "jwks.json")


def test_key_files_are_created_once(settings):
    directory = Path(issuer_dir(settings.data_dir))
    first = ensure_keys(str(directory))
    before = {
        name: ((directory / name).stat().st_ino, (directory / name).stat().st_mtime_ns, (directory / name).read_bytes())
        for name in files_in(directory)
    }
    mint("alice", settings=settings)
    mint("bob", settings=settings, token_use="id")
    assert ensure_keys(str(directory)).kid == first.kid
    after = {
        name: ((directory / name).stat().st_ino, (directory / name).stat().st_mtime_ns, (directory / name).read_bytes())
        for name in files_in(directory)
    }
    assert after == before


def test_jwks_publishes_only_the_public_key_under_its_thumbprint(settings):
    key = ensure_keys(issuer_dir(settings.data_dir))
    import json

    document = json.loads((Path(issuer_dir(settings.data_dir)) / "jwks.json").read_text())
    assert document == key.jwks
    [jwk] = document["keys"]
    assert set(jwk) == {"kty", "alg", "use", "kid", "n", "e"}
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
    assert jwk["kid"] == key.kid == thumbprint(jwk)
    assert key.private_key.key_size == 2048


def test_thumbprint_matches_rfc_7638_example():
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
            "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgd"
            "AZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur"
            "-kEgU8awapJzKnqDKgw"
        ),
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_deleted_key_pair_is_recreated_and_used(settings):
    import shutil

    first = ensure_keys(issuer_dir(settings.data_dir))
    shutil.rmtree(issuer_dir(settings.data_dir))
    token = mint("alice", settings=settings)
    second = ensure_keys(issuer_dir(settings.data_dir))
    assert second.kid != first.kid
    assert jwt.get_unverified_header(token)["kid"] == second.kid
    assert verifier_for(settings).verify(token).username == "alice"


def test_missing_jwks_is_rewritten_from_the_private_key(settings):
    key = ensure_keys(issuer_dir(settings.data_dir))
    jwks = Path(issuer_dir(settings.data_dir)) / "jwks.json"
    jwks.unlink()
    assert ensure_keys(issuer_dir(settings.data_dir)).kid == key.kid
    assert jwks.exists()


def test_corrupt_private_key_is_reported_not_replaced(settings):
    directory = Path(issuer_dir(settings.data_dir))
    directory.mkdir(parents=True)
    (directory / "private_key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n")
    with pytest.raises(RuntimeError, match="delete"):
        mint("alice", settings=settings)
    assert (directory / "private_key.pem").read_bytes().endswith(b"nope\n")


def test_losing_creator_keeps_the_winners_key(tmp_path):
    path = str(tmp_path / "private_key.pem")
    local_issuer._create_private_key(path)
    winner = Path(path).read_bytes()
    local_issuer._create_private_key(path)
    assert Path(path).read_bytes() == winner
    assert files_in(tmp_path) == ["private_key.pem"]


def test_without_hard_links_creation_is_still_exclusive_and_private(tmp_path, monkeypatch):
    def no_links(*args):
        raise PermissionError("no hard links here")

    monkeypatch.setattr(local_issuer.os, "link", no_links)
    path = str(tmp_path / "private_key.pem")
    local_issuer._create_private_key(path)
    winner = Path(path).read_bytes()
    local_issuer._create_private_key(path)
    assert Path(path).read_bytes() == winner
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert files_in(tmp_path) == ["private_key.pem"]


def test_concurrent_first_use_in_threads_ends_with_one_key(settings):
    directory = issuer_dir(settings.data_dir)
    barrier = threading.Barrier(8)
    numbers: list[object] = []

    def first_use():
        barrier.wait()
        # Bypasses the in-process lock on purpose: the files alone must settle the race.
        numbers.append(local_issuer._load_or_create_private_key(directory).private_numbers())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(numbers) == 8 and all(n == numbers[0] for n in numbers)
    assert files_in(Path(directory)) == ["private_key.pem"]


RACER = """
import sys, time
from chalicelib.settings import Settings
from chalicelib.auth.local_issuer import mint
settings = Settings.from_env({"DATA_DIR": sys.argv[1]})
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
print(mint(sys.argv[3], settings=settings))
"""


def test_concurrent_first_use_in_processes_ends_with_one_key_pair_verifying_every_token(settings):
    start = time.time() + 1.5  # all processes have imported everything by then, then race
    users = [f"user{n}" for n in range(4)]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, settings.data_dir, str(start), user],
            cwd=REPO,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user in users
    ]
    tokens = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        tokens.append(out.strip())
    directory = Path(issuer_dir(settings.data_dir))
    assert files_in(directory) == ["jwks.json", "private_key.pem"]
    assert len({jwt.get_unverified_header(token)["kid"] for token in tokens}) == 1
    verifier = verifier_for(settings)
    assert [verifier.verify(token).username for token in tokens] == users


# --- the tokens -----------------------------------------------------------------------------------------


def test_access_token_claims_are_cognito_shaped(settings):
    token = mint("alice", settings=settings, now=1_800_000_000)
    claims = claims_of(token)
    assert set(claims) == {
        "sub",
        "iss",
        "client_id",
        "token_use",
        "scope",
        "auth_time",
        "exp",
        "iat",
        "jti",
        "origin_jti",
        "username",
    }
    assert claims["sub"] == sub_for("alice")
    assert claims["iss"] == LOCAL_ISSUER
    assert claims["client_id"] == LOCAL_CLIENT_ID
    assert claims["token_use"] == "access"
    assert claims["scope"] == "aws.cognito.signin.user.admin"
    assert claims["auth_time"] == claims["iat"] == 1_800_000_000
    assert claims["exp"] == 1_800_003_600
    assert claims["username"] == "alice"
    uuid.UUID(claims["jti"])
    uuid.UUID(claims["origin_jti"])
    assert claims["origin_jti"] != claims["jti"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == ensure_keys(issuer_dir(settings.data_dir)).kid


def test_id_token_claims_are_cognito_shaped(settings):
    claims = claims_of(mint("bob", settings=settings, token_use="id", now=1_800_000_000, ttl=60))
    expected = {"sub", "iss", "aud", "token_use", "auth_time", "exp", "iat", "jti", "origin_jti", "cognito:username"}
    assert expected <= set(claims)
    assert claims["auth_time"] == 1_800_000_000
    uuid.UUID(claims["origin_jti"])
    assert "client_id" not in claims and "username" not in claims and "scope" not in claims
    assert (claims["aud"], claims["token_use"], claims["cognito:username"], claims["email"]) == (
        LOCAL_CLIENT_ID,
        "id",
        "bob",
        "bob@example.com",
    )
    assert claims["exp"] - claims["iat"] == 60


def test_sub_is_stable_per_user_name_and_distinct_between_users(settings, tmp_path):
    assert claims_of(mint("alice", settings=settings))["sub"] == claims_of(mint("alice", settings=settings))["sub"]
    assert claims_of(mint("alice", settings=settings))["sub"] != claims_of(mint("bob", settings=settings))["sub"]
    # Even across data dirs (a fresh checkout finds the same user's data in a shared store).
    elsewhere = Settings.from_env({"DATA_DIR": str(tmp_path / "other")})
    assert claims_of(mint("alice", settings=elsewhere))["sub"] == sub_for("alice")
    assert uuid.UUID(sub_for("alice")).version == 5


def test_jti_is_unique_per_token(settings):
    assert claims_of(mint("alice", settings=settings))["jti"] != claims_of(mint("alice", settings=settings))["jti"]


def test_each_mint_is_a_new_sign_in(settings):
    first = claims_of(mint("alice", settings=settings, now=1_800_000_000))
    second = claims_of(mint("alice", settings=settings, now=1_800_000_000))
    assert first["origin_jti"] != second["origin_jti"]
    assert first["auth_time"] == second["auth_time"] == 1_800_000_000


def test_tokens_of_one_sign_in_share_its_origin_jti_and_auth_time_on_both_kinds(settings):
    session = sign_in(1_800_000_000)
    access = claims_of(mint("alice", settings=settings, now=1_800_000_000, session=session))
    refreshed = claims_of(mint("alice", settings=settings, now=1_800_003_000, session=session))
    id_token = claims_of(mint("alice", settings=settings, token_use="id", now=1_800_003_000, session=session))
    for claims in (access, refreshed, id_token):
        assert (claims["origin_jti"], claims["auth_time"]) == session
    # What a refresh changes: the token's own id and times, never the sign-in's.
    assert refreshed["iat"] == 1_800_003_000 and refreshed["jti"] != access["jti"]


def test_the_sign_in_of_a_token_is_read_back_even_after_it_expired(settings):
    token = mint("alice", settings=settings, now=1_000_000_000, ttl=60)
    session = sign_in_of(token, settings=settings)
    assert session == SignIn(claims_of(token)["origin_jti"], 1_000_000_000)
    again = claims_of(mint("alice", settings=settings, session=session))
    assert (again["origin_jti"], again["auth_time"]) == session


def test_the_sign_in_of_a_token_this_issuer_did_not_sign_is_refused(settings, tmp_path):
    elsewhere = Settings.from_env({"DATA_DIR": str(tmp_path / "elsewhere")})
    with pytest.raises(jwt.InvalidSignatureError):
        sign_in_of(mint("alice", settings=elsewhere), settings=settings)
    with pytest.raises(jwt.MissingRequiredClaimError):
        sign_in_of(mint("alice", settings=settings, origin_jti=OMIT), settings=settings)


def test_explicit_sub_email_and_overrides(settings):
    claims = claims_of(
        mint(
            "alice",
            settings=settings,
            sub="custom-sub",
            email="a@x.test",
            iss="https://x",
            username="someone-else",
            extra=[1, 2],
            scope=OMIT,
            jti=None,
        )
    )
    assert claims["sub"] == "custom-sub"
    assert claims["email"] == "a@x.test"
    assert claims["iss"] == "https://x"
    assert claims["username"] == "someone-else"
    assert claims["extra"] == [1, 2]
    assert "scope" not in claims
    assert claims["jti"] is None


def test_build_claims_matches_what_mint_signs(settings):
    session = sign_in(1_799_000_000)
    claims = build_claims("alice", settings=settings, now=1_800_000_000, jti="fixed", session=session)
    assert claims_of(mint("alice", settings=settings, now=1_800_000_000, jti="fixed", session=session)) == claims


def test_minted_tokens_verify(settings):
    verifier = verifier_for(settings)
    assert verifier.verify(mint("alice", settings=settings)).username == "alice"
    caller = verifier.verify(mint("bob", settings=settings, token_use="id"))
    assert (caller.username, caller.email) == ("bob", "bob@example.com")


@pytest.mark.parametrize("username", ["", None, 42])
def test_username_must_be_a_non_empty_string(settings, username):
    with pytest.raises(ValueError):
        mint(username, settings=settings)


def test_mint_refuses_when_another_issuer_is_configured(tmp_path):
    foreign = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "AUTH_ISSUER": "https://cognito-idp.example/pool", "AUTH_CLIENT_IDS": "abc"}
    )
    with pytest.raises(LocalIssuerDisabled):
        mint("alice", settings=foreign)
    assert not (tmp_path / "issuer").exists()


def test_mint_without_settings_uses_the_environment(env, tmp_path):
    token = mint("alice")
    assert (tmp_path / ".data" / "issuer" / "jwks.json").exists()
    assert verifier_for(Settings.from_env({"DATA_DIR": str(tmp_path / ".data")})).verify(token).username == "alice"


# --- the command line -----------------------------------------------------------------------------------------


def test_cli_prints_only_a_token_that_verifies(tmp_path):
    data_dir = str(tmp_path / ".data")
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.auth.local_issuer", "alice"],
        cwd=REPO,
        env=clean_env(DATA_DIR=data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and result.stdout == lines[0] + "\n"
    caller = verifier_for(Settings.from_env({"DATA_DIR": data_dir})).verify(lines[0])
    assert (caller.username, caller.token_use) == ("alice", "access")


def test_cli_id_token_and_ttl(env, tmp_path, capsys):
    assert main(["bob", "--id", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    claims = claims_of(token)
    assert (claims["token_use"], claims["cognito:username"], claims["exp"] - claims["iat"]) == ("id", "bob", 120)
    assert (
        verifier_for(Settings.from_env({"DATA_DIR": str(tmp_path / ".data")})).verify(token).email == "bob@example.com"
    )


def test_cli_refresh_mints_a_token_of_the_same_sign_in(env, tmp_path, capsys):
    assert main(["alice"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["alice", "--id", "--refresh", first]) == 0
    refreshed = capsys.readouterr().out.strip()
    assert main(["alice"]) == 0
    fresh = capsys.readouterr().out.strip()
    verifier = verifier_for(Settings.from_env({"DATA_DIR": str(tmp_path / ".data")}))
    first_caller, refreshed_caller, fresh_caller = (verifier.verify(t) for t in (first, refreshed, fresh))
    assert refreshed_caller.token_use == "id"
    assert refreshed_caller.session == first_caller.session
    assert refreshed_caller.signed_in_at == first_caller.signed_in_at
    assert fresh_caller.session not in (None, first_caller.session)


def test_cli_refresh_refuses_what_is_not_its_token_without_echoing_it(env, capsys):
    assert main(["alice", "--refresh", "not.a-token.SECRETISH"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--refresh" in captured.err and "SECRETISH" not in captured.err


@pytest.mark.parametrize("ttl", ["0", "-5", "soon", "1.5"])
def test_cli_rejects_a_bad_ttl(env, ttl, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bob", "--ttl", ttl])
    assert exited.value.code == 2
    assert capsys.readouterr().out == ""


def test_cli_refuses_a_foreign_issuer(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.auth.local_issuer", "alice"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(
            DATA_DIR=str(tmp_path),
            AUTH_ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
            AUTH_CLIENT_IDS="client-1",
        ),
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "AUTH_ISSUER" in result.stderr
    assert not (tmp_path / "issuer").exists()


def test_cli_refuses_a_foreign_issuer_even_when_its_configuration_is_incomplete(env, capsys):
    env(AUTH_ISSUER="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc")
    assert main(["alice"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "AUTH_ISSUER" in captured.err
