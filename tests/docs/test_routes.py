"""docs/API.md's route table and the routes app.py serves are the same set.

Convention (stated in docs/API.md, "Routes"): a row of a table in docs/API.md whose first cell is a
backticked HTTP method and whose second is a backticked path names a route, path parameters spelled as
app.py spells them. A row that says "not yet served" names a route the API promises but does not serve.
"""

from __future__ import annotations

import re

from chalicelib.vocabulary import UNROUTED_PATH
from tests.docs.markdown import ROOT
from tests.docs.markdown import table_rows

API = ROOT / "docs" / "API.md"
NOT_YET_SERVED = "not yet served"
_METHOD = re.compile(r"`(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)`")
_PATH = re.compile(r"`(/[^`\s]*)`")


def _documented() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(routes listed as served, routes marked not yet served)."""
    served: list[tuple[str, str]] = []
    pending: list[tuple[str, str]] = []
    for _, cells in table_rows(API):
        if len(cells) < 2:
            continue
        method, path = _METHOD.fullmatch(cells[0]), _PATH.fullmatch(cells[1])
        if method and path:
            route = (method.group(1), path.group(1))
            marked = any(NOT_YET_SERVED in cell.lower() for cell in cells[2:])
            (pending if marked else served).append(route)
    every = served + pending
    assert len(every) == len(set(every)), f"a route has two rows in docs/API.md: {sorted(every)}"
    return set(served), set(pending)


def _served() -> set[tuple[str, str]]:
    from app import app

    # The route that answers every request no other route serves is docs/API.md's "Paths and methods no
    # route serves", not a row of the route table.
    return {(method, path) for path, methods in app.routes.items() if path != UNROUTED_PATH for method in methods}


def test_api_md_lists_exactly_the_routes_app_serves():
    documented, _ = _documented()
    served = _served()
    assert documented - served == set(), "docs/API.md lists routes app.py does not serve (or mark them not yet served)"
    assert served - documented == set(), "app.py serves routes docs/API.md does not list"


def test_a_route_marked_not_yet_served_is_not_served():
    _, pending = _documented()
    assert pending & _served() == set(), "served now: drop the 'not yet served' mark in docs/API.md"
