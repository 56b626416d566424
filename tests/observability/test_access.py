"""A warm request's access line comes from a template (chalicelib/observability/access.py): it must be the
very line the generic renderer makes of the same request, for any values, and the template must step aside
for whatever it does not know."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib.observability import access
from chalicelib.observability import invocation
from chalicelib.observability import logs
from chalicelib.observability import metrics
from chalicelib.settings import get_settings

CREATED = 1767225600.123456  # 2026-01-01T00:00:00.123Z
LATENCY_MS = 1.25

TEXT = st.text(max_size=40)  # any characters: quotes, backslashes, %, control and non-ASCII ones
MAYBE_TEXT = st.none() | TEXT


@pytest.fixture
def fixed_clock(monkeypatch):
    """A fixed clock and no templates yet; call it (in the test's body, after pytest has put its capture
    handler on the root logger) to leave this module's JSON handler the root's only one, as in Lambda."""
    logs.configure(get_settings())
    monkeypatch.setattr(access.time, "time", lambda: CREATED)
    monkeypatch.setattr(logs.time, "time", lambda: CREATED)
    monkeypatch.setattr(invocation.ApiRequest, "elapsed_ms", lambda self: LATENCY_MS)
    monkeypatch.setattr(access, "_TEMPLATES", {})

    def as_in_lambda() -> None:
        root = logging.getLogger()
        monkeypatch.setattr(root, "handlers", [h for h in root.handlers if type(h) is logs.StdoutHandler])

    return as_in_lambda


class Lambda:
    def __init__(self, request_id: str | None, function_name: str | None) -> None:
        self.aws_request_id = request_id
        self.function_name = function_name


def _request(request_id, apigw_id, lambda_id, function_name, route, method, user):
    request = invocation.begin_api_request(
        get_settings(),
        request_id=request_id,
        request_context={"resourcePath": route, "httpMethod": method, "requestId": apigw_id},
        lambda_context=Lambda(lambda_id, function_name),
    )
    if user is not None:
        request.identify(user)  # the line carries the user's pseudonym
    return request


def _line(capsys, request, status, *, unhandled=False, replayed=False, templated: bool) -> tuple[str, bool]:
    """``request``'s access line and whether a template wrote it; ``templated=False``: rendered as usual."""
    capsys.readouterr()
    original = access.write
    used: list[bool] = []

    def spy(*args):
        used.append(templated and original(*args))
        return used[-1]

    access.write = spy
    try:
        request.finish(status, unhandled=unhandled, replayed=replayed)
    finally:
        access.write = original
    [line] = capsys.readouterr().out.splitlines()
    return line, used == [True]


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request_id=TEXT.filter(bool),
    apigw_id=MAYBE_TEXT,
    lambda_id=MAYBE_TEXT,
    function_name=MAYBE_TEXT,
    route=st.sampled_from(["/health", "/items/{item_id}", "/100%", '/"quoted"\\']),
    method=st.sampled_from(["GET", "PATCH", "%s"]),
    user=MAYBE_TEXT,
    status=st.sampled_from([200, 201, 304, 404, 412, 500, 503]),
    unhandled=st.booleans(),
    replayed=st.booleans(),
)
def test_the_templated_line_is_the_rendered_line_for_any_values(
    observed, fixed_clock, capsys, request_id, apigw_id, lambda_id, function_name, route, method, user, status,
    unhandled, replayed,
):  # fmt: skip
    fixed_clock()
    args = (request_id, apigw_id, lambda_id, function_name, route, method, user)
    outcome = {"unhandled": unhandled, "replayed": replayed}
    # Twice with other values of the same shape (the first is rendered as usual, the second makes the
    # template), so the template is not made from this request's own values.
    for other in ("first-id", "second-id"):
        _line(capsys, _request(other, *args[1:]), status, templated=True, **outcome)
    templated, by_template = _line(capsys, _request(*args), status, templated=True, **outcome)
    rendered, _ = _line(capsys, _request(*args), status, templated=False, **outcome)
    assert by_template
    assert templated == rendered
    parsed = json.loads(templated)
    assert parsed["request_id"] == request_id and parsed["Latency"] == LATENCY_MS == parsed["latency_ms"]
    assert parsed["timestamp"] == "2026-01-01T00:00:00.123Z" and parsed["_aws"]["Timestamp"] == 1767225600123


def test_the_first_request_of_a_shape_is_rendered_as_usual_and_the_second_makes_its_template(
    observed, fixed_clock, capsys
):
    fixed_clock()
    request = _request("r-1", "a-1", "l-1", "fn", "/health", "GET", None)
    collector = metrics.current()
    assert collector is not None
    assert access.write(request, collector, 200, logging.INFO, False, False) is False  # first sighting
    assert access.write(request, collector, 200, logging.INFO, False, False) is True
    assert access.write(request, collector, 404, logging.INFO, False, False) is False  # another outcome
    request.finish(200)


def test_a_request_that_recorded_its_own_metrics_is_rendered_as_usual(observed, fixed_clock, capsys):
    fixed_clock()
    for _ in range(3):
        _request("r-1", "a-1", "l-1", "fn", "/health", "GET", None).finish(200)
    request = _request("r-2", "a-1", "l-1", "fn", "/health", "GET", None)
    metrics.count_rejection("expired")
    capsys.readouterr()
    request.finish(401)
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["SignInFailures"] == 1 and parsed["Reason"] == "expired"


def test_a_field_of_another_type_is_rendered_as_usual(observed, fixed_clock, capsys):
    fixed_clock()
    lines = []
    for _ in range(3):
        request = _request("r-1", "a-1", "l-1", "fn", "/health", "GET", None)
        logs.add(attempt=2)  # an int: no template takes it
        capsys.readouterr()
        request.finish(200)
        lines.append(json.loads(capsys.readouterr().out))
    assert all(line["attempt"] == 2 for line in lines)
    assert all(template is False for template in access._TEMPLATES.values() if template is not None)


def test_with_another_handler_on_the_way_the_line_goes_through_logging(observed, fixed_clock, caplog):
    with caplog.at_level(logging.INFO, logger=logs.ACCESS_LOGGER):
        for request_id in ("r-1", "r-2", "r-3"):
            _request(request_id, "a-1", "l-1", "fn", "/health", "GET", None).finish(200)
    assert [record.getMessage() for record in caplog.records] == ["GET /health 200"] * 3
