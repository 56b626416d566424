"""Races on both adapters: of 20 simultaneous conditional writes exactly one wins; 20 idempotent creates make one item.

HTTP races run in 20 worker processes, an app each (like 20 Lambda instances on one table): within one process threads
share `app.current_request` (the last test shows the damage) and Chalice's test client swaps `os.environ` per request.
The services are also raced on 20 threads sharing one store, as `chalice local` shares it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.errors import NotFound
from chalicelib.errors import PreconditionFailed
from chalicelib.tasks.items import NewItem
from chalicelib.tasks.items import body_fingerprint
from tests.support.api import Reply
from tests.support.api import assert_problem
from tests.support.aws import FAKE_AWS
from tests.support.environment import SETTINGS_VARIABLES

RACERS = 20
BARRIER_TIMEOUT = 30.0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What a worker copies from the test's environment (the adapter's settings and DynamoDB Local's dummy credentials).
FORWARDED_VARIABLES = SETTINGS_VARIABLES + tuple(FAKE_AWS) + ("AWS_REGION",)

Request = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


# --- the worker processes ----------------------------------------------------------------------

_barrier: Any = None


def _start_worker(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _send(client: Any, request: Request) -> tuple[int, dict[str, str], bytes]:
    method, path, headers, body = request
    response = client.http.request(method, path, headers=headers, body=body)
    return response.status_code, dict(response.headers), response.body


def _call_in_worker(environment: dict[str, str], warm_up: Request, request: Request) -> tuple[int, dict, bytes]:
    """One "Lambda instance": configure, warm up (store client, JWKS), wait for the others, then send."""
    try:
        for name in FORWARDED_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(environment)
        wiring.reset()
        from chalice.test import Client

        from app import app

        with Client(app, project_dir=REPO_ROOT) as client:
            status = _send(client, warm_up)[0]
            if status != 200:
                raise AssertionError(f"warm-up request answered {status}")
            _barrier.wait(timeout=BARRIER_TIMEOUT)
            return _send(client, request)
    except BaseException:
        _barrier.abort()  # the others fail now instead of at the timeout
        raise


@pytest.fixture(scope="module")
def workers():
    """20 processes forked from a clean, preloaded fork server, and the barrier they share."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        [
            "app",
            "chalice.test",
            "chalicelib.auth.verifier",
            "chalicelib.tasks.items",
            "chalicelib.store.sqlite",
            "chalicelib.store.dynamodb",
            "boto3",
            __name__,
        ]
    )
    barrier = context.Barrier(RACERS)
    pool = context.Pool(RACERS, initializer=_start_worker, initargs=(barrier,))
    try:
        yield pool, barrier
    finally:
        pool.terminate()
        pool.join()


def _race(workers, api, requests: list[Request]) -> list[Reply]:
    """Send each request from its own worker process, all released together."""
    pool, barrier = workers
    assert len(requests) == RACERS
    barrier.reset()
    environment = {name: os.environ[name] for name in FORWARDED_VARIABLES if name in os.environ}
    warm_up: Request = ("GET", "/items?limit=1", _auth(api), b"")
    results = pool.starmap_async(_call_in_worker, [(environment, warm_up, r) for r in requests], chunksize=1).get(
        timeout=120
    )
    return [Reply(status, headers, body) for status, headers, body in results]


def _auth(api, user: str = "alice", **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(user)}", "Content-Type": "application/json", **headers}


def _statuses(replies: list[Reply]) -> list[int]:
    return sorted(reply.status for reply in replies)


# --- HTTP races, one process per request ----------------------------------------------------------


def test_twenty_concurrent_patches_with_one_if_match_let_exactly_one_win(adapter, api, workers):
    item = api.create("Contested")
    path = f"/items/{item['id']}"
    replies = _race(
        workers,
        api,
        [
            ("PATCH", path, _auth(api, **{"If-Match": '"1"'}), json.dumps({"title": f"writer {n}"}).encode())
            for n in range(RACERS)
        ],
    )

    assert _statuses(replies) == [200] + [412] * (RACERS - 1), [r.body for r in replies if r.status >= 500]
    winner = next(reply for reply in replies if reply.status == 200)
    for loser in (reply for reply in replies if reply.status == 412):
        assert_problem(loser, 412, "precondition_failed")
    stored = api.get(path)
    assert stored.json == winner.json
    assert stored.json["version"] == 2 and stored.header("ETag") == '"2"'


def test_twenty_concurrent_creates_with_one_idempotency_key_make_one_item_and_all_answer_201(
    adapter, table_consistency, api, workers
):
    body = json.dumps({"title": "Pay rent", "tags": ["home"]}).encode()
    replies = _race(
        workers,
        api,
        [("POST", "/items", _auth(api, **{"Idempotency-Key": "rent-2026-11"}), body) for _ in range(RACERS)],
    )

    assert _statuses(replies) == [201] * RACERS, [r.body for r in replies if r.status != 201]
    assert len({reply.json["id"] for reply in replies}) == 1
    assert all(reply.json == replies[0].json for reply in replies)
    assert {reply.header("Location") for reply in replies} == {f"/items/{replies[0].json['id']}"}
    listed = api.get("/items").json
    assert listed["items"] == [replies[0].json] and listed["next_cursor"] is None


