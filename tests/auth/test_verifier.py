"""The token verifier and ``authenticate``: every attack is a 401 (``Unauthorized``), nothing else escapes."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from chalicelib.auth import Caller
from chalicelib.auth import authenticate
from chalicelib.auth.local_issuer import OMIT
from chalicelib.auth.local_issuer import build_claims
from chalicelib.auth.local_issuer import ensure_keys
from chalicelib.auth.local_issuer import issuer_dir
from chalicelib.auth.local_issuer import mint
from chalicelib.auth.local_issuer import sign_in
from chalicelib.auth.local_issuer import sub_for
from chalicelib.auth.verifier import REFETCH_INTERVAL
from chalicelib.auth.verifier import TokenVerifier
from chalicelib.auth.verifier import get_verifier
from chalicelib.errors import Unauthorized
from chalicelib.settings import LOCAL_CLIENT_ID
from chalicelib.settings import LOCAL_ISSUER
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from chalicelib.vocabulary import REJECTION_REASONS
from tests.support.invoke import GATEWAY_SHAPES
from tests.support.invoke import gateway_event
from tests.support.tokens import CountingFetch
from tests.support.tokens import encode_jws

REPO = Path(__file__).resolve().parents[2]


def rejects(verifier: TokenVerifier, token, detail: str | None = None, reason: str | None = None) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    if detail is not None:
        assert caught.value.detail == detail
    # Every refusal names why, in the vocabulary's words (what the SignInFailures metric counts by).
    assert caught.value.reason in REJECTION_REASONS
    if reason is not None:
        assert caught.value.reason == reason
    return caught.value


@pytest.fixture
def verifier(make_verifier, fake_clock, counting_fetch) -> TokenVerifier:
    return make_verifier(clock=fake_clock, fetch=counting_fetch)


@pytest.fixture
def token_at(make_token, fake_clock):
    """Tokens minted at the fake clock's time."""

    def make(username: str = "alice", /, **kwargs) -> str:
        kwargs.setdefault("now", int(fake_clock.now))
        return make_token(username, **kwargs)

    return make


# --- what is accepted -------------------------------------------------------------------------------


def test_access_token_from_local_issuer_verifies(verifier, token_at):
    session = sign_in(1_799_990_000)
    caller = verifier.verify(token_at("alice", session=session))
    assert caller == Caller(
        sub=sub_for("alice"),
        username="alice",
        email=None,
        token_use="access",
        client_id=LOCAL_CLIENT_ID,
        session=session.origin_jti,
        signed_in_at=1_799_990_000,
    )


def test_id_token_from_local_issuer_verifies_with_email_and_audience(verifier, token_at):
    session = sign_in(1_799_990_000)
    caller = verifier.verify(token_at("bob", token_use="id", session=session))
    assert caller == Caller(
        sub=sub_for("bob"),
        username="bob",
        email="bob@example.com",
        token_use="id",
        client_id=LOCAL_CLIENT_ID,
        session=session.origin_jti,
        signed_in_at=1_799_990_000,
    )


# --- the sign-in session a token belongs to ------------------------------------------------------------------


def test_both_token_kinds_of_one_sign_in_give_the_same_session(verifier, token_at, fake_clock):
    session = sign_in(int(fake_clock.now) - 7200)  # signed in two hours ago, refreshed since
    access, id_token = (verifier.verify(token_at(token_use=use, session=session)) for use in ("access", "id"))
    assert (access.session, access.signed_in_at) == (id_token.session, id_token.signed_in_at) == session


def test_two_sign_ins_are_two_sessions(verifier, token_at):
    first, second = verifier.verify(token_at()), verifier.verify(token_at())
    assert None not in (first.session, second.session) and first.session != second.session


def test_a_caller_constructed_without_a_session_has_none():
    caller = Caller(sub="s", username="u", email=None, token_use="access", client_id="c")
    assert (caller.session, caller.signed_in_at) == (None, None)


@pytest.mark.parametrize(
    "origin_jti",
    [OMIT, "", "x" * 129, "tab\tin", "new\nline", "nul\x00", "sp ace", "caf\u00e9", 42, None, ["a"], True],
    ids=repr,
)
def test_an_unusable_origin_jti_is_no_session_and_refuses_nothing(verifier, token_at, origin_jti):
    caller = verifier.verify(token_at(origin_jti=origin_jti))
    assert caller.session is None and caller.username == "alice"


@pytest.mark.parametrize(
    "auth_time",
    [
        OMIT,
        None,
        True,
        False,
        1.8e9,
        1_800_000_000.5,
        "",
        "soon",
        "-5",
        "1e9",
        "\uff11\uff18" + "\uff10" * 8,
        -1,
        0,
        946_684_799,
        4_102_444_800,
        2**63,
        [1_800_000_000],
        {"t": 1},
    ],
    ids=repr,
)
def test_an_unusable_auth_time_is_no_sign_in_time_and_refuses_nothing(verifier, token_at, auth_time):
    caller = verifier.verify(token_at(auth_time=auth_time))
    assert caller.signed_in_at is None and caller.session is not None


def test_the_edges_of_a_plausible_sign_in_time(verifier, token_at):
    assert verifier.verify(token_at(auth_time=946_684_800)).signed_in_at == 946_684_800
    assert verifier.verify(token_at(auth_time=4_102_444_799)).signed_in_at == 4_102_444_799
    assert verifier.verify(token_at(origin_jti="x" * 128)).session == "x" * 128


def test_minted_token_verifies_with_real_clock_and_jwks_file(auth_settings, make_verifier):
    token = mint("carol", settings=auth_settings)
    assert make_verifier().verify(token).username == "carol"


