"""End to end: a real `chalice local` process driven over HTTP with tokens from the local issuer's CLI,
the way a developer uses the API in their first minutes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Reply
from tests.support.api import assert_problem

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent  # the virtualenv's bin, not resolved past its symlinks
START_TIMEOUT = 30.0
RACERS = 20

# No proxy from the developer's environment may sit between the tests and 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _clean_env(data_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(data_dir)),
        "DATA_DIR": str(data_dir),
        "SQLITE_PATH": str(data_dir / "app.db"),
    }


class LocalServer:
    """`chalice local` on a free port over one data directory; restartable on the same data."""

    @classmethod
    @contextmanager
    def running(cls, data_dir: Path, **env: str) -> Iterator[LocalServer]:
        """Started with these settings added to its environment, stopped when the block ends."""
        local = cls(data_dir)
        local.env.update(env)
        local.start()
        try:
            yield local
        finally:
            local.stop()

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = _clean_env(data_dir)
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = _free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - open while the server runs; closed by stop()
        command = [
            str(BIN_DIR / "chalice"),
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--stage",
            "dev",
            "--no-autoreload",
        ]
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if call(self, "GET", "/health", timeout=1).status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.output()
                self.stop()
                pytest.fail(
                    f"chalice local did not answer GET /health within {START_TIMEOUT:.0f} s "
                    f"(exit code {self.process.returncode}); its output:\n{output}"
                )
            time.sleep(0.1)

    def output(self, tail: int | None = 4000) -> str:
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        return text[-tail:] if tail else text

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()


def call(
    server: LocalServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 10,
) -> Reply:
    sent = {"Content-Type": "application/json"}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=sent)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, dict(error.headers), error.read())


def mint_with_cli(username: str, data_dir: Path) -> str:
    """A token from the documented command, exactly as a developer gets one."""
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.auth.local_issuer", username],
        cwd=REPO_ROOT,
        env=_clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LocalServer]:
    with LocalServer.running(tmp_path_factory.mktemp("e2e") / ".data") as local:
        yield local


@pytest.fixture(scope="module")
def alice(server) -> str:
    return mint_with_cli("alice", server.data_dir)


@pytest.fixture(scope="module")
def bob(server) -> str:
    return mint_with_cli("bob", server.data_dir)


def _create(server: LocalServer, token: str, title: str, **fields: Any) -> dict[str, Any]:
    reply = call(server, "POST", "/items", {"title": title, **fields}, token=token)
    assert reply.status == 201, reply.body
    return reply.json


# --- the edge ------------------------------------------------------------------------------------


def test_health_answers_without_a_token(server):
    reply = call(server, "GET", "/health")
    assert reply.status == 200
    assert reply.json == {"status": "ok", "version": reply.json["version"], "stage": "local"}
    assert reply.header("X-Request-Id")


def test_a_missing_token_is_a_401_problem_with_a_bearer_challenge(server):
    reply = call(server, "GET", "/items")
    assert_problem(reply, 401, "unauthorized")
    assert reply.header("WWW-Authenticate").startswith("Bearer")


def test_a_garbage_bearer_token_is_a_401_problem_not_a_dropped_connection(server):
    # chalice local's own Cognito authorizer would crash on this and close the connection.
    for value in ("Bearer garbage", "Bearer a.b", "Bearer ...", "bearer x.y.z"):
        reply = call(server, "GET", "/me", headers={"Authorization": value})
        assert_problem(reply, 401, "unauthorized")
        assert reply.header("WWW-Authenticate").startswith("Bearer")


def test_a_token_signed_by_another_key_is_a_401_problem(server, tmp_path):
    foreign = mint_with_cli("alice", tmp_path / "another-machine")
    assert_problem(call(server, "GET", "/me", token=foreign), 401, "unauthorized")


def test_an_oversized_unauthenticated_request_is_401_not_413(server):
    assert_problem(call(server, "POST", "/items", raw=b"x" * (70 * 1024)), 401, "unauthorized")


def test_a_sane_request_id_is_echoed_and_an_insane_one_replaced(server, alice):
    assert (
        call(server, "GET", "/me", token=alice, headers={"X-Request-Id": "trace-42.a:b"}).header("X-Request-Id")
        == "trace-42.a:b"
    )
    generated = call(server, "GET", "/me", token=alice, headers={"X-Request-Id": "no spaces"}).header("X-Request-Id")
    assert generated and generated != "no spaces"
    problem = call(server, "GET", "/items/nope", token=alice, headers={"X-Request-Id": "req-404"})
    assert problem.header("X-Request-Id") == "req-404" and problem.json["request_id"] == "req-404"


# (The root is the console locally: GET / sends the browser to /console/, tests/e2e/test_console_sign_in.py.)
@pytest.mark.parametrize("path", ["/nope", "/nope/deeper/still", "/items/some-id/extra"])
def test_a_path_no_route_serves_is_a_404_problem_with_the_request_id_with_or_without_a_token(server, alice, path):
    # Chalice's local gateway alone answers these 403 Missing Authentication Token (a bearer token: a
    # 403 about the SigV4 header) before the app is called.
    for token in (None, alice):
        problem = call(server, "GET", path, token=token, headers={"X-Request-Id": "req-unrouted"})
        assert_problem(problem, 404, "not_found")
        assert problem.json["request_id"] == "req-unrouted"
    assert_problem(call(server, "DELETE", "/nope/deeper", token=alice), 404, "not_found")


def test_a_method_its_path_does_not_have_is_still_a_405_problem_with_allow(server, alice):
    problem = call(server, "PUT", "/items", token=alice)
    assert_problem(problem, 405, "method_not_allowed")
    assert problem.header("Allow") == "OPTIONS, GET, POST"
    assert_problem(call(server, "DELETE", "/health"), 405, "method_not_allowed")


def test_a_body_over_64_kib_is_413(server, alice):
    raw = json.dumps({"title": "big", "notes": "x" * (64 * 1024)}).encode()
    assert_problem(call(server, "POST", "/items", raw=raw, token=alice), 413, "payload_too_large")


# --- the profile and items -----------------------------------------------------------------------


def test_profile_is_created_on_first_read_and_its_display_name_changes(server, alice):
    me = call(server, "GET", "/me", token=alice)
    assert me.status == 200
    assert me.json["username"] == "alice" and me.json["display_name"] == "alice" and me.json["email"] is None
    patched = call(server, "PATCH", "/me", {"display_name": "  Alice A.  "}, token=alice)
    assert patched.status == 200 and patched.json["display_name"] == "Alice A."
    again = call(server, "GET", "/me", token=alice).json
    assert again["display_name"] == "Alice A." and again["sub"] == me.json["sub"]
    assert again["created_at"] == me.json["created_at"]


def test_the_whole_item_lifecycle_over_http(server, alice, bob):
    # Create idempotently, twice: one item.
    headers = {"Idempotency-Key": "e2e-lifecycle-1"}
    first = call(server, "POST", "/items", {"title": "Water plants", "tags": ["home"]}, token=alice, headers=headers)
    second = call(server, "POST", "/items", {"tags": ["home"], "title": "Water plants"}, token=alice, headers=headers)
    assert first.status == second.status == 201
    assert second.json == first.json
    item = first.json
    path = f"/items/{item['id']}"
    assert first.header("Location") == path and first.header("ETag") == '"1"'

    # Read, patch with If-Match, then a stale If-Match.
    read = call(server, "GET", path, token=alice)
    assert read.status == 200 and read.json == item and read.header("ETag") == '"1"'
    assert_problem(call(server, "GET", path, token=bob), 404, "not_found")
    patched = call(server, "PATCH", path, {"status": "done"}, token=alice, headers={"If-Match": '"1"'})
    assert patched.status == 200 and patched.json["version"] == 2 and patched.header("ETag") == '"2"'
    assert_problem(
        call(server, "PATCH", path, {"title": "stale"}, token=alice, headers={"If-Match": '"1"'}),
        412,
        "precondition_failed",
    )
    assert call(server, "GET", path, token=alice).json == patched.json

    # List with a status filter, page by page.
    done = [item["id"]] + [_create(server, alice, f"done {n}", status="done")["id"] for n in range(4)]
    _create(server, alice, "still todo")
    seen, cursor = [], None
    while True:
        query = "/items?status=done&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = call(server, "GET", query, token=alice)
        assert page.status == 200, page.body
        assert len(page.json["items"]) <= 2 and all(i["status"] == "done" for i in page.json["items"])
        seen += [i["id"] for i in page.json["items"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(done, reverse=True)
    assert_problem(call(server, "GET", "/items?status=done&cursor=tampered.x", token=alice), 400, "invalid_cursor")
    assert call(server, "GET", "/items", token=bob).json == {"items": [], "next_cursor": None}

    # Delete, then it is gone.
    deleted = call(server, "DELETE", path, token=alice, headers={"If-Match": '"2"'})
    assert deleted.status == 204 and deleted.body == b""
    assert_problem(call(server, "GET", path, token=alice), 404, "not_found")
    assert_problem(call(server, "DELETE", path, token=alice), 404, "not_found")


def test_changes_reach_the_callers_stats_and_activity_through_the_embedded_queue_within_five_seconds(server):
    carol = mint_with_cli("carol-e2e", server.data_dir)
    created = [_create(server, carol, f"stats {n}") for n in range(2)]
    reply = call(
        server,
        "PATCH",
        f"/items/{created[0]['id']}",
        {"status": "done"},
        token=carol,
        headers={"X-Request-Id": "e2e-activity-1"},
    )
    assert reply.status == 200
    assert call(server, "DELETE", f"/items/{created[1]['id']}", token=carol).status == 204
    expected = {"todo": 0, "in_progress": 0, "done": 1, "total": 1}
    deadline = time.monotonic() + 5  # API.md: locally, stats reflect a change within 5 seconds
    while True:
        stats = call(server, "GET", "/stats", token=carol).json
        events = call(server, "GET", "/activity", token=carol).json["events"]
        if ({k: stats[k] for k in expected} == expected and len(events) == 4) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {k: stats[k] for k in expected} == expected and stats["updated_at"]
    assert [event["at"] for event in events] == sorted((event["at"] for event in events), reverse=True)
    assert sorted((event["type"], event["item_id"]) for event in events) == sorted(
        [
            ("item.created", created[0]["id"]),
            ("item.created", created[1]["id"]),
            ("item.updated", created[0]["id"]),
            ("item.deleted", created[1]["id"]),
        ]
    )
    dave = mint_with_cli("dave-e2e", server.data_dir)  # isolation: another caller sees none of it
    assert call(server, "GET", "/activity", token=dave).json == {"events": [], "next_cursor": None}
    assert call(server, "GET", "/stats", token=dave).json["total"] == 0

    # The consumer ran in the server process and logged under the request's id (its line follows the
    # commit, and reaches us through the server's pipe: wait for it within the same deadline).
    def logged() -> bool:
        return any(
            "e2e-activity-1" in line and "activity event recorded" in line
            for line in server.output(tail=None).splitlines()
        )

    while not logged() and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    assert logged()


def test_activity_pages_walk_every_event_once_and_a_foreign_or_tampered_cursor_is_400(server):
    erin = mint_with_cli("erin-e2e", server.data_dir)
    created = [_create(server, erin, f"paged {n}") for n in range(4)]
    for item in created[:3]:
        assert call(server, "PATCH", f"/items/{item['id']}", {"status": "in_progress"}, token=erin).status == 200
    deadline = time.monotonic() + 5  # API.md: locally, within 5 seconds
    while len(call(server, "GET", "/activity?limit=100", token=erin).json["events"]) < 7:
        assert time.monotonic() < deadline, "the changes did not reach the activity within 5 seconds"
        time.sleep(0.05)
    everything = call(server, "GET", "/activity?limit=100", token=erin).json["events"]

    walked, cursor, cursors = [], None, []
    while True:
        page = call(server, "GET", "/activity?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=erin)
        assert page.status == 200, page.body
        assert len(page.json["events"]) <= 2
        walked += page.json["events"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
    assert walked == everything and len({event["id"] for event in walked}) == 7

    frank = mint_with_cli("frank-e2e", server.data_dir)
    assert_problem(call(server, "GET", f"/activity?limit=2&cursor={cursors[0]}", token=frank), 400, "invalid_cursor")
    tampered = cursors[0][:-2] + ("AA" if not cursors[0].endswith("AA") else "BB")
    assert_problem(call(server, "GET", f"/activity?limit=2&cursor={tampered}", token=erin), 400, "invalid_cursor")
    assert call(server, "GET", "/stats", token=frank).json["total"] == 0
    assert call(server, "GET", "/stats", token=erin).json["in_progress"] == 3


def test_the_assistant_stream_is_sent_chunked_as_the_streaming_function_sends_it(server, alice):
    _create(server, alice, "Stream the answer")
    prompt = {"prompt": "What should I do first?"}
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {alice}", "X-Request-Id": "e2e-stream-1"}
        connection.request("POST", "/assistant/stream", body=json.dumps(prompt), headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Transfer-Encoding") == "chunked"  # not one buffered body
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.getheader("X-Request-Id") == "e2e-stream-1"
        frames = [frame.split("\n") for frame in response.read().decode().split("\n\n") if frame]
        # The connection stays usable after the last chunk.
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    names = [lines[0].removeprefix("event: ") for lines in frames]
    data = [json.loads(lines[1].removeprefix("data: ")) for lines in frames]
    assert names[-1] == "done" and set(names[:-1]) == {"token"} and len(names) > 2
    text = "".join(event["text"] for event in data[:-1])
    assert text == call(server, "POST", "/assistant", prompt, token=alice).json["text"]  # the buffered answer's
    assert "Stream the answer" in text

    # Failures before it began are the API's problems.
    assert_problem(call(server, "POST", "/assistant/stream", prompt), 401, "unauthorized")
    assert call(server, "POST", "/assistant/stream", {"prompt": "   "}, token=alice).status == 400
    assert_problem(call(server, "POST", "/assistant/stream", raw=b"{", token=alice), 400, "invalid_json")


# --- concurrency over real connections -----------------------------------------------------------


def _send_together(server: LocalServer, requests: list[tuple[str, str, bytes, dict[str, str]]]) -> list[Reply]:
    return send_together([(server, *request) for request in requests])


def send_together(requests: list[tuple[LocalServer, str, str, bytes, dict[str, str]]]) -> list[Reply]:
    """Open every connection first (each to its request's server), then send all at once over them.

    chalice local listens with a backlog of 5, so 20 quick connects overflow it and some SYNs are dropped
    (retried a second later). Each connection therefore answers a GET /health first: it is then accepted
    and kept alive (HTTP/1.1) by its own server thread before the next one opens.
    """
    connections = [http.client.HTTPConnection("127.0.0.1", request[0].port, timeout=30) for request in requests]
    for connection in connections:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and not response.will_close
    barrier = threading.Barrier(len(requests))

    def send(index: int) -> Reply:
        _, method, path, body, headers = requests[index]
        connection = connections[index]
        barrier.wait(timeout=10)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())

    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            return list(pool.map(send, range(len(requests))))
    finally:
        for connection in connections:
            connection.close()


def test_twenty_concurrent_patches_with_one_if_match_over_http_let_exactly_one_win(server, alice):
    item = _create(server, alice, "Contested over HTTP")
    path = f"/items/{item['id']}"
    headers = {"Authorization": f"Bearer {alice}", "Content-Type": "application/json", "If-Match": '"1"'}
    replies = _send_together(
        server, [("PATCH", path, json.dumps({"notes": f"writer {n}"}).encode(), headers) for n in range(RACERS)]
    )

    assert sorted(r.status for r in replies) == [200] + [412] * (RACERS - 1), [r.body for r in replies]
    winner = next(r for r in replies if r.status == 200)
    assert call(server, "GET", path, token=alice).json == winner.json and winner.json["version"] == 2


def test_concurrent_requests_on_the_threaded_server_each_see_their_own_request(server, alice, bob):
    # chalice local serves each connection on its own thread, all on one app object.
    tokens = [alice if n % 2 else bob for n in range(RACERS)]
    items = [_create(server, token, f"item {n}") for n, token in enumerate(tokens)]
    requests = [
        (
            "PATCH",
            f"/items/{item['id']}",
            json.dumps({"notes": f"note for {n}"}).encode(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Request-Id": f"own-{n}"},
        )
        for n, (item, token) in enumerate(zip(items, tokens))
    ]
    replies = _send_together(server, requests)

    assert [r.status for r in replies] == [200] * RACERS, [r.body for r in replies]
    assert [r.header("X-Request-Id") for r in replies] == [f"own-{n}" for n in range(RACERS)]
    assert [r.json["notes"] for r in replies] == [f"note for {n}" for n in range(RACERS)]
    for n, (item, token) in enumerate(zip(items, tokens)):
        assert call(server, "GET", f"/items/{item['id']}", token=token).json["notes"] == f"note for {n}"


# --- durability ------------------------------------------------------------------------------------


def test_data_survives_a_server_restart_on_the_same_data_dir(server, alice):
    item = _create(server, alice, "Remember me", due="2027-01-31")
    server.restart()
    assert call(server, "GET", f"/items/{item['id']}", token=alice).json == item
    fresh_token = mint_with_cli("alice", server.data_dir)
    assert call(server, "GET", f"/items/{item['id']}", token=fresh_token).json == item
