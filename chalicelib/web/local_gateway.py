"""Chalice's local gateway (``chalice local``, and Chalice's test client) matches a route segment by segment,
so a greedy path parameter (``{proxy+}``, which API Gateway matches against the rest of the path) matches
one segment there, and any other path is answered ``403 Missing Authentication Token`` before the app is
called. Deployed, every request no route serves reaches the app (chalicelib/web/routing.py): the greedy
route below the root, the root by the stack's own method (cloudformation/transforms/api.py, http_api.py).

``serve_unrouted_paths`` makes the local gateway match the same way: the routes as before, then a greedy
route by the rest of the path, the root included. It replaces ``chalice.local.RouteMatcher`` (which the
local gateway builds per connection, the test client per client) with a subclass, only where
``chalice.local`` is already loaded: the Lambda runtime never loads it, so there it does nothing and
imports nothing. The program calls it (app.py), as the test client's fixture does.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlparse


def serve_unrouted_paths() -> None:
    local: Any = sys.modules.get("chalice.local")
    if local is None or getattr(local.RouteMatcher, "matches_greedy_paths", False):
        return
    local.RouteMatcher = _greedy(local.RouteMatcher, local.MatchResult)


def _is_greedy(route: str) -> bool:
    return route.endswith("+}")


def _greedy(base: type, match_result: Any) -> type:
    class GreedyRouteMatcher(base):
        """Chalice's matcher for the routes without a greedy parameter, then the greedy ones, deepest first."""

        matches_greedy_paths = True

        def __init__(self, route_urls: list[str]) -> None:
            super().__init__([route for route in route_urls if not _is_greedy(route)])
            self.greedy_urls = sorted((r for r in route_urls if _is_greedy(r)), key=lambda r: -r.count("/"))

        def match_route(self, url: str) -> Any:
            try:
                return super().match_route(url)
            except ValueError:
                parsed = urlparse(url)
                path = parsed.path.rstrip("/")
                for route in self.greedy_urls:
                    parent, _, parameter = route.rpartition("/")
                    if path == parent or path.startswith(parent + "/"):
                        captured = {parameter.strip("{+}"): path[len(parent) + 1 :]}
                        return match_result(route, captured, parse_qs(parsed.query, keep_blank_values=True))
                raise

    return GreedyRouteMatcher