def test_token_as_bytes_verifies(verifier, token_at):
    token = token_at("alice")
    assert verifier.verify(token.encode()).username == "alice"
    assert verifier.verify(bytearray(token.encode())).username == "alice"


def test_username_is_informative_and_falls_back_to_sub(verifier, token_at):
    caller = verifier.verify(token_at("alice", username=OMIT))
    assert caller.sub == sub_for("alice") and caller.username == sub_for("alice")


def test_longest_allowed_sub_and_unicode_sub_accepted(verifier, token_at):
    assert verifier.verify(token_at(sub="s" * 128)).sub == "s" * 128
    assert verifier.verify(token_at(sub="jöhn-ünïcode")).sub == "jöhn-ünïcode"


def test_client_list_allows_each_listed_client(make_token, auth_settings, issuer_key, fake_clock):
    verifier = TokenVerifier(
        auth_settings.auth_issuer,
        ("web", LOCAL_CLIENT_ID),
        "file:///unused",
        clock=fake_clock,
        fetch=CountingFetch(issuer_key.jwks),
    )
    assert verifier.verify(make_token(now=int(fake_clock.now), client_id="web")).client_id == "web"
    assert verifier.verify(make_token(now=int(fake_clock.now), token_use="id", aud="web")).client_id == "web"


# --- algorithms: decided from the header, before any key is looked up ---------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_rejected(verifier, counting_fetch, token_at, alg):
    rejects(verifier, token_at(alg=alg), "token algorithm must be RS256")
    assert counting_fetch.calls == 0


def test_alg_none_with_valid_rs256_signature_still_rejected(verifier, token_at, issuer_key):
    # Header says none, signature is a real RS256 one over the same input: still refused.
    real = token_at()
    _, payload, signature = real.split(".")
    forged_header = encode_jws({"alg": "none", "kid": issuer_key.kid}, b"").split(".")[0]
    rejects(verifier, f"{forged_header}.{payload}.{signature}")


def test_hs256_signed_with_public_key_pem_as_secret_rejected(verifier, counting_fetch, token_at):
    rejects(verifier, token_at(alg="HS256"), "token algorithm must be RS256")
    assert counting_fetch.calls == 0


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_with_public_jwk_json_as_secret_rejected(verifier, token_at, issuer_key, alg):
    secret = json.dumps(issuer_key.jwks["keys"][0]).encode()
    rejects(verifier, token_at(alg=alg, key=secret), "token algorithm must be RS256")


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS384", "PS512"])
def test_other_rsa_algorithms_rejected_even_with_the_right_key(verifier, counting_fetch, token_at, alg):
    rejects(verifier, token_at(alg=alg), "token algorithm must be RS256")
    assert counting_fetch.calls == 0


@pytest.mark.parametrize("alg", ["rs256", "RS256 ", "ES256", "EdDSA", "", None, 256, ["RS256"], {"RS256": 1}])
def test_odd_alg_values_rejected(verifier, forge_token, token_at, issuer_key, alg):
    _, payload, signature = token_at().split(".")
    header = forge_token({"alg": alg, "kid": issuer_key.kid}, b"").split(".")[0]
    rejects(verifier, f"{header}.{payload}.{signature}")


def test_missing_alg_rejected(verifier, token_at):
    rejects(verifier, token_at(header={"alg": OMIT}))


# --- key ids and the key cache ---------------------------------------------------------------------------


def test_missing_kid_rejected(verifier, counting_fetch, token_at):
    rejects(verifier, token_at(kid=OMIT), "token has no key id")
    assert counting_fetch.calls == 0


@pytest.mark.parametrize("kid", ["", 7, ["k"], {"k": 1}, True])
def test_empty_or_non_string_kid_rejected(verifier, token_at, kid):
    rejects(verifier, token_at(header={"kid": kid}))


def test_unknown_kid_refetches_at_most_once_per_minute(verifier, counting_fetch, token_at, fake_clock):
    assert verifier.verify(token_at()).username == "alice"
    assert counting_fetch.calls == 1
    for n in range(5):
        rejects(verifier, token_at(kid=f"unknown-{n}"), "unknown signing key")
        fake_clock.advance(10)
    # 50 s after the first fetch: still inside the window, so no fetch at all.
    assert counting_fetch.calls == 1
    fake_clock.advance(REFETCH_INTERVAL)
    rejects(verifier, token_at(kid="unknown-late"), "unknown signing key")
    assert counting_fetch.calls == 2
    rejects(verifier, token_at(kid="unknown-again"), "unknown signing key")
    assert counting_fetch.calls == 2
    # Known keys keep verifying without any fetch.
    assert verifier.verify(token_at()).username == "alice"
    assert counting_fetch.calls == 2


def test_unknown_kid_on_cold_cache_fetches_once(verifier, counting_fetch, token_at):
    rejects(verifier, token_at(kid="never-published"), "unknown signing key")
    rejects(verifier, token_at(kid="never-published"), "unknown signing key")
    assert counting_fetch.calls == 1


def test_rotated_key_is_picked_up_on_the_next_window(
    verifier, counting_fetch, token_at, issuer_key, other_key, fake_clock
):
    verifier.verify(token_at())
    new_jwk = {**RSAAlgorithm.to_jwk(other_key.public_key(), as_dict=True), "kid": "rotated", "use": "sig"}
    counting_fetch.document = {"keys": [*issuer_key.jwks["keys"], new_jwk]}
    fake_clock.advance(REFETCH_INTERVAL + 1)
    assert verifier.verify(token_at(kid="rotated", key=other_key, now=int(fake_clock.now))).username == "alice"
    assert counting_fetch.calls == 2


