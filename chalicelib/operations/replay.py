"""The Slack signatures already accepted, so a replayed request is refused (chalicelib/web/chat.py). In the
app's store: one conditional put per command (absent or expired), with a TTL past the signature's five-minute
window, so a replay is refused on every Lambda instance. Without a store (STORE=off), in this process only."""

from __future__ import annotations

import threading

from chalicelib.errors import ConditionFailed
from chalicelib.keys import TTL_ATTRIBUTE
from chalicelib.keys import slack_signature_key
from chalicelib.store.base import AbsentOrExpired
from chalicelib.store.base import Put
from chalicelib.store.base import Store


class StoreReplayGuard:
    """The ReplayGuard port (chalicelib/web/chat.py) on the app's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def first_use(self, signature: str, *, now: int, expires_at: int) -> bool:
        try:
            self.store.put(
                Put(slack_signature_key(signature), {TTL_ATTRIBUTE: expires_at}, condition=AbsentOrExpired(now))
            )
        except ConditionFailed:
            return False
        return True


class MemoryReplayGuard:
    """The ReplayGuard port in this process's memory: what a deployment without the table can do."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def first_use(self, signature: str, *, now: int, expires_at: int) -> bool:
        with self._lock:
            for old in [s for s, until in self._seen.items() if until < now]:
                del self._seen[old]
            if signature in self._seen:
                return False
            self._seen[signature] = expires_at
            return True
