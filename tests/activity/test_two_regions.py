"""Two regions over one DynamoDB global table (docs/DESIGN.md "Two regions"): each replica's stream carries
every change, the ones written in its region and the ones replicated from the other alike, with nothing to
tell them apart but the ``written_in`` the app stamps; so each change is forwarded by the region that wrote
it only, and applied once in total. Each region counts into its own STATS shard; GET /stats sums them."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from chalicelib import consumers
from chalicelib import keys
from chalicelib import ops
from chalicelib import wiring
from chalicelib.auth.local_issuer import sub_for
from chalicelib.events.base import TABLE_STREAM
from chalicelib.events.stream import lambda_record
from chalicelib.settings import ConfigError
from chalicelib.settings import Settings
from chalicelib.store.base import Key
from chalicelib.store.base import Put
from chalicelib.store.base import Record
from chalicelib.store.base import Update
from chalicelib.tasks.feed import summed_stats
from chalicelib.tasks.outbox import Change
from chalicelib.tasks.outbox import owned
from tests.support.activity import activity_of
from tests.support.activity import item_counts
from tests.support.activity import sqs_record
from tests.support.queues import RecordingQueue

HOME, OTHER = "us-east-1", "eu-west-1"
REGIONS = (HOME, OTHER)
# One table, a replica (and its own stream) per region: the same table name, each stream its own label.
STREAM = {
    HOME: "arn:aws:dynamodb:us-east-1:123456789012:table/tasks-api-tasks/stream/2026-11-20T09:00:00.000",
    OTHER: "arn:aws:dynamodb:eu-west-1:123456789012:table/tasks-api-tasks/stream/2026-11-20T09:00:04.512",
}
SUB = "sub-gil"
ITEM_ID = "01JD0000000000000000000007"
KEY = keys.item_key(SUB, ITEM_ID)
COUNTED = ("todo", "in_progress", "done", "total")


def _item(version: int, status: str, at: str, region: str | None) -> Record:
    """An item's image as the app writes it (ItemService), stamped with the region that accepted the write."""
    item: Record = {"id": ITEM_ID, "title": "ship it", "notes": "", "status": status, "due": None, "tags": [],
            "created_at": "2026-11-28T10:00:00.000Z", "updated_at": at, "version": version,
            "request_id": f"req-{version}"}  # fmt: skip
    return item if region is None else {**item, keys.REGION_ATTRIBUTE: region}


CREATED_IN_HOME = _item(1, "todo", "2026-11-28T10:00:00.000Z", HOME)
DONE_IN_HOME = _item(2, "done", "2026-11-28T10:05:00.000Z", HOME)
STARTED_IN_OTHER = _item(2, "in_progress", "2026-11-28T10:05:00.000Z", OTHER)


class Stream:
    """One region's stream of the global table: the records Lambda hands its forwarder, numbered as a shard
    numbers them. A change written in another region arrives here later, as its own record."""

    def __init__(self, region: str, first_sequence: int) -> None:
        self.region = region
        self._sequence = first_sequence

    def record(self, old: Record | None, new: Record | None, at: float, key: Key = KEY) -> dict[str, Any]:
        self._sequence += 1
        return lambda_record(key, old, new, at, str(self._sequence), STREAM[self.region])


def both_streams(old: Record | None, new: Record | None, *, written_at: float) -> dict[str, dict[str, Any]]:
    """One change as each replica's stream carries it: the same images, the replica's copy a second later
    (replication is asynchronous) under its own stream ARN, region and sequence number."""
    home, other = Stream(HOME, 4421584500000000017450439000), Stream(OTHER, 6032188700000000003391275000)
    return {HOME: home.record(old, new, written_at), OTHER: other.record(old, new, written_at + 1)}


def region_services(region: str, store: Any, regions: tuple[str, ...] = REGIONS) -> wiring.Services:
    """One region's functions, over the table they share, with a queue that keeps what it is sent."""
    settings = Settings.from_env({**os.environ, "AWS_REGION": region, "REGIONS": ",".join(regions)})
    return wiring.Services(settings, store=store, queue=RecordingQueue())