def test_signed_by_another_key_under_a_known_kid_rejected(verifier, token_at, other_key):
    rejects(verifier, token_at(key=other_key), "token signature is invalid")


def test_tampered_payload_rejected(verifier, token_at, forge_token, auth_settings):
    header, _, signature = token_at("alice").split(".")
    mallory = forge_token({}, build_claims("mallory", settings=auth_settings)).split(".")[1]
    rejects(verifier, f"{header}.{mallory}.{signature}", "token signature is invalid")


def test_tampered_signature_rejected(verifier, token_at):
    header, payload, signature = token_at().split(".")
    flipped = "A" if signature[10] != "A" else "B"
    rejects(verifier, f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}")
    rejects(verifier, f"{header}.{payload}.")


def test_short_rsa_key_in_jwks_rejected(make_verifier, token_at, fake_clock):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = {"keys": [{**RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True), "kid": "weak"}]}
    verifier = make_verifier(clock=fake_clock, fetch=CountingFetch(jwks))
    rejects(verifier, token_at(kid="weak", key=weak))


@pytest.mark.parametrize(
    "change", [{"alg": "RS512"}, {"use": "enc"}, {"kty": "EC"}, {"kid": 5}, {"n": "!!!"}, {"e": OMIT}]
)
def test_unusable_jwks_entries_are_skipped(make_verifier, token_at, issuer_key, fake_clock, change):
    jwk = {**issuer_key.jwks["keys"][0], **change}
    jwk = {k: v for k, v in jwk.items() if v is not OMIT}
    verifier = make_verifier(clock=fake_clock, fetch=CountingFetch({"keys": [jwk]}))
    rejects(verifier, token_at())


def test_jwks_with_private_parts_still_verifies_with_the_public_half(make_verifier, token_at, issuer_key, fake_clock):
    private_jwk = {**RSAAlgorithm.to_jwk(issuer_key.private_key, as_dict=True), "kid": issuer_key.kid}
    verifier = make_verifier(clock=fake_clock, fetch=CountingFetch({"keys": [private_jwk]}))
    assert verifier.verify(token_at()).username == "alice"


# --- fetching the keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", [b"not json", b"[]", {"keys": "nope"}, {}, None, 42])
def test_unusable_jwks_document_means_signing_keys_unavailable(make_verifier, token_at, fake_clock, document):
    verifier = make_verifier(clock=fake_clock, fetch=CountingFetch(document))
    rejects(verifier, token_at(), "signing keys unavailable")


def test_fetch_failure_is_not_retried_within_the_window_then_recovers(verifier, counting_fetch, token_at, fake_clock):
    counting_fetch.error = OSError("network down")
    rejects(verifier, token_at(), "signing keys unavailable")
    rejects(verifier, token_at(), "signing keys unavailable")
    assert counting_fetch.calls == 1
    counting_fetch.error = None
    fake_clock.advance(REFETCH_INTERVAL)
    assert verifier.verify(token_at(now=int(fake_clock.now))).username == "alice"
    assert counting_fetch.calls == 2


def test_failed_refetch_keeps_the_keys_already_known(verifier, counting_fetch, token_at, fake_clock):
    verifier.verify(token_at())
    counting_fetch.error = OSError("network down")
    fake_clock.advance(REFETCH_INTERVAL + 1)
    rejects(verifier, token_at(kid="new"), "signing keys unavailable")
    assert verifier.verify(token_at(now=int(fake_clock.now))).username == "alice"


def test_missing_jwks_file_means_signing_keys_unavailable(auth_settings, token_at, fake_clock, tmp_path):
    verifier = TokenVerifier(
        auth_settings.auth_issuer,
        auth_settings.auth_client_ids,
        "file://" + str(tmp_path / "absent.json"),
        clock=fake_clock,
    )
    rejects(verifier, token_at(), "signing keys unavailable")


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    document: bytes = b""
    delay = 0.0

    def do_GET(self):
        time.sleep(self.delay)
        if self.path == "/.well-known/jwks.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(self.document)
        else:
            self.send_response(500)
            self.end_headers()

    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The timeout test hangs up on a slow handler, whose late write then fails; that is expected.
        pass


@pytest.fixture
def jwks_server(issuer_key):
    handler = type("Handler", (_JwksHandler,), {"document": json.dumps(issuer_key.jwks).encode()})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_jwks_fetched_over_http(auth_settings, jwks_server, token_at, fake_clock):
    server, _ = jwks_server
    url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    verifier = TokenVerifier(auth_settings.auth_issuer, auth_settings.auth_client_ids, url, clock=fake_clock)
    assert verifier.verify(token_at()).username == "alice"


def test_http_error_means_signing_keys_unavailable(auth_settings, jwks_server, token_at, fake_clock):
    server, _ = jwks_server
    url = f"http://127.0.0.1:{server.server_port}/elsewhere"
    verifier = TokenVerifier(auth_settings.auth_issuer, auth_settings.auth_client_ids, url, clock=fake_clock)
    rejects(verifier, token_at(), "signing keys unavailable")


def test_slow_jwks_endpoint_times_out(auth_settings, jwks_server, token_at, fake_clock, monkeypatch):
    from chalicelib.auth import verifier as verifier_module

    server, handler = jwks_server
    handler.delay = 1.0
    monkeypatch.setattr(verifier_module, "FETCH_TIMEOUT", 0.2)
    url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    verifier = TokenVerifier(auth_settings.auth_issuer, auth_settings.auth_client_ids, url, clock=fake_clock)
    started = time.monotonic()
    rejects(verifier, token_at(), "signing keys unavailable")
    assert time.monotonic() - started < 0.9


