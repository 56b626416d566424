"""The local two-region drill: two `chalice local` servers as two regions (us-east-1 and eu-west-1) over one
DynamoDB Local table, which stands in for a global table's replicas as a strongly consistent one would
(docs/DEPLOY.md "Two regions"). Each has its own data dir (its region switch, its embedded queue) and the same
local issuer key, so a token from one is accepted by the other, as every region accepts the home pool's."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any
from typing import NamedTuple

import pytest

from chalicelib.auth.local_issuer import mint
from chalicelib.settings import Settings
from chalicelib.vocabulary import REGION_FAILED
from chalicelib.vocabulary import REGION_SERVING
from tests.e2e.test_chalice_local import REPO_ROOT
from tests.e2e.test_chalice_local import LocalServer
from tests.e2e.test_chalice_local import call
from tests.e2e.test_chalice_local import send_together
from tests.support.api import assert_problem
from tests.support.aws import FAKE_AWS
from tests.support.issuer_key import seed_issuer_key

pytestmark = pytest.mark.e2e

HOME, OTHER = "us-east-1", "eu-west-1"
RACERS = 20  # half through each region
SETTLE_SECONDS = 10.0  # locally a change reaches stats and activity within 5 s (API.md); twice that here


SWITCH_CACHE_SECONDS = 1


class Regions(NamedTuple):
    home: LocalServer
    other: LocalServer


@pytest.fixture(scope="module")
def regions(tmp_path_factory, dynamodb_endpoint) -> Iterator[Regions]:
    root = tmp_path_factory.mktemp("regions")
    shared = {
        **FAKE_AWS,
        "AWS_CONFIG_FILE": str(root / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
        "REGIONS": f"{HOME},{OTHER}",
        "STORE": "dynamodb",
        "TABLE_NAME": f"drill-{uuid.uuid4().hex[:12]}",
        "DYNAMODB_ENDPOINT_URL": dynamodb_endpoint,
        # A read of the switch kept a second, not the deployed 10: the drill sees fail and restore sooner.
        "REGION_SWITCH_CACHE_SECONDS": str(SWITCH_CACHE_SECONDS),
    }

    for region in (HOME, OTHER):  # one key in both (seeded one after the other: the first one makes it)
        seed_issuer_key(str(root / region))

    def start(region: str) -> LocalServer:
        return stack.enter_context(LocalServer.running(root / region, **shared, AWS_REGION=region))

    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        home, other = pool.map(start, (HOME, OTHER))
        yield Regions(home, other)


def token(regions: Regions, username: str) -> str:
    """A local access token (the home region's issuer; the other region holds the same key)."""
    return mint(username, settings=Settings(data_dir=str(regions.home.data_dir)))


def create(server: LocalServer, bearer: str, title: str) -> dict[str, Any]:
    reply = call(server, "POST", "/items", {"title": title}, token=bearer)
    assert reply.status == 201, reply.body
    return reply.json


def eventually(check: Callable[[], bool], timeout: float = SETTLE_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def region_command(server: LocalServer, action: str) -> str:
    """`python -m chalicelib.ops region ACTION` in that server's environment (its DATA_DIR: its switch file)."""
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.ops", "region", action],
        cwd=REPO_ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


# --- one table, two regions ----------------------------------------------------------------------------


def test_a_write_through_one_region_is_read_through_the_other_and_back(regions):
    alice = token(regions, "alice-regions")
    item = create(regions.home, alice, "written at home")
    path = f"/items/{item['id']}"
    assert call(regions.other, "GET", path, token=alice).json == item
    assert [listed["id"] for listed in call(regions.other, "GET", "/items", token=alice).json["items"]] == [item["id"]]

    patched = call(regions.other, "PATCH", path, {"status": "done"}, token=alice, headers={"If-Match": '"1"'})
    assert patched.status == 200 and patched.json["version"] == 2
    assert call(regions.home, "GET", path, token=alice).json == patched.json
    # The home region's copy is as new as the other's: its stale If-Match loses there too.
    stale = call(regions.home, "PATCH", path, {"title": "stale"}, token=alice, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition_failed")


def test_conditional_writes_racing_through_both_regions_let_exactly_one_win(regions):
    alice = token(regions, "alice-race")
    item = create(regions.home, alice, "contested across regions")
    path = f"/items/{item['id']}"
    headers = {"Authorization": f"Bearer {alice}", "Content-Type": "application/json", "If-Match": '"1"'}
    servers = [regions.home if n % 2 else regions.other for n in range(RACERS)]
    bodies = [json.dumps({"notes": f"writer {n}"}).encode() for n in range(RACERS)]
    replies = send_together([(server, "PATCH", path, body, headers) for server, body in zip(servers, bodies)])

    assert sorted(r.status for r in replies) == [200] + [412] * (RACERS - 1), [r.body for r in replies]
    winner = next(r for r in replies if r.status == 200)
    assert winner.json["version"] == 2  # advanced once
    for server in regions:
        assert call(server, "GET", path, token=alice).json == winner.json


# --- the activity pipeline in both regions ----------------------------------------------------------------

# What the forwarder and the consumer log per event (chalicelib/consumers.py), with the event's item_id=.
FORWARDED = "activity event forwarded"
RECORDED = "activity event recorded"
REDELIVERED = "activity event already recorded"


def _logged(server: LocalServer, message: str, items: list[str]) -> list[str]:
    """The ids of ``items`` on this server's log lines saying ``message``, once per line."""
    ids = []
    for line in server.output(tail=None).splitlines():
        if message in line:
            ids += [word[len("item_id=") :] for word in line.split() if word.startswith("item_id=")]
    return [item for item in ids if item in items]


def _written_alternately(regions: Regions, bearer: str) -> tuple[list[str], list[str]]:
    """Items created home, other, home, other. Each region's feed reads the one stream in order, so once a
    region has forwarded its last item it has read every item before it, the other region's among them."""
    home_items, other_items = [], []
    for n in range(2):
        home_items.append(create(regions.home, bearer, f"home {n}")["id"])
        other_items.append(create(regions.other, bearer, f"other {n}")["id"])
    return home_items, other_items


def _drained(server: LocalServer, own: list[str], items: list[str]) -> bool:
    """This region forwarded its own items, and its consumer took every event it forwarded."""
    forwarded = set(_logged(server, FORWARDED, items))
    consumed = set(_logged(server, RECORDED, items) + _logged(server, REDELIVERED, items))
    return set(own) <= forwarded <= consumed


def test_every_change_is_applied_to_stats_and_activity_once_in_total_though_both_regions_read_it(regions):
    carol = token(regions, "carol-regions")
    home_items, other_items = _written_alternately(regions, carol)
    created = sorted(home_items + other_items)
    assert eventually(
        lambda: _drained(regions.home, home_items, created) and _drained(regions.other, other_items, created)
    )

    # Applied once in total: by one region's consumer, whichever forwarded it (a second delivery finds its
    # ACTIVITY# record and changes nothing).
    assert sorted(item for server in regions for item in _logged(server, RECORDED, created)) == created
    for server in regions:
        stats = call(server, "GET", "/stats", token=carol).json
        assert (stats["todo"], stats["total"]) == (len(created), len(created))
        events = call(server, "GET", "/activity", token=carol).json["events"]
        assert sorted((event["type"], event["item_id"]) for event in events) == [("item.created", i) for i in created]


def test_each_region_forwards_only_the_changes_written_in_it(regions):
    # Both regions read the same stream (a global table's replicas each stream every change, replicated ones
    # too); each record says where it was written (keys.REGION_ATTRIBUTE), and only that region forwards it.
    dave = token(regions, "dave-regions")
    home_items, other_items = _written_alternately(regions, dave)
    created = home_items + other_items
    assert eventually(
        lambda: _drained(regions.home, home_items, created) and _drained(regions.other, other_items, created)
    )
    # Each has read past every item of the other's written before its own last one, and forwarded none.
    assert not set(other_items[:-1]) & set(_logged(regions.home, FORWARDED, created))
    assert not set(home_items) & set(_logged(regions.other, FORWARDED, created))


# --- the region switch (last: a failed region's /health is seen within the switch's cache) -----------------


def test_failing_one_region_turns_its_health_to_503_while_the_other_keeps_serving(regions):
    alice = token(regions, "alice-failover")
    item = create(regions.home, alice, "written before the failover")
    assert region_command(regions.home, "fail") == REGION_FAILED
    try:
        # The switch is read at most every SWITCH_CACHE_SECONDS per instance (docs/OPERATIONS.md "The region switch").
        assert eventually(lambda: call(regions.home, "GET", "/health").status == 503, SWITCH_CACHE_SECONDS + 5)
        assert_problem(call(regions.home, "GET", "/health"), 503, "region_failed")
        assert region_command(regions.other, "status") == REGION_SERVING
        assert call(regions.other, "GET", "/health").status == 200
        assert call(regions.other, "GET", f"/items/{item['id']}", token=alice).json == item
        moved = create(regions.other, alice, "written during the failover")
        assert call(regions.other, "GET", f"/items/{moved['id']}", token=alice).status == 200
    finally:
        assert region_command(regions.home, "restore") == REGION_SERVING
    assert eventually(lambda: call(regions.home, "GET", "/health").status == 200, SWITCH_CACHE_SECONDS + 5)
    assert call(regions.home, "GET", f"/items/{moved['id']}", token=alice).json == moved
