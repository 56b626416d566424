"""The web console (console/) in a real browser: Debian's headless Chromium driven by Playwright against a
real `chalice local`, signing in through the local issuer's authorize form exactly as a developer does after
`make dev`. One server and one browser for the module; each test signs in as its own user.

UPDATE_SCREENSHOT=1 writes docs/console.png (the README's picture) from the accessibility test's page.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_chalice_local import LocalServer
from tests.e2e.test_chalice_local import call
from tests.e2e.test_chalice_local import mint_with_cli

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))  # Debian's: nothing downloads a browser
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT = REPO_ROOT / "docs" / "console.png"
# Short-lived browser tokens, so a test sees one expire and the page refresh it; the offline assistant
# paced, so its answer arrives over a second or so, as a model's would.
TOKEN_TTL = 5
WORD_DELAY_MS = 40
WAIT_MS = 10_000  # how long an expectation may wait for the page (it polls; a pass is usually far sooner)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LocalServer]:
    data_dir = tmp_path_factory.mktemp("console") / ".data"
    with LocalServer.running(
        data_dir, LOCAL_TOKEN_TTL=str(TOKEN_TTL), ASSISTANT_OFFLINE_DELAY_MS=str(WORD_DELAY_MS)
    ) as local:
        yield local


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: make test installs Debian's chromium (apt-get install chromium)")
    # lazy: Playwright loads only when a browser test runs
    from playwright.sync_api import expect
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect  # lazy: as in the browser fixture

    return playwright_expect(target)


def sign_in(page: Any, server: LocalServer, username: str, *, drawn: bool = True) -> None:
    """From the README's address to the signed-in console, through the local authorize form; with ``drawn``,
    also until the first reads have drawn the page (the workspace's aria-busy turns false)."""
    page.goto(server.url + "/")
    page.locator("#sign-in").click()
    field = page.get_by_label("Sign in as")
    field.fill(username)
    field.press("Enter")
    expect(page.locator("#user")).to_have_text(username)
    if drawn:
        expect(page.locator("#workspace")).to_have_attribute("aria-busy", "false")


def client_id(server: LocalServer) -> str:
    return call(server, "GET", "/console/config.json").json["clientId"]


def counter(page: Any, name: str) -> Any:
    return page.locator(f'#stats [data-counter="{name}"]')


def item_row(page: Any, title: str) -> Any:
    return page.locator("#items li[data-item-id]").filter(has=page.locator(".title", has_text=title))


def row_of(page: Any, title: str) -> Any:
    """The one row showing ``title`` now, found again by its item id whatever it shows later."""
    row = item_row(page, title)
    expect(row).to_have_count(1)
    return page.locator(f'#items li[data-item-id="{row.get_attribute("data-item-id")}"]')


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def bearer_of(request: Any) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def items_of(server: LocalServer, token: str) -> list[dict[str, Any]]:
    reply = call(server, "GET", "/items?limit=100", token=token)
    assert reply.status == 200, reply.body
    return reply.json["items"]


# --- signing in and out ----------------------------------------------------------------------------


def test_signing_in_through_the_authorize_form_keeps_no_token_in_storage_and_counts_the_sign_in(page, server):
    sign_in(page, server, "ann")

    assert "code=" not in page.url and "state=" not in page.url
    # Tokens live in memory only; the PKCE verifier and state were removed once the callback used them.
    assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
    expect(counter(page, "sign_ins")).to_have_text("1")
    expect(page.locator("#activity li").first).to_contain_text("user.signed_in")


def test_signing_out_ends_the_session_at_the_authority_too(page, server):
    with page.expect_response(lambda response: response.url.endswith("/oauth2/token")) as granted:
        sign_in(page, server, "abe")
    refresh_token = granted.value.json()["refresh_token"]

    with page.expect_request(lambda request: "/logout?" in request.url) as logout:
        page.locator("#sign-out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#workspace")).to_be_hidden()
    assert "logout_uri=" in logout.value.url and "client_id=" in logout.value.url
    # The authority forgot the sign-in: its refresh token no longer refreshes.
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token})
    reply = call(
        server,
        "POST",
        "/oauth2/token",
        raw=form.encode() + b"&client_id=" + client_id(server).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 400 and reply.json["error"] == "invalid_grant"


# --- tasks -----------------------------------------------------------------------------------------


def test_a_task_is_created_once_edited_and_deleted_while_the_overview_follows(page, server):
    sign_in(page, server, "ben")
    token = mint_with_cli("ben", server.data_dir)

    page.locator("#new-title").fill("Water the plants")
    page.locator("#create").dblclick()  # a double click makes one task
    row = row_of(page, "Water the plants")
    expect(page.locator("#new-title")).to_have_value("")
    assert [item["title"] for item in items_of(server, token)] == ["Water the plants"]
    expect(counter(page, "total")).to_have_text("1")
    expect(counter(page, "todo")).to_have_text("1")
    expect(page.locator("#activity li", has_text="item.created")).to_have_count(1)

    row.locator(".edit").click()
    row.locator(".edit-title").fill("Water the garden")
    row.locator(".save").click()
    expect(row.locator(".title")).to_have_text("Water the garden")
    row.locator(".status").select_option("done")
    expect(counter(page, "done")).to_have_text("1")
    expect(counter(page, "todo")).to_have_text("0")
    expect(page.locator("#activity li", has_text="item.updated")).to_have_count(2)
    [stored] = items_of(server, token)
    assert (stored["title"], stored["status"], stored["version"]) == ("Water the garden", "done", 3)

    row.locator(".delete").click()
    expect(page.locator("#items li")).to_have_count(0)
    expect(counter(page, "total")).to_have_text("0")
    expect(page.locator("#activity li", has_text="item.deleted")).to_have_count(1)
    assert items_of(server, token) == []


def test_a_create_whose_answer_was_lost_is_sent_again_with_its_key_and_makes_one_task(page, server):
    sign_in(page, server, "bea")
    token = mint_with_cli("bea", server.data_dir)
    keys: list[str] = []

    def lose_the_first_answer(route: Any) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            route.fetch()  # the server creates the task...
            route.abort("connectionreset")  # ...and its answer never reaches the page
        else:
            route.continue_()

    page.route(lambda url: url.endswith("/items"), lose_the_first_answer)
    page.locator("#new-title").fill("Call the plumber")
    page.locator("#create").click()
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#new-title")).to_have_value("Call the plumber")  # kept for another try
    page.locator("#create").click()
    expect(item_row(page, "Call the plumber")).to_have_count(1)

    assert len(keys) == 2 and keys[0] == keys[1] != ""
    assert [item["title"] for item in items_of(server, token)] == ["Call the plumber"]


def test_a_stale_edit_shows_the_conflict_and_reload_brings_the_current_task(page, server):
    sign_in(page, server, "cleo")
    token = mint_with_cli("cleo", server.data_dir)
    page.locator("#new-title").fill("Draft the letter")
    page.locator("#create").click()
    row = row_of(page, "Draft the letter")
    item_id = row.get_attribute("data-item-id")

    # Someone changes it behind the page's back (another tab, another device).
    behind = call(server, "PATCH", f"/items/{item_id}", {"title": "Send the letter"}, token=token)
    assert behind.status == 200, behind.body
    row.locator(".edit").click()
    row.locator(".edit-title").fill("Draft the long letter")
    row.locator(".save").click()
    expect(page.locator("#conflict")).to_be_visible()
    expect(page.locator("#reload")).to_be_focused()
    assert call(server, "GET", f"/items/{item_id}", token=token).json["title"] == "Send the letter"

    page.locator("#reload").click()
    expect(page.locator("#conflict")).to_be_hidden()
    expect(row.locator(".title")).to_have_text("Send the letter")
    row.locator(".edit").click()
    row.locator(".edit-title").fill("Send the long letter")
    row.locator(".save").click()
    expect(row.locator(".title")).to_have_text("Send the long letter")
    stored = call(server, "GET", f"/items/{item_id}", token=token).json
    assert (stored["title"], stored["version"]) == ("Send the long letter", 3)


def test_the_list_pages_with_more_and_filters_by_status(page, server):
    token = mint_with_cli("dora", server.data_dir)
    for n in range(12):
        fields = {"title": f"Task {n:02d}", "status": "done" if n % 4 == 0 else "todo"}
        assert call(server, "POST", "/items", fields, token=token).status == 201
    sign_in(page, server, "dora")

    titles = page.locator("#items li .title")
    expect(titles).to_have_count(10)
    page.locator("#more").click()
    expect(titles).to_have_text([f"Task {n:02d}" for n in reversed(range(12))])  # newest first, each once
    expect(page.locator("#more")).to_be_hidden()

    page.locator("#status-filter").select_option("done")
    expect(titles).to_have_text(["Task 08", "Task 04", "Task 00"])
    assert page.locator("#items li .status").evaluate_all("nodes => nodes.map(n => n.value)") == ["done"] * 3


def test_an_error_shows_the_problem_document_with_its_request_id(page, server):
    sign_in(page, server, "hana")
    token = mint_with_cli("hana", server.data_dir)
    page.locator("#new-title").fill("Gone already")
    page.locator("#create").click()
    row = item_row(page, "Gone already")
    expect(row).to_have_count(1)
    deleted = call(server, "DELETE", f"/items/{row.get_attribute('data-item-id')}", token=token)
    assert deleted.status == 204

    with page.expect_response(lambda response: response.request.method == "DELETE") as answered:
        row.locator(".delete").click()
    problem = answered.value.json()
    assert answered.value.status == 404 and problem["code"] == "not_found"
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error.locator(".problem-title")).to_have_text(problem["title"])
    expect(error.locator("[data-request-id]")).to_have_text(problem["request_id"])
    assert problem["request_id"] == answered.value.headers["x-request-id"]