def test_unreachable_jwks_endpoint_means_signing_keys_unavailable(auth_settings, token_at, fake_clock):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    verifier = TokenVerifier(
        auth_settings.auth_issuer, auth_settings.auth_client_ids, f"http://127.0.0.1:{port}/jwks.json", clock=fake_clock
    )
    rejects(verifier, token_at(), "signing keys unavailable")


def test_concurrent_cold_start_fetches_once(make_verifier, issuer_key, make_token):
    class SlowFetch(CountingFetch):
        def __call__(self, url):
            time.sleep(0.05)
            return super().__call__(url)

    fetch = SlowFetch(issuer_key.jwks)
    verifier = make_verifier(fetch=fetch)
    token = make_token("alice")
    barrier = threading.Barrier(16)
    results: list[object] = []

    def worker():
        barrier.wait()
        try:
            results.append(verifier.verify(token).username)
        except Exception as error:  # collected, asserted below
            results.append(error)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["alice"] * 16
    assert fetch.calls == 1


@pytest.mark.parametrize("url", ["ftp://example.com/jwks.json", "/etc/jwks.json", "", "jwks.json"])
def test_unsupported_jwks_url_is_a_configuration_error(url):
    with pytest.raises(ConfigError):
        TokenVerifier(LOCAL_ISSUER, (LOCAL_CLIENT_ID,), url)


@pytest.mark.parametrize("leeway", [31, 3600, -1])
def test_leeway_beyond_30_seconds_is_a_configuration_error(leeway):
    with pytest.raises(ConfigError):
        TokenVerifier(LOCAL_ISSUER, (LOCAL_CLIENT_ID,), "file:///x", leeway=leeway)


# --- time ---------------------------------------------------------------------------------------------------


def test_expired_beyond_leeway_rejected(verifier, token_at, fake_clock):
    now = int(fake_clock.now)
    rejects(verifier, token_at(now=now - 3600 - 31, ttl=3600), "token expired")
    rejects(verifier, token_at(now=now - 3600 - 30, ttl=3600), "token expired")


def test_expired_within_leeway_accepted(verifier, token_at, fake_clock):
    now = int(fake_clock.now)
    assert verifier.verify(token_at(now=now - 3600 - 29, ttl=3600)).username == "alice"


def test_future_nbf_rejected_but_within_leeway_accepted(verifier, token_at, fake_clock):
    now = int(fake_clock.now)
    rejects(verifier, token_at(nbf=now + 31), "token not yet valid")
    assert verifier.verify(token_at(nbf=now + 29)).username == "alice"


def test_future_iat_rejected_but_within_leeway_accepted(verifier, token_at, fake_clock):
    now = int(fake_clock.now)
    rejects(verifier, token_at(now=now + 31), "token issued in the future")
    assert verifier.verify(token_at(now=now + 29)).username == "alice"


def test_zero_leeway_is_honoured(make_verifier, counting_fetch, token_at, fake_clock):
    verifier = make_verifier(clock=fake_clock, fetch=counting_fetch, leeway=0)
    rejects(verifier, token_at(now=int(fake_clock.now) - 3601, ttl=3600), "token expired")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value", ["1800000000", True, None, [1800000000], {"t": 1}, float("nan"), float("inf"), float("-inf")]
)
def test_non_numeric_time_claims_rejected(verifier, token_at, claim, value):
    rejects(verifier, token_at(**{claim: value}))


def test_float_time_claims_accepted(verifier, token_at, fake_clock):
    assert verifier.verify(token_at(exp=fake_clock.now + 10.5, iat=fake_clock.now - 0.5)).username == "alice"


# --- required claims, issuer, client, token_use, sub --------------------------------------------------------


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "iss"])
def test_missing_required_claim_rejected(verifier, token_at, claim):
    rejects(verifier, token_at(**{claim: OMIT}))


@pytest.mark.parametrize(
    "issuer",
    [
        "https://evil.example.com",
        LOCAL_ISSUER + "/",
        LOCAL_ISSUER.upper(),
        LOCAL_ISSUER + " ",
        "",
        [LOCAL_ISSUER],
        None,
    ],
)
def test_wrong_issuer_rejected(verifier, token_at, issuer):
    rejects(verifier, token_at(iss=issuer))


@pytest.mark.parametrize("client_id", ["another-client", "", LOCAL_CLIENT_ID.upper(), [LOCAL_CLIENT_ID], None, OMIT])
def test_wrong_client_id_for_access_token_rejected(verifier, token_at, client_id):
    rejects(verifier, token_at(client_id=client_id))


def test_access_token_is_not_admitted_by_a_matching_aud(verifier, token_at):
    rejects(verifier, token_at(client_id="another-client", aud=LOCAL_CLIENT_ID))


@pytest.mark.parametrize("aud", ["another-client", "", [LOCAL_CLIENT_ID], [LOCAL_CLIENT_ID, "x"], None, OMIT])
def test_wrong_aud_for_id_token_rejected(verifier, token_at, aud):
    rejects(verifier, token_at(token_use="id", aud=aud))


def test_id_token_is_not_admitted_by_a_matching_client_id(verifier, token_at):
    rejects(verifier, token_at(token_use="id", aud="another-client", client_id=LOCAL_CLIENT_ID))


@pytest.mark.parametrize("token_use", [OMIT, "refresh", "Access", "ID", "", None, ["access"], "access "])
def test_token_use_other_than_access_or_id_rejected(verifier, token_at, token_use):
    rejects(verifier, token_at(token_use=token_use), None)


