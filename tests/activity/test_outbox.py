"""The outbox's domain: which committed changes make which activity events, with ids that follow from the
change (so a change forwarded twice is one event to the consumer)."""

from __future__ import annotations

from chalicelib import keys
from chalicelib.tasks.activity import parse_event
from chalicelib.tasks.outbox import Change
from chalicelib.tasks.outbox import events_of
from chalicelib.tasks.outbox import request_id

SUB = "sub-dana"
ITEM_ID = "01JD0000000000000000000001"
KEY = keys.item_key(SUB, ITEM_ID)
CREATED = {"id": ITEM_ID, "status": "todo", "version": 1, "created_at": "2026-11-28T10:00:00.000Z",
           "updated_at": "2026-11-28T10:00:00.000Z", "request_id": "req-1"}  # fmt: skip
UPDATED = {**CREATED, "status": "done", "version": 2, "updated_at": "2026-11-28T10:05:00.250Z", "request_id": "req-2"}


def _one(change: Change) -> dict:
    [event] = events_of(change)
    assert parse_event(event) == event  # what the consumer accepts
    return event


def test_an_insert_an_update_and_a_removal_of_an_item_make_its_three_events():
    created = _one(Change(KEY, None, CREATED, 1.0))
    updated = _one(Change(KEY, CREATED, UPDATED, 2.0))
    deleted = _one(Change(KEY, UPDATED, None, 1796000000.0))
    assert [(e["type"], e["status_before"], e["status_after"]) for e in (created, updated, deleted)] == [
        ("item.created", None, "todo"),
        ("item.updated", "todo", "done"),
        ("item.deleted", "done", None),
    ]
    assert (created["at"], updated["at"]) == (CREATED["created_at"], UPDATED["updated_at"])
    assert len({created["id"], updated["id"], deleted["id"]}) == 3


def test_the_same_change_forwarded_again_is_the_same_event():
    assert events_of(Change(KEY, CREATED, UPDATED, 2.0)) == events_of(Change(KEY, CREATED, UPDATED, 9.0))
    assert events_of(Change(KEY, UPDATED, None, 1796000000.0)) == events_of(Change(KEY, UPDATED, None, 1796000000.0))


def test_a_deletion_is_dated_by_the_stream_but_never_before_the_items_last_change():
    late = _one(Change(KEY, UPDATED, None, 1796000000.0))
    assert late["at"] == "2026-11-30T00:53:20.000Z"
    # The stream dates a change in whole seconds: a deletion in the second of the last update keeps its order.
    early = _one(Change(KEY, UPDATED, None, 1795860300.0))  # 2026-11-28T10:05:00.000Z, before 10:05:00.250Z
    assert early["at"] == UPDATED["updated_at"]


def test_the_request_id_travels_with_the_change_but_a_deletion_names_none():
    assert request_id(Change(KEY, CREATED, UPDATED, 2.0)) == "req-2"
    assert request_id(Change(KEY, UPDATED, None, 3.0)) is None


def test_records_outside_the_captured_ones_make_no_event():
    for key in (keys.stats_key(SUB), keys.activity_key(SUB, "2026-11-28T10:00:00.000Z", ITEM_ID),
                keys.idempotency_record_key(SUB, "k"), keys.dead_letter_key("m-1")):  # fmt: skip
        assert events_of(Change(key, None, {"x": 1}, 1.0)) == []


def _profile(session: str | None, signed_in_at: int | None = 1796000000) -> dict:
    return {"sub": SUB, "username": "dana", "last_seen_at": "2026-12-01T00:00:00.000Z", "session": session,
            "signed_in_at": signed_in_at}  # fmt: skip


def test_a_profile_write_is_a_sign_in_only_when_its_session_is_new():
    key = keys.profile_key(SUB)
    [first] = events_of(Change(key, None, _profile("s-1"), 1.0))
    assert (first["type"], first["item_id"], first["at"]) == ("user.signed_in", None, "2026-11-30T00:53:20.000Z")
    assert events_of(Change(key, _profile("s-1"), _profile("s-1"), 2.0)) == []  # the same session again
    [second] = events_of(Change(key, _profile("s-1"), _profile("s-2", 1796000500), 3.0))
    # Back to the first session: the same event as before, which the consumer already applied.
    assert events_of(Change(key, _profile("s-2", 1796000500), _profile("s-1"), 4.0)) == [first]
    assert second["id"] != first["id"]


def test_a_profile_without_a_whole_sign_in_makes_no_event():
    key = keys.profile_key(SUB)
    assert events_of(Change(key, None, _profile(None), 1.0)) == []
    assert events_of(Change(key, None, _profile("s-1", None), 1.0)) == []