def forward_and_apply(region: wiring.Services, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the region's forwarder over its stream's records, then its activity consumer over what was sent."""
    assert consumers.forward(region, {"Records": records}) == {"batchItemFailures": []}
    sent = [body for body, _ in region.queue.sent]  # type: ignore[attr-defined]
    messages = [sqs_record(body, message_id=f"{region.settings.aws_region}-{n}") for n, body in enumerate(sent)]
    assert consumers.activity(region, {"Records": messages}) == {"batchItemFailures": []}
    return sent


@pytest.fixture
def store(adapter, env):
    env(QUEUE="off")  # no embedded feed or queue: the test hands each region's functions their records
    return wiring.services().store


# --- settings ------------------------------------------------------------------------------------


def test_regions_are_read_home_first_and_must_include_this_processs_region():
    settings = Settings.from_env({"AWS_REGION": OTHER, "REGIONS": " us-east-1, eu-west-1 "})
    assert settings.regions == REGIONS and settings.aws_region == OTHER
    assert Settings.from_env({"AWS_REGION": HOME}).regions == ()
    for regions, own in (("us-east-1,eu-west-1", "ap-south-1"), ("us-east-1,eu-west-1", ""),
                         ("us-east-1,us-east-1", HOME), ("us-east-1,EU WEST", HOME)):  # fmt: skip
        with pytest.raises(ConfigError, match="REGIONS"):
            Settings.from_env({"AWS_REGION": own, "REGIONS": regions})


# --- which region wrote it -----------------------------------------------------------------------


def test_every_item_and_profile_write_records_the_region_that_accepted_it_and_no_reply_shows_it(env, api):
    env(AWS_REGION=OTHER, QUEUE="off")
    created = api.post("/items", {"title": "stamped"})
    patched = api.patch(f"/items/{created.json['id']}", {"status": "done"}, headers={"If-Match": '"1"'})
    me = api.get("/me")
    assert (created.status, patched.status, me.status) == (201, 200, 200)
    store = wiring.services().store
    item = store.get(keys.item_key(me.json["sub"], created.json["id"]))
    profile = store.get(keys.profile_key(me.json["sub"]))
    assert item is not None and profile is not None
    assert (item[keys.REGION_ATTRIBUTE], profile[keys.REGION_ATTRIBUTE]) == (OTHER, OTHER)
    for reply in (created, patched, me, api.get(f"/items/{created.json['id']}"), api.get("/items")):
        assert keys.REGION_ATTRIBUTE.encode() not in reply.body and keys.REQUEST_ATTRIBUTE.encode() not in reply.body


def test_a_change_belongs_to_the_region_its_new_image_names_or_for_a_removal_its_old_one():
    insert, modify = Change(KEY, None, CREATED_IN_HOME, 1.0), Change(KEY, CREATED_IN_HOME, STARTED_IN_OTHER, 2.0)
    remove = Change(KEY, DONE_IN_HOME, None, 3.0)  # whichever region deleted it: both see this old image
    assert [owned(change, HOME, REGIONS) for change in (insert, modify, remove)] == [True, False, True]
    assert [owned(change, OTHER, REGIONS) for change in (insert, modify, remove)] == [False, True, False]


def test_an_image_written_before_there_were_regions_or_by_an_unlisted_one_belongs_to_the_home_region():
    for writer in (None, "ap-south-1"):
        image = _item(1, "todo", "2026-11-28T10:00:00.000Z", writer)
        for change in (Change(KEY, None, image, 1.0), Change(KEY, image, None, 2.0)):
            assert (owned(change, HOME, REGIONS), owned(change, OTHER, REGIONS)) == (True, False)


def test_in_one_region_every_change_is_its_own_whoever_stamped_it():
    for image in (CREATED_IN_HOME, STARTED_IN_OTHER, _item(1, "todo", "2026-11-28T10:00:00.000Z", None)):
        assert owned(Change(KEY, None, image, 1.0), HOME, ()) and owned(Change(KEY, image, None, 1.0), None, ())


# --- the forwarder and the consumer, fed both replicas' streams ----------------------------------

# (what happened, old image, new image, the region whose forwarder sends it, the counters afterwards)
CHANGES = [
    ("INSERT written in home", None, CREATED_IN_HOME, HOME, {"todo": 1, "total": 1}),
    ("MODIFY written in other", CREATED_IN_HOME, STARTED_IN_OTHER, OTHER, {"todo": -1, "in_progress": 1}),
    ("REMOVE in other of an item last written in home", DONE_IN_HOME, None, HOME, {"done": -1, "total": -1}),
]


@pytest.mark.parametrize(("old", "new", "forwarder", "moved"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_a_change_in_both_replicas_streams_is_forwarded_by_one_region_and_applied_once(
    store, old, new, forwarder, moved
):
    records = both_streams(old, new, written_at=1795860400.0)
    image = "NewImage" if new else "OldImage"
    assert records[HOME]["dynamodb"][image] == records[OTHER]["dynamodb"][image]
    assert records[HOME]["eventSourceARN"] != records[OTHER]["eventSourceARN"]

    sent = {region: forward_and_apply(region_services(region, store), [records[region]]) for region in REGIONS}

    assert [len(sent[region]) for region in REGIONS] == [1 if region == forwarder else 0 for region in REGIONS]
    assert len(activity_of(SUB)) == 1
    assert {name: summed_stats(store, SUB)[name] for name in COUNTED} == {name: moved.get(name, 0) for name in COUNTED}
    # The one region that applied it counted it in its own shard; the other's has nothing.
    assert store.get(keys.stats_key(SUB, forwarder))["applied"] == 1
    assert [store.get(keys.stats_key(SUB, region)) for region in REGIONS if region != forwarder] == [None]
    assert store.get(keys.stats_key(SUB)) is None


def test_an_items_whole_life_across_both_regions_is_applied_once_per_change(store):
    """Created in home, started in other, deleted in other: each replica's stream holds all three changes in
    order (its own and the replicated ones), and between them the two regions apply each exactly once."""
    life = [(None, CREATED_IN_HOME, 1795860000.0), (CREATED_IN_HOME, STARTED_IN_OTHER, 1795860300.0),
            (STARTED_IN_OTHER, None, 1795860600.0)]  # fmt: skip
    streams = {HOME: Stream(HOME, 100), OTHER: Stream(OTHER, 900)}
    lag = {HOME: 0.0, OTHER: 1.0}
    sent = {
        region: forward_and_apply(
            region_services(region, store),
            [streams[region].record(old, new, at + lag[region]) for old, new, at in life],
        )
        for region in REGIONS
    }
    assert [event["type"] for event in sent[HOME]] == ["item.created"]
    assert [event["type"] for event in sent[OTHER]] == ["item.updated", "item.deleted"]
    assert len(activity_of(SUB)) == 3
    assert {name: summed_stats(store, SUB)[name] for name in COUNTED} == dict.fromkeys(COUNTED, 0)


def test_unmarked_changes_from_before_the_regions_are_forwarded_by_the_home_region_only(store):
    unmarked = _item(1, "todo", "2026-11-28T10:00:00.000Z", None)
    records = both_streams(None, unmarked, written_at=1795860000.0)
    sent = {region: forward_and_apply(region_services(region, store), [records[region]]) for region in REGIONS}
    assert (len(sent[HOME]), len(sent[OTHER])) == (1, 0)
    assert len(activity_of(SUB)) == 1 and summed_stats(store, SUB)["todo"] == 1


def test_in_one_region_the_forwarder_sends_every_change_and_the_consumer_counts_in_stats(store):
    settings = Settings.from_env({**os.environ, "AWS_REGION": OTHER})
    single = wiring.Services(settings, store=store, queue=RecordingQueue())
    sent = forward_and_apply(single, [Stream(OTHER, 1).record(None, CREATED_IN_HOME, 1795860000.0)])
    assert len(sent) == 1
    assert store.get(keys.stats_key(SUB))["todo"] == 1 and store.get(keys.stats_key(SUB, OTHER)) is None


# --- STATS shards --------------------------------------------------------------------------------


def test_get_stats_sums_every_regions_shard_and_the_single_region_record(env, api):
    sub = sub_for("alice")  # whom the api fixture calls as
    store = wiring.services().store
    store.update(Update(keys.stats_key(sub), add={"todo": 1, "total": 1},
                        set={"updated_at": "2026-11-28T09:00:00.000Z"}))  # fmt: skip
    store.update(Update(keys.stats_key(sub, HOME), add={"todo": 2, "total": 2, "sign_ins": 1},
                        set={"updated_at": "2026-11-28T10:00:00.000Z"}))  # fmt: skip
    store.update(Update(keys.stats_key(sub, OTHER), add={"todo": -1, "done": 1, "sign_ins": 2},
                        set={"updated_at": "2026-11-28T11:00:00.000Z"}))  # fmt: skip

    reply = api.get("/stats")

    assert reply.status == 200
    assert reply.json == {"todo": 2, "in_progress": 0, "done": 1, "total": 3, "sign_ins": 3,
                          "updated_at": "2026-11-28T11:00:00.000Z"}  # fmt: skip


def _add_items(store: Any, *statuses: str) -> None:
    for n, status in enumerate(statuses):
        item_id = f"01JD00000000000000000000{n:02d}"
        store.put(Put(keys.item_key(SUB, item_id), {"id": item_id, "title": "t", "status": status, "version": 1}))


def test_a_rebuild_in_two_regions_corrects_its_own_shard_so_the_sum_matches_the_items(store, env):
    _add_items(store, "todo", "todo", "done")
    # One creation counted before there were regions, one by home; the other region's shard has drifted (an
    # event counted that never was) and the done item's creation was lost.
    store.update(Update(keys.stats_key(SUB), add={"todo": 1, "total": 1, "applied": 1}))
    store.update(Update(keys.stats_key(SUB, HOME), add={"todo": 1, "total": 1, "applied": 1}))
    store.update(Update(keys.stats_key(SUB, OTHER), add={"in_progress": 1, "total": 1, "sign_ins": 4, "applied": 1}))
    env(AWS_REGION=OTHER, REGIONS="us-east-1,eu-west-1", QUEUE="off")
    out = io.StringIO()

    status = ops.main(["stats", "rebuild", SUB, "--settle", "0"], services=wiring.services(), out=out)

    assert status == 0, out.getvalue()
    assert out.getvalue() == f"{SUB}: corrected in_progress 1 -> 0 (-1), done 0 -> 1 (+1)\n"
    summed = summed_stats(store, SUB)
    truth = {"todo": 2, "in_progress": 0, "done": 1, "total": 3}
    assert {name: summed[name] for name in COUNTED} == item_counts(SUB) == truth
    assert summed["sign_ins"] == 4
    for untouched in (keys.stats_key(SUB, HOME), keys.stats_key(SUB)):  # another region's, and the one from before
        assert store.get(untouched) == {"todo": 1, "total": 1, "applied": 1}
    other = store.get(keys.stats_key(SUB, OTHER))
    assert (other["in_progress"], other["done"], other["total"], other["applied"]) == (0, 1, 1, 2)


def test_a_rebuild_told_of_no_region_refuses_stats_kept_per_region_and_changes_nothing(store, env):
    # Without REGIONS it would correct the one-region record, which no consumer writes any more: its guard on
    # `applied` would protect nothing against the regions' consumers.
    _add_items(store, "todo")
    store.update(Update(keys.stats_key(SUB, HOME), add={"done": 1, "total": 1, "applied": 1}))
    env(QUEUE="off")
    out = io.StringIO()

    status = ops.main(["stats", "rebuild", SUB, "--settle", "0"], services=wiring.services(), out=out)

    assert status == 2
    assert out.getvalue() == f"{SUB}'s STATS has a shard per region: set REGIONS and AWS_REGION as deployed\n"
    assert store.get(keys.stats_key(SUB)) is None
    assert store.get(keys.stats_key(SUB, HOME)) == {"done": 1, "total": 1, "applied": 1}


# --- end to end: two regions' feeds reading one table's real stream --------------------------------


@pytest.fixture
def two_regions(env, dynamodb_endpoint):
    """Home and other over one DynamoDB Local table, each with its own feed reading that table's stream (its
    real GetRecords shapes) from the start, as each replica's forwarder reads a stream carrying every write."""
    from tests.support.environment import use_dynamodb

    use_dynamodb(env, dynamodb_endpoint)
    env(QUEUE="off")  # the process's own services (the tests' readers) start no feed of their own
    regions = {}
    for region in REGIONS:
        variables = {"AWS_REGION": region, "REGIONS": ",".join(REGIONS), "QUEUE": "local"}
        settings = Settings.from_env({**os.environ, **variables})
        regions[region] = wiring.Services(settings, queue=RecordingQueue(), consumers={TABLE_STREAM: consumers.forward})
    yield regions
    for services in regions.values():
        services.close()