@pytest.mark.parametrize(
    "sub",
    [
        "#",
        "USER#bob",
        "a#b",
        "",
        "s" * 129,
        "tab\there",
        "nul\x00",
        "new\nline",
        "del\x7f",
        "zero\u200bwidth",
        "bidi\u202e",
        "lone\ud800",
        42,
        None,
        ["a"],
    ],
)
def test_invalid_sub_rejected(verifier, make_token, auth_settings, fake_clock, sub):
    claims = build_claims("alice", settings=auth_settings, now=int(fake_clock.now))
    claims["sub"] = sub  # via the payload, since mint's sub=None means "the default sub"
    rejects(verifier, make_token(payload=claims))


# --- garbage --------------------------------------------------------------------------------------------------

GARBAGE = [
    "",
    "garbage",
    "a.b.c",
    "..",
    "...",
    "a.b",
    "a.b.c.d",
    "!!!.!!!.!!!",
    "é.é.é",
    "%%%.%%%.%%%",
    "eyJ.eyJ.sig",
    "e30.e30.",
    "e30.e30.e30",
    "bnVsbA.bnVsbA.AA",
    "W10.W10.AA",  # {} / null / [] parts
    "x" * 100_000,
    ("a" * 5000 + ".") * 2 + "a" * 5000,
    "Bearer x.y.z",
    " a.b.c ",
    "a.b.c\n",
]


@pytest.mark.parametrize("token", GARBAGE, ids=lambda t: repr(t[:20]))
def test_garbage_tokens_rejected(verifier, token):
    error = rejects(verifier, token)
    if len(token) > 3:
        assert token.strip() not in error.detail


@pytest.mark.parametrize(
    "token", [None, 42, 4.2, [], {}, object(), b"\xff\xfe.a.b", b"", memoryview(b"a.b.c")], ids=repr
)
def test_non_string_tokens_rejected(verifier, token):
    rejects(verifier, token)


def test_header_that_is_not_an_object_rejected(verifier, forge_token, token_at):
    _, payload, signature = token_at().split(".")
    for header in (b"[]", b"null", b'"RS256"', b"{", b"\xff"):
        rejects(verifier, f"{forge_token(header, b'').split('.')[0]}.{payload}.{signature}")


def test_signed_payload_that_is_not_an_object_rejected(verifier, make_token):
    for payload in (b"[]", b"null", b"42", b"{", b"\xff", b"[" * 5000 + b"]" * 5000):
        rejects(verifier, make_token(payload=payload))


def test_header_tricks_are_ignored_or_rejected(verifier, token_at, issuer_key):
    # jku/x5u/jwk in the header must never be used to find a key.
    evil = {"jku": "http://127.0.0.1:1/jwks.json", "x5u": "http://127.0.0.1:1/cert", "jwk": {"kty": "RSA"}}
    assert verifier.verify(token_at(header=evil)).username == "alice"
    rejects(verifier, token_at(header={"crit": ["exp"], "exp": 1}))
    rejects(verifier, token_at(header={"b64": False, "crit": ["b64"]}))


def test_error_details_never_echo_the_token(verifier, token_at, other_key):
    for token in (token_at(key=other_key), token_at(alg="HS256"), token_at(iss="https://x"), "a.b.c" * 50):
        error = rejects(verifier, token)
        for part in token.split("."):
            if len(part) > 8:
                assert part not in error.detail
                assert part not in str(error)


# --- property: nothing but a Caller or Unauthorized -------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def shared_verifier(auth_settings):
    key = ensure_keys(issuer_dir(auth_settings.data_dir))
    return TokenVerifier(
        auth_settings.auth_issuer,
        auth_settings.auth_client_ids,
        auth_settings.auth_jwks_url,
        fetch=CountingFetch(key.jwks),
    ), key


def only_unauthorized(verifier: TokenVerifier, token) -> None:
    try:
        result = verifier.verify(token)
    except Unauthorized as error:
        assert error.reason in REJECTION_REASONS
        return
    assert isinstance(result, Caller)


@hsettings(max_examples=300, deadline=None)
@given(token=st.text(max_size=300))
def test_any_text_is_a_caller_or_unauthorized(shared_verifier, token):
    only_unauthorized(shared_verifier[0], token)


@hsettings(max_examples=200, deadline=None)
@given(token=st.binary(max_size=300) | st.binary(max_size=300).map(bytearray))
def test_any_bytes_are_a_caller_or_unauthorized(shared_verifier, token):
    only_unauthorized(shared_verifier[0], token)


b64_segment = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/", max_size=60)


@hsettings(max_examples=300, deadline=None)
@given(parts=st.lists(b64_segment, min_size=3, max_size=3))
def test_any_three_base64ish_parts_are_a_caller_or_unauthorized(shared_verifier, parts):
    only_unauthorized(shared_verifier[0], ".".join(parts))


@hsettings(max_examples=200, deadline=None)
@given(header=st.dictionaries(st.text(max_size=8), json_values, max_size=4), payload=json_values)
def test_any_json_parts_with_a_valid_kid_are_a_caller_or_unauthorized(shared_verifier, header, payload):
    verifier, key = shared_verifier
    token = encode_jws({"alg": "RS256", "kid": key.kid, **header}, json.dumps(payload).encode(), b"\x00" * 256)
    only_unauthorized(verifier, token)


