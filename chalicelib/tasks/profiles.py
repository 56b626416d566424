"""Profile use-cases: the caller's profile, created on first use, in one store request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib import keys
from chalicelib.store.base import Store
from chalicelib.store.base import Update
from chalicelib.tasks.clock import Clock
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.clock import system_clock

_PUBLIC = ("sub", "username", "email", "display_name", "created_at", "last_seen_at")
# The sign-in session of the last token seen (Cognito's origin_jti) and when it signed in (auth_time, epoch
# seconds): when the session changes, the table's change stream makes a user.signed_in event
# (chalicelib/tasks/outbox.py), so recording a sign-in costs no request of its own.
SESSION = "session"
SIGNED_IN_AT = "signed_in_at"


class ProfileService:
    def __init__(
        self,
        store: Store,
        clock: Clock = system_clock,
        request_id: Callable[[], str | None] = lambda: None,
        region: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._request_id = request_id
        self._region = region

    def touch(
        self,
        sub: str,
        username: str,
        email: str | None,
        *,
        display_name: str | None = None,
        session: str | None = None,
        signed_in_at: int | None = None,
    ) -> dict[str, Any]:
        """Upsert the profile (one conditional-free UpdateItem) and return it.

        ``username`` and ``email`` follow the token that made the request; ``display_name``
        defaults to the user name on creation and changes only when given. ``session`` and
        ``signed_in_at`` are the token's sign-in session, kept when given (a new one is a sign-in).
        """
        now = rfc3339(self._clock())
        changes: dict[str, Any] = {"username": username, "email": email, "last_seen_at": now}
        if display_name is not None:
            changes["display_name"] = display_name
        if session is not None:
            changes[SESSION] = session
            changes[SIGNED_IN_AT] = signed_in_at
        changes = keys.stamped(changes, self._request_id(), self._region)
        defaults = {"sub": sub, "created_at": now, "display_name": username}
        defaults = {k: v for k, v in defaults.items() if k not in changes}
        record = self._store.update(Update(keys.profile_key(sub), set=changes, set_if_absent=defaults))
        assert record is not None  # an update returns the record as it is afterwards unless told "old"
        return {name: record.get(name) for name in _PUBLIC}
