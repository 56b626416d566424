"""Property tests through the test client: no input gets a 5xx, every 4xx is a problem document that changes
nothing, and every valid item body is stored as its normalized self."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from chalicelib import keys
from chalicelib import wiring
from chalicelib.auth.local_issuer import sub_for
from chalicelib.tasks.activity import ActivityRecorder
from chalicelib.tasks.activity import item_event
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.ids import new_id
from chalicelib.vocabulary import DEFAULT_STATUS
from chalicelib.vocabulary import ITEM_CREATED
from tests.support.api import Reply

STATUSES = ("todo", "in_progress", "done")
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

# Examples run one after another on the test's one app and data dir, so state accumulates, as for a real user.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- strategies ----------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates included
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=12
)
FIELD_NAMES = (
    st.sampled_from(
        ["title", "notes", "status", "due", "tags", "display_name", "id", "version", "created_at", "sub", "Title"]
    )
    | ANY_TEXT
)
# Values that sit near the rules' edges, so validation is exercised past its first check.
PLAUSIBLE = st.one_of(
    JSON_VALUES,
    st.text(max_size=205),
    st.sampled_from(["", " ", "x" * 200, " " + "x" * 200 + " ", "x" * 201, "😀" * 200]),
    st.sampled_from(STATUSES + ("Done", "later", "")),
    st.dates().map(str),
    st.sampled_from(["2026-02-29", "2028-02-29", "2026-13-01", "20260101", "2026-1-1"]),
    st.lists(st.text(st.sampled_from("abz09-_A "), max_size=34), max_size=12),
)
NEAR_OBJECTS = st.dictionaries(FIELD_NAMES, PLAUSIBLE, max_size=5)


def _encode(value: Any, ascii_only: bool) -> bytes:
    # Non-ASCII output keeps lone surrogates as (invalid) UTF-8 bytes: the app must call that a 400, not crash.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


BYTE_BODIES = st.binary(max_size=300) | st.sampled_from(
    [
        b"",
        b" ",
        b"{",
        b"[" * 5000 + b"]" * 5000,
        b'{"title": "a"' * 10,
        b"\xef\xbb\xbf{}",
        b'{"title": NaN}',
        b'{"title": "x", "title": "y"}',
        b'{"title": 1e999}',
        b"\x00",
        b'"\\ud800"',
        b'{"title": "\\udfff"}',
    ]
)
WRITES = st.sampled_from([("POST", "/items"), ("PATCH", "/items/{item}"), ("PATCH", "/me")])

HEADER_TEXT = st.text(st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]), max_size=140)
IF_MATCH = (
    st.none()
    | HEADER_TEXT
    | st.sampled_from(['"1"', '"2"', "*", '"0"', "1", 'W/"1"', ' "1" ', '"1", "2"', '"99999999999999999999"'])
)
IDEMPOTENCY_KEY = st.none() | HEADER_TEXT | st.from_regex(r"[A-Za-z0-9._:-]{1,130}", fullmatch=True)
REQUEST_ID = st.none() | HEADER_TEXT | st.from_regex(r"[A-Za-z0-9._:-]{1,130}", fullmatch=True)
# None keeps alice's valid token; a string replaces the whole header; a tuple rewrites her token.
AUTHORIZATION = st.one_of(
    st.none(),
    HEADER_TEXT,
    HEADER_TEXT.map(lambda t: "Bearer " + t),
    st.tuples(
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Bearer ", " Bearer"]),
        st.integers(-1, 2000),
        st.sampled_from(["", ".", "A", "=", " ", "é"]),
    ),
)
HEADER_ROUTES = st.sampled_from(
    [
        ("GET", "/items", None),
        ("GET", "/me", None),
        ("GET", "/health", None),
        ("GET", "/stats", None),
        ("GET", "/activity", None),
        ("POST", "/items", {"title": "h"}),
        ("PATCH", "/items/{item}", {"notes": "h"}),
        ("DELETE", f"/items/{MISSING_ID}", None),
    ]
)

QUERY_NAMES = st.sampled_from(["limit", "status", "cursor", "Limit", ""]) | st.text(max_size=10)
CURSOR_EDIT = st.tuples(
    st.just("cursor-of"),
    st.sampled_from([None, "done"]),
    st.integers(0, 80),
    st.sampled_from(["", "A", "-", "_", ".", "="]),
)
QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(-5, 200).map(str),
    st.sampled_from(STATUSES + ("", "DONE", "1e2", "01", " 5")),
    CURSOR_EDIT,
)
QUERY_PARAMS = st.one_of(
    st.tuples(QUERY_NAMES, QUERY_VALUES),
    st.tuples(st.just("cursor"), CURSOR_EDIT),
    st.tuples(st.just("limit"), st.integers(-1, 101).map(str)),
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
)
RAW_QUERIES = st.text(st.sampled_from("limstaucrov=&%;+?/.-_~0123456789Z"), max_size=40)

# Valid item bodies: titles of 1-200 code points once trimmed (padded with whitespace), distinct tags, real dates.
TITLES = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200).map(str.strip).filter(bool)
PADDING = st.text(st.sampled_from(" \t\n\u3000\u2003\u00a0"), max_size=3)
TAGS = st.lists(st.from_regex(r"[a-z0-9-]{1,32}", fullmatch=True), max_size=10, unique=True)
VALID_ITEMS = st.fixed_dictionaries(
    {"title": TITLES},
    optional={
        "notes": st.text(st.characters(exclude_categories=["Cs"]), max_size=300) | st.just("n" * 4000),
        "status": st.sampled_from(STATUSES),
        "due": st.none() | st.dates().map(lambda d: d.isoformat()),
        "tags": TAGS,
    },
)


def _bend(body: dict[str, Any], name: str, value: Any, replace: bool) -> dict[str, Any]:
    return {**body, name: value} if replace else body


# A valid body with at most one field added or replaced, and display names for PATCH /me.
NEAR_VALID = st.builds(_bend, VALID_ITEMS, FIELD_NAMES, PLAUSIBLE, st.booleans()) | st.fixed_dictionaries(
    {"display_name": PLAUSIBLE}
)
JSON_BODIES = st.builds(_encode, NEAR_OBJECTS | NEAR_VALID | JSON_VALUES, st.booleans())


# --- checks --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def queue(recording_queue):
    # Events are recorded, not consumed: "changes nothing" compares the store, and the consumer would
    # otherwise still be applying the fixture's own create while a case runs.
    return recording_queue


@pytest.fixture
def item(api) -> dict[str, Any]:
    return api.create("Target of PATCHes")


def _snapshot(user: str = "alice") -> list[Any]:
    """Everything the caller has in storage: the partition (profile, items, idempotency records) and the index."""
    store, sub = wiring.services().store, sub_for(user)
    partitions = [store.query(keys.user_pk(sub), "", limit=100_000).records]
    partitions += [
        store.query(keys.status_partition(sub, s), keys.ITEM_PREFIX, limit=100_000, index=True).records
        for s in STATUSES
    ]
    return partitions


def _check(reply: Reply, sent_request_id: str | None = None) -> None:
    assert reply.status < 500, (reply.status, reply.body)
    request_id = reply.header("X-Request-Id")
    assert request_id and SANE_ID.fullmatch(request_id), request_id
    if sent_request_id is not None and SANE_ID.fullmatch(sent_request_id):
        assert request_id == sent_request_id
    if reply.status >= 400:
        assert reply.header("Content-Type") == "application/problem+json", reply.headers
        problem = reply.json
        assert problem["status"] == reply.status
        assert isinstance(problem["code"], str) and re.fullmatch(r"[a-z][a-z0-9_]*", problem["code"]), problem
        assert problem["request_id"] == request_id


def _send_and_check(api, method: str, path: str, raw: bytes | None = None, **kw: Any) -> Reply:
    before = _snapshot()
    reply = api.call(method, path, raw=raw, **kw)
    _check(reply, (kw.get("headers") or {}).get("X-Request-Id"))
    event(f"{method} {reply.status} {(reply.json or {}).get('code', '') if reply.status >= 400 else ''}".strip())
    if 400 <= reply.status < 500:
        assert _snapshot() == before, f"a rejected request ({reply.status}) changed stored data"
    return reply


# --- bodies --------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=80)
@given(route=WRITES, body=JSON_BODIES)
def test_any_json_body_on_a_writing_route_never_gets_a_5xx_and_a_rejected_one_changes_nothing(api, item, route, body):
    method, path = route
    _send_and_check(api, method, path.format(item=item["id"]), raw=body)


@settings(FUZZ, max_examples=40)
@given(route=WRITES, body=BYTE_BODIES)
def test_any_bytes_as_a_body_never_get_a_5xx_and_a_rejected_one_changes_nothing(api, item, route, body):
    method, path = route
    _send_and_check(api, method, path.format(item=item["id"]), raw=body)


# --- query strings -------------------------------------------------------------------------------


@pytest.fixture
def cursors(api) -> dict[str | None, str]:
    """Real next_cursor values of alice's list, unfiltered and filtered to done."""
    for n in range(3):
        api.create(f"listed {n}", status="done")
    return {
        status: api.get("/items?limit=1" + (f"&status={status}" if status else "")).json["next_cursor"]
        for status in (None, "done")
    }