@hsettings(max_examples=150, deadline=None)
@given(
    claims=st.dictionaries(
        st.sampled_from(
            [
                "sub",
                "iss",
                "exp",
                "iat",
                "nbf",
                "token_use",
                "client_id",
                "aud",
                "username",
                "cognito:username",
                "email",
            ]
        )
        | st.text(max_size=8),
        json_values,
        max_size=10,
    )
)
def test_any_signed_claims_are_a_caller_or_unauthorized(shared_verifier, auth_settings, claims):
    # Correctly signed, so every claim check is reached with arbitrary JSON types.
    verifier, key = shared_verifier
    now = int(time.time())
    base = {
        "sub": "s",
        "iss": auth_settings.auth_issuer,
        "exp": now + 60,
        "iat": now,
        "token_use": "access",
        "client_id": LOCAL_CLIENT_ID,
    }
    from jwt.algorithms import get_default_algorithms

    rs256 = get_default_algorithms()["RS256"]
    token = encode_jws(
        {"alg": "RS256", "kid": key.kid},
        json.dumps({**base, **claims}).encode(),
        lambda data: rs256.sign(data, key.private_key),
    )
    only_unauthorized(verifier, token)


# --- the required scope (AUTH_REQUIRED_SCOPE: where no API Gateway authorizer requires it first) -------------

API_SCOPE = "tasks-api/api"


@pytest.fixture
def scoped(make_verifier, fake_clock, counting_fetch) -> TokenVerifier:
    return make_verifier(clock=fake_clock, fetch=counting_fetch, required_scope=API_SCOPE)


@pytest.mark.parametrize("scope", [API_SCOPE, f"openid email {API_SCOPE}", f"{API_SCOPE} openid"])
def test_with_a_required_scope_an_access_token_carrying_it_among_others_verifies(scoped, token_at, scope):
    assert scoped.verify(token_at("alice", scope=scope)).token_use == "access"


@pytest.mark.parametrize(
    "scope",
    [OMIT, "", "openid email", "aws.cognito.signin.user.admin", "tasks-api/api2", "tasks-api/ap", "tasks-api", 42],
    ids=repr,
)
def test_with_a_required_scope_an_access_token_without_it_is_refused_as_missing_scope(scoped, token_at, scope):
    rejects(scoped, token_at("alice", scope=scope), "token lacks the required scope", reason="missing_scope")


def test_with_a_required_scope_an_id_token_is_refused_even_one_claiming_the_scope(scoped, token_at):
    # An ID token carries no scope (Cognito puts scopes in access tokens only); one that says otherwise is
    # still an ID token.
    rejects(scoped, token_at("bob", token_use="id"), reason="missing_scope")
    rejects(scoped, token_at("bob", token_use="id", scope=API_SCOPE), reason="missing_scope")


def test_the_scope_is_checked_after_the_token_itself(scoped, token_at, fake_clock):
    now = int(fake_clock.now)
    rejects(scoped, token_at(scope="openid", now=now - 7200, ttl=3600), reason="expired")
    rejects(scoped, token_at(scope="openid", client_id="another-app"), reason="wrong_client")


def test_without_a_required_scope_any_scope_and_id_tokens_verify(verifier, token_at):
    assert verifier.verify(token_at("alice", scope="openid")).token_use == "access"
    assert verifier.verify(token_at("bob", token_use="id")).token_use == "id"


def test_the_setting_reaches_the_process_wide_verifier(auth_settings, token_at):
    settings = Settings.from_env({"DATA_DIR": auth_settings.data_dir, "AUTH_REQUIRED_SCOPE": f" {API_SCOPE} "})
    assert settings.auth_required_scope == API_SCOPE
    verifier = get_verifier(settings)
    assert verifier.required_scope == API_SCOPE and get_verifier(auth_settings).required_scope is None
    token = mint("alice", settings=settings)  # the local issuer's access scope only
    rejects(verifier, token, reason="missing_scope")
    assert get_verifier(auth_settings).verify(token).sub == sub_for("alice")


@pytest.mark.parametrize("value", ["tasks-api/api openid", 'quo"te', "back\\slash", "tab\tbed"])
def test_a_required_scope_that_is_not_one_scope_token_is_a_configuration_error(value):
    with pytest.raises(ConfigError, match="AUTH_REQUIRED_SCOPE"):
        Settings.from_env({"AUTH_REQUIRED_SCOPE": value})


# --- why: each refusal's reason -------------------------------------------------------------------------------


def test_each_refusal_names_its_reason(verifier, make_verifier, counting_fetch, token_at, fake_clock, other_key):
    now = int(fake_clock.now)
    refused_by_verifier = {
        "malformed_token": (verifier, "a.b.c"),
        "wrong_algorithm": (verifier, token_at(alg="HS256")),
        "unknown_key": (verifier, token_at(kid="never-published")),
        "keys_unavailable": (make_verifier(clock=fake_clock, fetch=CountingFetch(b"not json")), token_at()),
        "bad_signature": (verifier, token_at(key=other_key)),
        "expired": (verifier, token_at(now=now - 7200, ttl=3600)),
        "not_yet_valid": (verifier, token_at(nbf=now + 600)),
        "wrong_issuer": (verifier, token_at(iss="https://issuer.example")),
        "wrong_client": (verifier, token_at(client_id="another-app")),
        "wrong_token_use": (verifier, token_at(token_use="refresh")),
        "invalid_claims": (verifier, token_at(sub="USER#mallory")),
        "missing_scope": (make_verifier(clock=fake_clock, fetch=counting_fetch, required_scope=API_SCOPE), token_at()),
    }
    for reason, (checker, token) in refused_by_verifier.items():
        rejects(checker, token, reason=reason)
    with pytest.raises(Unauthorized) as caught:
        authenticate({}, {}, Settings.from_env({}))
    assert caught.value.reason == "missing_token"
    assert {*refused_by_verifier, caught.value.reason} == set(REJECTION_REASONS)


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"exp": "soon"}, "invalid_claims"),
        ({"iat": None}, "invalid_claims"),
        ({"nbf": True}, "invalid_claims"),
        ({"sub": OMIT}, "invalid_claims"),
        ({"sub": 42}, "invalid_claims"),
        ({"jti": 42}, "invalid_claims"),
        ({"iss": OMIT}, "invalid_claims"),
        ({"iss": [LOCAL_ISSUER]}, "wrong_issuer"),
        ({"now": 1_800_000_100}, "not_yet_valid"),  # issued in the future
        ({"token_use": OMIT}, "wrong_token_use"),
        ({"token_use": "id", "aud": OMIT}, "wrong_client"),
    ],
    ids=repr,
)
def test_claim_refusals_name_their_reason(verifier, token_at, claims, reason):
    rejects(verifier, token_at(**claims), reason=reason)


