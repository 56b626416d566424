"""Time for the domain: RFC 3339 UTC timestamps with a Z, and epoch seconds for TTLs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime

Clock = Callable[[], float]


def rfc3339(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


system_clock: Clock = time.time