@settings(FUZZ, max_examples=50)
@given(params=st.lists(QUERY_PARAMS, max_size=4), raw=st.one_of(st.none(), st.none(), st.none(), RAW_QUERIES))
def test_any_query_on_the_item_list_never_gets_a_5xx_and_changes_nothing(api, cursors, params, raw):
    resolved = []
    for name, value in params:
        if isinstance(value, tuple):  # a real cursor (for this or another filter), maybe edited at one position
            _, status, position, replacement = value
            real = cursors[status]
            value = real[:position] + replacement + real[position + 1 :] if position < len(real) else real
        resolved.append((name, value))
    query = raw if raw is not None else urllib.parse.urlencode(resolved)
    reply = _send_and_check(api, "GET", "/items?" + query)
    assert reply.status in (200, 400), (reply.status, reply.body)
    if reply.status == 200:
        page = reply.json
        assert set(page) >= {"items", "next_cursor"} and isinstance(page["items"], list)


@pytest.fixture
def activity_cursor(api) -> str:
    """A real next_cursor of alice's activity (events applied as the consumer applies them)."""
    recorder = ActivityRecorder(wiring.services().store)
    for n in range(3):
        at = rfc3339(time.time() - n)
        recorder.record(item_event(ITEM_CREATED, sub_for("alice"), new_id(), at, before=None, after=DEFAULT_STATUS))
    cursor = api.get("/activity?limit=1").json["next_cursor"]
    assert cursor
    return cursor


