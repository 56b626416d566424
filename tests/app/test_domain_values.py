"""The domain speaks the domain: the services take plain values (items.NewItem, a dict of changes, a prompt
string), never a wire schema, so they run without msgspec; the web edge (chalicelib/protocol/schemas.py) converts."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from chalicelib.tasks.items import ItemService
from chalicelib.tasks.items import NewItem

PROJECT = Path(__file__).resolve().parents[2]

SERVICES_ALONE = """
import sys
from datetime import date
from chalicelib.store.sqlite import SQLiteStore
from chalicelib.tasks.items import ItemService, NewItem
from chalicelib.tasks.profiles import ProfileService
import chalicelib.assistant.service

store = SQLiteStore(sys.argv[1])
items = ItemService(store)
created = items.create("u", NewItem("Buy milk", tags=["home"], due=date(2030, 1, 2))).item
patched = items.patch("u", created["id"], {"status": "done", "due": None}, if_match=1)
assert (patched["status"], patched["due"], patched["version"]) == ("done", None, 2), patched
assert ProfileService(store).touch("u", "alice", None, display_name="Al")["display_name"] == "Al"
store.close()
edge = ("msgspec.", "chalicelib.web", "chalicelib.protocol")
loaded = sorted(m for m in sys.modules if m == "msgspec" or m.startswith(edge))
assert not loaded, loaded
"""


def test_the_services_take_domain_values_and_never_load_msgspec_or_the_web_edge(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", SERVICES_ALONE, str(tmp_path / "store.db")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


def test_a_new_item_is_stored_with_its_due_date_as_a_calendar_string(tmp_path):
    from chalicelib.store.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "store.db"))
    item = ItemService(store).create("u", NewItem("Pay rent", due=date(2030, 2, 1))).item
    assert (item["title"], item["notes"], item["status"], item["due"], item["tags"]) == (
        "Pay rent",
        "",
        "todo",
        "2030-02-01",
        [],
    )
    store.close()


@pytest.mark.parametrize("field", ["version", "id", "created_at", "owner"])
def test_a_patch_naming_a_field_the_service_owns_is_refused_and_changes_nothing(tmp_path, field):
    from chalicelib.store.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "store.db"))
    items = ItemService(store)
    created = items.create("u", NewItem("Keep me")).item
    with pytest.raises(ValueError):
        items.patch("u", created["id"], {"title": "changed", field: 99})
    assert items.get("u", created["id"]) == created
    store.close()


def test_the_api_creates_the_item_the_service_makes_from_the_same_defaults(api):
    from chalicelib.protocol import schemas

    given = schemas.new_item(schemas.validate(schemas.ItemCreate, {"title": "Buy milk"}))
    assert given == NewItem("Buy milk")
    created = api.create("Buy milk")
    assert {name: created[name] for name in ("notes", "status", "due", "tags")} == {
        "notes": "",
        "status": "todo",
        "due": None,
        "tags": [],
    }
