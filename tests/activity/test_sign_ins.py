"""Sign-ins through the API and the whole pipeline, on both store adapters: a sign-in session (the
token's ``origin_jti``, repeated by every token refreshed from it) is recorded once as a
``user.signed_in`` event however often it is seen on GET /me or PATCH /me; a new session counts again."""

from __future__ import annotations

from chalicelib.auth.local_issuer import sign_in
from chalicelib.auth.local_issuer import sub_for
from tests.support.activity import activity_of
from tests.support.activity import settle
from tests.support.activity import sign_ins

USER = "sina"
SUB = sub_for(USER)


def as_session(api, token_for, method: str, session, body=None):
    """Call /me with a new token of ``session`` (as a refresh gives one)."""
    token = token_for(USER, session=session)
    reply = api.call(method, "/me", body, user=None, headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 200, reply.json
    return reply


def signed_in_records() -> list[dict]:
    settle()
    return [record for record in activity_of(SUB) if record["type"] == "user.signed_in"]


def test_one_session_seen_many_times_counts_once(adapter, api, token_for):
    session = sign_in()
    for _ in range(5):
        as_session(api, token_for, "GET", session)
    [record] = signed_in_records()
    assert record["item_id"] is None and sign_ins(SUB) == 1


def test_a_new_session_counts_again(adapter, api, token_for):
    first, second = sign_in(), sign_in()
    as_session(api, token_for, "GET", first)
    as_session(api, token_for, "GET", first)
    as_session(api, token_for, "GET", second)
    assert len(signed_in_records()) == 2 and sign_ins(SUB) == 2


def test_sessions_seen_in_turn_count_once_each(adapter, api, token_for):
    # A, B, A: the profile remembers B when A comes back, so A's event is made again, with the same id.
    a, b = sign_in(now=1_800_000_000), sign_in(now=1_800_000_100)
    for session in (a, b, a, b, a):
        as_session(api, token_for, "GET", session)
    records = signed_in_records()
    assert len(records) == len({record["id"] for record in records}) == 2 and sign_ins(SUB) == 2


def test_patching_the_profile_records_the_sign_in_too(adapter, api, token_for):
    session = sign_in()
    as_session(api, token_for, "PATCH", session, {"display_name": "Sina"})
    assert len(signed_in_records()) == 1
    as_session(api, token_for, "GET", session)
    as_session(api, token_for, "PATCH", session, {"display_name": "Sina S."})
    assert len(signed_in_records()) == 1 and sign_ins(SUB) == 1
    as_session(api, token_for, "PATCH", sign_in(), {"display_name": "Sina"})
    assert len(signed_in_records()) == 2 and sign_ins(SUB) == 2