# --- tokens ----------------------------------------------------------------------------------------


def test_an_expired_token_is_refreshed_without_losing_what_the_user_typed(page, server):
    sent: list[Any] = []
    page.on("request", lambda request: sent.append(request))
    sign_in(page, server, "finn")
    first = next(bearer_of(r) for r in sent if r.url.endswith("/me"))
    page.locator("#new-title").fill("Typed before the token expired")
    page.locator("#prompt").fill("What is overdue?")

    # Wait (not a pass/fail timing: the outcome is judged below) until the first token has expired.
    time.sleep(max(0.0, claims(first)["exp"] - time.time() + 1))
    page.locator("#create").click()
    expect(item_row(page, "Typed before the token expired")).to_have_count(1)

    created = next(r for r in sent if r.method == "POST" and r.url.endswith("/items"))
    assert json.loads(created.post_data)["title"] == "Typed before the token expired"  # nothing typed elsewhere
    assert bearer_of(created) != first and claims(bearer_of(created))["exp"] > claims(first)["exp"]
    refreshes = [r for r in sent if r.url.endswith("/oauth2/token") and "grant_type=refresh_token" in r.post_data]
    assert refreshes, "the page never refreshed its token"
    assert claims(bearer_of(created))["origin_jti"] == claims(first)["origin_jti"]  # the same sign-in
    expect(page.locator("#prompt")).to_have_value("What is overdue?")
    expect(page.locator("#error")).to_be_hidden()


