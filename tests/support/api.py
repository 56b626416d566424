"""A small JSON-speaking wrapper over Chalice's test client, with real local tokens, and the problem
document check every handler test uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get(name.lower())


class Api:
    """Calls the app as alice (or ``user=``) with real tokens through Chalice's test client."""

    def __init__(self, client, token_for) -> None:
        self._client = client
        self._token_for = token_for
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self._token_for(user)
        return self._tokens[user]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = "alice",
        headers: dict[str, str] | None = None,
        raw: bytes | str | None = None,
    ) -> Reply:
        sent = {"Content-Type": "application/json"}
        if user is not None:
            sent["Authorization"] = f"Bearer {self.token(user)}"
        sent.update(headers or {})
        payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        response = self._client.http.request(method, path, headers=sent, body=payload)
        return Reply(response.status_code, dict(response.headers), response.body)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.call("DELETE", path, **kw)

    def create(self, title: str = "Buy milk", *, user: str = "alice", **fields: Any) -> dict[str, Any]:
        reply = self.post("/items", {"title": title, **fields}, user=user)
        assert reply.status == 201, reply.json
        return reply.json


def assert_problem(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.header("Content-Type") == "application/problem+json"
    problem = reply.json
    assert problem["status"] == status and problem["code"] == code
    assert problem["request_id"] == reply.header("X-Request-Id")
    return problem
