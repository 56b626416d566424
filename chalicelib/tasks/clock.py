"""Time for the domain: RFC 3339 UTC timestamps with a Z, and epoch seconds for TTLs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime

Clock = Callable[[], float]


# What rfc3339() writes, for whoever reads one back (an activity event's ``at``).
RFC3339_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def rfc3339(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


system_clock: Clock = time.time