@pytest.mark.parametrize("value", ["", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearertoken"])
def test_a_malformed_authorization_header_is_a_malformed_token(auth_settings, value):
    with pytest.raises(Unauthorized) as caught:
        authenticate({"Authorization": value}, {}, auth_settings)
    assert caught.value.reason == "malformed_token"


# --- authenticate(): the header, and API Gateway's claims -------------------------------------------------


@pytest.fixture
def lambda_settings(auth_settings) -> Settings:
    return Settings.from_env({"DATA_DIR": auth_settings.data_dir, "AWS_LAMBDA_FUNCTION_NAME": "tasks-api"})


SIGNED_IN_AT = 1_763_794_800
SESSION = "3f1c2a9e-8d7b-4c6a-9e5f-0a1b2c3d4e5f"

# Each test of API Gateway's claims runs on both gateways' events: the REST API's Cognito authorizer and the
# HTTP API's JWT authorizer (payload format 1.0), each rendering the claims its own way (tests/support/invoke.py).
on_both_gateways = pytest.mark.parametrize("shape", GATEWAY_SHAPES)


def gateway_context(shape: str = "rest", **claims) -> dict:
    """The request context of a ``shape`` event carrying gina's verified access-token claims, with
    ``claims`` replacing some (OMIT: removing them)."""
    base = {
        "sub": sub_for("gina"),
        "iss": LOCAL_ISSUER,
        "token_use": "access",
        "client_id": LOCAL_CLIENT_ID,
        "username": "gina",
        "exp": SIGNED_IN_AT + 3600,
        "iat": SIGNED_IN_AT,
        "auth_time": SIGNED_IN_AT,
        "origin_jti": SESSION,
    }
    merged = {k: v for k, v in {**base, **claims}.items() if v is not OMIT}
    return gateway_event(shape, "GET", "/me", claims=merged)["requestContext"]


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_header_name_and_scheme_are_case_insensitive(auth_settings, name, scheme):
    token = mint("alice", settings=auth_settings)
    assert authenticate({name: f"{scheme} {token}"}, {}, auth_settings).username == "alice"


def test_surrounding_whitespace_is_tolerated(auth_settings):
    token = mint("alice", settings=auth_settings)
    assert authenticate({"Authorization": f"  Bearer {token} "}, {}, auth_settings).username == "alice"


def test_chalice_case_insensitive_headers_work(auth_settings):
    from chalice.app import CaseInsensitiveMapping

    token = mint("alice", settings=auth_settings)
    headers = CaseInsensitiveMapping({"authorization": f"Bearer {token}"})
    assert authenticate(headers, {}, auth_settings).username == "alice"


@pytest.mark.parametrize("headers", [{}, None, {"X-Authorization": "Bearer x.y.z"}, {"Cookie": "token=abc"}], ids=repr)
def test_missing_authorization_header_rejected(auth_settings, headers):
    with pytest.raises(Unauthorized) as caught:
        authenticate(headers, {}, auth_settings)
    assert caught.value.detail == "missing bearer token"
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic xxx",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer  TOKEN",
        "Bearer a b",
        "Bearer\tTOKEN",
        "Bearertoken",
        "TOKEN",
        "Bearer TOKEN extra",
        "Digest TOKEN",
    ],
)
def test_malformed_authorization_header_rejected(auth_settings, value):
    token = mint("alice", settings=auth_settings)
    with pytest.raises(Unauthorized):
        authenticate({"Authorization": value.replace("TOKEN", token)}, {}, auth_settings)


def test_two_authorization_headers_rejected(auth_settings):
    token = mint("alice", settings=auth_settings)
    with pytest.raises(Unauthorized):
        authenticate({"Authorization": f"Bearer {token}", "authorization": f"Bearer {token}"}, {}, auth_settings)


def test_garbage_bearer_token_rejected(auth_settings):
    for token in ("garbage", "a.b.c", "x" * 100_000):
        with pytest.raises(Unauthorized):
            authenticate({"Authorization": f"Bearer {token}"}, {}, auth_settings)


@on_both_gateways
def test_gateway_claims_trusted_in_lambda(lambda_settings, shape):
    caller = authenticate({}, gateway_context(shape), lambda_settings)
    assert caller == Caller(
        sub=sub_for("gina"),
        username="gina",
        email=None,
        token_use="access",
        client_id=LOCAL_CLIENT_ID,
        session=SESSION,
        signed_in_at=SIGNED_IN_AT,
    )