def test_writes_in_both_regions_are_each_forwarded_by_the_region_that_wrote_them_from_one_real_stream(two_regions):
    from chalicelib.tasks.items import NewItem

    home, other = two_regions[HOME], two_regions[OTHER]
    patched = home.items.create(SUB, NewItem("patched in other, deleted in home")).item
    deleted = home.items.create(SUB, NewItem("deleted in other")).item
    other.items.patch(SUB, patched["id"], {"status": "done"})
    home.items.delete(SUB, patched["id"])  # last written in other: other forwards its removal
    other.items.delete(SUB, deleted["id"])  # last written in home: home does
    other.profiles.touch(SUB, "gil", None, session="session-1", signed_in_at=1795860000)

    for services in (home, other):
        assert services.change_feed is not None and services.change_feed.drain(20)
    sent = {region: [body for body, _ in two_regions[region].queue.sent] for region in REGIONS}
    assert sorted((event["type"], event["item_id"]) for event in sent[HOME]) == sorted(
        [("item.created", patched["id"]), ("item.created", deleted["id"]), ("item.deleted", deleted["id"])]
    )
    assert sorted((event["type"], event["item_id"]) for event in sent[OTHER]) == sorted(
        [("item.updated", patched["id"]), ("item.deleted", patched["id"]), ("user.signed_in", None)]
    )

    for region in REGIONS:
        records = [sqs_record(body, message_id=f"{region}-{n}") for n, body in enumerate(sent[region])]
        assert consumers.activity(two_regions[region], {"Records": records}) == {"batchItemFailures": []}
    store = home.store
    assert len(activity_of(SUB)) == 6
    summed = summed_stats(store, SUB)
    assert ({name: summed[name] for name in COUNTED}, summed["sign_ins"]) == (dict.fromkeys(COUNTED, 0), 1)
    assert (store.get(keys.stats_key(SUB, HOME))["applied"], store.get(keys.stats_key(SUB, OTHER))["applied"]) == (3, 3)