def test_typing_begun_while_the_list_loads_keeps_its_focus_and_text(page, server):
    held: list[Any] = []
    page.route(lambda url: "/items?" in url, lambda route: held.append(route), times=1)  # until released
    sign_in(page, server, "hal", drawn=False)
    expect(page.locator("#items")).to_have_attribute("aria-busy", "true")
    page.locator("#prompt").fill("What is overdue?")
    held.pop().continue_()
    expect(page.locator("#workspace")).to_have_attribute("aria-busy", "false")

    # The page did not pull the user over to the new-task field once it had drawn the list.
    page.keyboard.type(" And tomorrow?")
    expect(page.locator("#prompt")).to_have_value("What is overdue? And tomorrow?")
    expect(page.locator("#new-title")).to_have_value("")


def test_a_refused_token_is_refreshed_and_the_request_sent_again_keeping_the_input(page, server, tmp_path):
    refused = mint_with_cli("gus", tmp_path / "another-machine")  # signed by a key this server does not trust
    sign_in(page, server, "gus")
    answers: list[tuple[int, str]] = []

    def with_a_refused_token_once(route: Any) -> None:
        headers = dict(route.request.headers)
        if route.request.method == "POST":
            if not answers:
                headers["authorization"] = f"Bearer {refused}"
            answered = route.fetch(headers=headers)
            answers.append((answered.status, headers.get("idempotency-key", "")))
            route.fulfill(response=answered)
        else:
            route.continue_()

    page.route(lambda url: url.endswith("/items"), with_a_refused_token_once)
    with page.expect_request(lambda r: r.url.endswith("/oauth2/token") and "refresh_token" in (r.post_data or "")):
        page.locator("#new-title").fill("Sent twice, made once")
        page.locator("#create").click()
    expect(item_row(page, "Sent twice, made once")).to_have_count(1)
    expect(page.locator("#error")).to_be_hidden()
    assert [status for status, _ in answers] == [401, 201]
    assert answers[0][1] == answers[1][1] != ""  # the same submission: the same idempotency key