@pytest.mark.parametrize("token_use", ["access", "id"])
def test_both_gateways_claims_and_the_token_give_the_same_caller(lambda_settings, auth_settings, token_use):
    session = sign_in(int(time.time()) - 600)
    # A Cognito token of a user in groups: a list claim, which each gateway renders as a string of its own.
    token = mint("gina", settings=auth_settings, token_use=token_use, session=session, **{"cognito:groups": ["a", "b"]})
    claims = jwt.decode(token, options={"verify_signature": False})
    from_token = authenticate({"Authorization": f"Bearer {token}"}, {}, auth_settings)
    for shape in GATEWAY_SHAPES:
        context = gateway_event(shape, "GET", "/me", claims=claims)["requestContext"]
        from_gateway = authenticate({}, context, lambda_settings)
        assert from_gateway == from_token, shape
        assert (from_gateway.session, from_gateway.signed_in_at) == session, shape


@on_both_gateways
@pytest.mark.parametrize(
    "claims",
    [
        {"origin_jti": OMIT, "auth_time": OMIT},
        {"origin_jti": "", "auth_time": ""},
        {"origin_jti": "a b", "auth_time": "-1"},
        {"auth_time": "1763794800.0"},
        {"auth_time": "Sat Nov 22 07:00:00 UTC 2025"},
        {"auth_time": "99999999999"},
    ],
    ids=repr,
)
def test_unusable_session_claims_from_the_gateway_refuse_nothing(lambda_settings, shape, claims):
    caller = authenticate({}, gateway_context(shape, **claims), lambda_settings)
    assert caller.username == "gina"
    assert caller.signed_in_at is None
    assert caller.session is None or "origin_jti" not in claims


@on_both_gateways
def test_gateway_id_token_claims_in_lambda(lambda_settings, shape):
    context = gateway_context(
        shape,
        token_use="id",
        client_id=OMIT,
        username=OMIT,
        aud=LOCAL_CLIENT_ID,
        **{"cognito:username": "gina", "email": "gina@example.com", "email_verified": True},
    )
    caller = authenticate({}, context, lambda_settings)
    assert (caller.username, caller.email, caller.token_use) == ("gina", "gina@example.com", "id")


@on_both_gateways
@pytest.mark.parametrize(
    "claims",
    [
        {"client_id": "another-client"},
        {"token_use": "refresh"},
        {"token_use": OMIT},
        {"sub": OMIT},
        {"sub": "a#b"},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/elsewhere"},
        {"token_use": "id"},  # an id token must carry aud
    ],
    ids=repr,
)
def test_gateway_claims_are_still_checked_in_lambda(lambda_settings, shape, claims):
    with pytest.raises(Unauthorized):
        authenticate({}, gateway_context(shape, **claims), lambda_settings)


@on_both_gateways
def test_forged_gateway_claims_ignored_outside_lambda(auth_settings, shape):
    assert not auth_settings.in_lambda
    with pytest.raises(Unauthorized):
        authenticate({}, gateway_context(shape), auth_settings)
    bob = mint("bob", settings=auth_settings)
    caller = authenticate({"Authorization": f"Bearer {bob}"}, gateway_context(shape), auth_settings)
    assert caller.username == "bob" and caller.sub == sub_for("bob")


@pytest.mark.parametrize(
    "context",
    [
        {},
        None,
        {"authorizer": None},
        {"authorizer": {}},
        {"authorizer": {"claims": {}}},
        {"authorizer": {"claims": "x"}},
        # An HTTP API route without an authorizer (payload 1.0): the documented empty shape.
        {"authorizer": {"claims": None, "scopes": None}},
        # Payload 2.0's place for JWT claims is not where a 1.0 event carries them: never read.
        {"authorizer": {"jwt": {"claims": {"sub": "victim", "iss": LOCAL_ISSUER}, "scopes": None}}},
    ],
    ids=repr,
)
def test_in_lambda_without_gateway_claims_verifies_the_header(lambda_settings, context):
    with pytest.raises(Unauthorized):
        authenticate({}, context, lambda_settings)
    token = mint("alice", settings=lambda_settings)
    assert authenticate({"Authorization": f"Bearer {token}"}, context, lambda_settings).username == "alice"


def test_get_verifier_is_cached_per_configuration(auth_settings):
    assert get_verifier(auth_settings) is get_verifier(auth_settings)
    other = Settings.from_env({"DATA_DIR": auth_settings.data_dir, "AUTH_CLIENT_IDS": "a,b"})
    assert get_verifier(other) is not get_verifier(auth_settings)
    assert get_verifier(other).client_ids == ("a", "b")


def test_local_setup_creates_the_key_pair_before_any_token_exists(tmp_path, forge_token):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / ".data")})
    jwks = tmp_path / ".data" / "issuer" / "jwks.json"
    assert not jwks.exists()
    with pytest.raises(Unauthorized) as caught:
        authenticate({"Authorization": "Bearer " + forge_token({"alg": "RS256", "kid": "k"}, {}, b"x")}, {}, settings)
    assert caught.value.detail == "unknown signing key"
    assert jwks.exists()
    token = mint("alice", settings=settings)
    assert authenticate({"Authorization": f"Bearer {token}"}, {}, settings).username == "alice"


def test_gateway_path_imports_neither_jwt_nor_cryptography():
    script = """
import sys
import chalicelib.auth
import chalicelib.auth.authorizer
from chalicelib.auth import authenticate
from chalicelib.settings import Settings, LOCAL_ISSUER, LOCAL_CLIENT_ID
settings = Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "fn", "DATA_DIR": sys.argv[1]})
claims = {"sub": "u-1", "iss": LOCAL_ISSUER, "token_use": "access", "client_id": LOCAL_CLIENT_ID,
          "username": "u"}
caller = authenticate({}, {"authorizer": {"claims": claims}}, settings)
assert caller.sub == "u-1", caller
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("jwt", "cryptography"))
assert not loaded, loaded
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script, "/nonexistent"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