@settings(FUZZ, max_examples=50)
@given(params=st.lists(QUERY_PARAMS, max_size=4), raw=st.one_of(st.none(), st.none(), st.none(), RAW_QUERIES))
def test_any_query_on_the_activity_never_gets_a_5xx(api, activity_cursor, params, raw):
    resolved = []
    for name, value in params:
        if isinstance(value, tuple):  # the real cursor, maybe edited at one position
            _, _, position, replacement = value
            real = activity_cursor
            value = real[:position] + replacement + real[position + 1 :] if position < len(real) else real
        resolved.append((name, value))
    query = raw if raw is not None else urllib.parse.urlencode(resolved)
    reply = _send_and_check(api, "GET", "/activity?" + query)
    assert reply.status in (200, 400), (reply.status, reply.body)
    if reply.status == 200:
        assert set(reply.json) == {"events", "next_cursor"} and isinstance(reply.json["events"], list)


# --- headers -------------------------------------------------------------------------------------


def _authorization(api, spec: Any) -> tuple[str | None, bool]:
    """The header to send, and whether only alice's exact token (any scheme case) may be accepted with it."""
    if not isinstance(spec, tuple):
        return spec, True
    scheme, position, replacement = spec
    token = api.token("alice")
    if 0 <= position < len(token):
        token = token[:position] + replacement + token[position + 1 :]
    # The signature's last base64url character carries 4 unused bits: some edits there decode to the same signature.
    return f"{scheme} {token}", position != len(api.token("alice")) - 1


@settings(FUZZ, max_examples=60)
@given(
    route=HEADER_ROUTES,
    if_match=IF_MATCH,
    idempotency_key=IDEMPOTENCY_KEY,
    request_id=REQUEST_ID,
    authorization=AUTHORIZATION,
)
def test_any_header_values_never_get_a_5xx_and_a_rejected_request_changes_nothing(
    api, item, route, if_match, idempotency_key, request_id, authorization
):
    method, path, body = route
    authorization, strict = _authorization(api, authorization)
    headers = {
        name: value
        for name, value in (
            ("If-Match", if_match),
            ("Idempotency-Key", idempotency_key),
            ("X-Request-Id", request_id),
            ("Authorization", authorization),
        )
        if value is not None
    }
    raw = json.dumps(body).encode() if body is not None else None
    reply = _send_and_check(api, method, path.format(item=item["id"]), raw=raw, headers=headers)
    if authorization is not None and strict and path != "/health" and reply.status != 401:
        # Anything but alice's own token, spelled as the contract allows, must be refused.
        assert re.fullmatch(r"(?i:bearer) " + re.escape(api.token("alice")), authorization.strip()), authorization


# --- valid items ---------------------------------------------------------------------------------


@settings(FUZZ, max_examples=50)
@given(body=VALID_ITEMS, before=PADDING, after=PADDING, ascii_only=st.booleans())
def test_any_valid_item_body_is_created_as_its_normalized_self(api, body, before, after, ascii_only):
    sent = dict(body, title=before + body["title"] + after)
    reply = api.call("POST", "/items", raw=json.dumps(sent, ensure_ascii=ascii_only).encode())
    assert reply.status == 201, (reply.status, reply.body)
    expected = {
        "title": body["title"],
        "notes": body.get("notes", ""),
        "status": body.get("status", "todo"),
        "due": body.get("due"),
        "tags": body.get("tags", []),
        "version": 1,
    }
    created = reply.json
    assert {name: created[name] for name in expected} == expected
    assert reply.header("Location") == f"/items/{created['id']}" and reply.header("ETag") == '"1"'
    assert api.get(f"/items/{created['id']}").json == created