# --- the assistant ---------------------------------------------------------------------------------

SAMPLER = """() => {
  const answer = document.querySelector("#answer");
  window.samples = [];
  window.sampler = setInterval(() => window.samples.push([answer.dataset.state, answer.textContent.length]), 5);
}"""


def test_the_streamed_answer_shows_its_first_words_before_the_last_arrive(page, server):
    token = mint_with_cli("eve", server.data_dir)
    for title, due in [("Pay rent", "2020-01-01"), ("Book flights", None), ("Renew passport", "2030-05-01")]:
        assert call(server, "POST", "/items", {"title": title, "due": due}, token=token).status == 201
    sign_in(page, server, "eve")
    page.locator("#prompt").fill("What should I do first?")

    page.evaluate(SAMPLER)
    page.locator("#ask-stream").click()
    expect(page.locator("#answer")).to_have_attribute("data-state", "done")
    samples = page.evaluate("() => { clearInterval(window.sampler); return window.samples; }")
    streamed = page.locator("#answer").text_content()
    seen_while_streaming = sorted({length for state, length in samples if state == "streaming" and length})
    # The page showed the answer growing, in more than one step, before its last words had arrived.
    assert len(seen_while_streaming) >= 2, seen_while_streaming
    assert seen_while_streaming[0] < len(streamed)
    assert "Pay rent" in streamed

    # The buffered answer is the same text, at once.
    page.locator("#ask").click()
    expect(page.locator("#answer")).to_have_attribute("data-state", "done")
    expect(page.locator("#answer")).to_have_text(streamed)

    # Stop cuts the stream short.
    page.locator("#ask-stream").click()
    expect(page.locator("#answer")).to_contain_text(streamed[:12])
    page.locator("#stop").click()
    expect(page.locator("#answer")).to_have_attribute("data-state", "stopped")
    assert len(page.locator("#answer").text_content()) < len(streamed)
    expect(page.locator("#stop")).to_be_disabled()
    expect(page.locator("#ask-stream")).to_be_enabled()


# --- accessibility, small screens, the README's picture --------------------------------------------

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target)}));
}"""


def serious_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(AXE_RUN) if v["impact"] in ("serious", "critical")]


def test_the_page_works_by_keyboard_fits_a_phone_and_has_no_serious_accessibility_violations(page, server):
    page.goto(server.url + "/")
    expect(page.locator("#sign-in")).to_be_enabled()
    assert serious_violations(page) == []

    token = mint_with_cli("ivy", server.data_dir)
    for title, status, due in [
        ("Renew the passport", "in_progress", "2030-03-01"),
        ("Book the flights", "todo", None),
        ("Pay the electricity bill", "done", None),
    ]:
        assert call(server, "POST", "/items", {"title": title, "status": status, "due": due}, token=token).status == 201
    sign_in(page, server, "ivy")
    # By keyboard: the new task's field has the focus after sign-in; Enter adds it; Tab goes on in order.
    expect(page.locator("#new-title")).to_be_focused()
    page.keyboard.type("Water the plants")
    page.keyboard.press("Enter")
    expect(item_row(page, "Water the plants")).to_have_count(1)
    expect(page.locator("#new-title")).to_be_focused()
    for following in ("#create", "#status-filter"):
        page.keyboard.press("Tab")
        expect(page.locator(following)).to_be_focused()
    page.locator("#prompt").fill("What should I do first today?")
    page.locator("#ask-stream").click()
    expect(page.locator("#answer")).to_have_attribute("data-state", "done")
    expect(counter(page, "total")).to_have_text("4")
    expect(page.locator("#activity li", has_text="item.created")).to_have_count(4)
    assert serious_violations(page) == []
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.set_viewport_size({"width": 375, "height": 800})  # a phone
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert serious_violations(page) == []