def test_twenty_concurrent_deletes_with_one_if_match_let_exactly_one_succeed(adapter, api, workers):
    item = api.create("Delete me once")
    path = f"/items/{item['id']}"
    replies = _race(workers, api, [("DELETE", path, _auth(api, **{"If-Match": '"1"'}), b"") for _ in range(RACERS)])

    statuses = _statuses(replies)
    assert statuses.count(204) == 1, statuses
    for loser in (reply for reply in replies if reply.status != 204):
        # Lost the race while the item still existed (412), or arrived after it was gone (404).
        assert loser.status in (404, 412), (loser.status, loser.body)
        assert_problem(loser, loser.status, "precondition_failed" if loser.status == 412 else "not_found")
    assert_problem(api.get(path), 404, "not_found")


# --- service races, one thread per call on one shared store ---------------------------------------


def _race_threads(call: Callable[[int], Any]) -> list[tuple[str, Any]]:
    """Run ``call(n)`` for n in 0..19 on 20 threads released together: [("ok", result) | ("error", exception)]."""
    barrier = threading.Barrier(RACERS)

    def run(n: int) -> tuple[str, Any]:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        try:
            return "ok", call(n)
        except Exception as error:
            return "error", error

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(run, range(RACERS)))


def test_twenty_threads_patching_one_version_through_the_service_let_exactly_one_win(adapter):
    items = wiring.services().items
    item = items.create("svc-user", NewItem(title="Contested")).item

    outcomes = _race_threads(lambda n: items.patch("svc-user", item["id"], {"notes": f"writer {n}"}, if_match=1))

    wins = [result for kind, result in outcomes if kind == "ok"]
    errors = [result for kind, result in outcomes if kind == "error"]
    assert len(wins) == 1 and all(isinstance(e, PreconditionFailed) for e in errors), errors
    stored = items.get("svc-user", item["id"])
    assert stored == wins[0] and stored["version"] == 2


def test_twenty_threads_creating_with_one_idempotency_key_through_the_service_make_one_item(adapter):
    from chalicelib.protocol import schemas  # msgspec: loaded by the routes that validate, as here

    items = wiring.services().items
    body = {"title": "Once", "status": "in_progress"}
    data = schemas.new_item(schemas.validate(schemas.ItemCreate, body))

    outcomes = _race_threads(
        lambda n: items.create("svc-user", data, idempotency_key="once", fingerprint=body_fingerprint(body))
    )

    assert [kind for kind, _ in outcomes] == ["ok"] * RACERS, [r for k, r in outcomes if k == "error"]
    created = [result for _, result in outcomes]
    assert len({c.item["id"] for c in created}) == 1
    assert sum(not c.replayed for c in created) == 1
    page, _ = items.list("svc-user", limit=100)
    assert page == [created[0].item]


def test_twenty_threads_deleting_one_version_through_the_service_let_exactly_one_succeed(adapter):
    items = wiring.services().items
    item = items.create("svc-user", NewItem(title="Delete me once")).item

    outcomes = _race_threads(lambda n: items.delete("svc-user", item["id"], if_match=1))

    assert [kind for kind, _ in outcomes].count("ok") == 1
    errors = [result for kind, result in outcomes if kind == "error"]
    assert all(isinstance(e, (PreconditionFailed, NotFound)) for e in errors), errors
    with pytest.raises(NotFound):
        items.get("svc-user", item["id"])


# --- one app object served by many threads, as `chalice local` does ---------------------------------


def test_twenty_threads_serving_one_app_each_see_their_own_request(env, api):
    # chalice local's ThreadingMixIn server runs each connection on a thread, one LocalGateway per
    # connection, all on the one app object; a request must never be answered with another's body.
    from chalice.config import Config
    from chalice.local import LocalGateway

    from app import app

    attempts = 5
    users = [f"user-{n % 4}" for n in range(RACERS)]
    items = [api.create(f"item {n}", user=user)["id"] for n, user in enumerate(users)]
    tokens = [api.token(user) for user in users]

    def patch_own_item(n: int, attempt: int) -> tuple[int, dict[str, Any]]:
        gateway = LocalGateway(app, Config.create())
        response = gateway.handle_request(
            method="PATCH",
            path=f"/items/{items[n]}",
            body=json.dumps({"notes": f"{n}/{attempt}"}).encode(),
            headers={"authorization": f"Bearer {tokens[n]}", "content-type": "application/json"},
        )
        return response["statusCode"], json.loads(response["body"])

    mixed_up = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so an unsafe interleaving shows every run
    try:
        for attempt in range(attempts):
            for n, (kind, result) in enumerate(_race_threads(lambda n, attempt=attempt: patch_own_item(n, attempt))):
                assert kind == "ok", result
                status, body = result
                if status != 200 or body.get("notes") != f"{n}/{attempt}":
                    mixed_up.append((n, status, body.get("notes")))
    finally:
        sys.setswitchinterval(interval)
    assert mixed_up == [], f"{len(mixed_up)} of {attempts * RACERS} requests were served another request's body"
    for n, user in enumerate(users):
        assert api.get(f"/items/{items[n]}", user=user).json["notes"] == f"{n}/{attempts - 1}"
