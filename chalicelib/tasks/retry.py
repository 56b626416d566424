"""Retrying a store transaction that lost a race with another one (errors.TransactionConflict): the one
backoff the use-cases share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from chalicelib.errors import StoreUnavailable
from chalicelib.errors import TransactionConflict

T = TypeVar("T")

# Seconds of the first wait, at random between these: spread out, racers do not collide again in step.
FIRST_WAIT = (0.005, 0.02)


def retry_on_conflict(
    attempt: Callable[[], T], *, attempts: int, exhausted: str, sleep: Callable[[float], None] = time.sleep
) -> T:
    """What ``attempt()`` returns. When it raises TransactionConflict, wait a random while (longer after
    each conflict) and call it again, ``attempts`` times in all; then raise StoreUnavailable(exhausted),
    a 503 the client may retry. Any other exception (ConditionFailed, ...) propagates at once."""
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except TransactionConflict:
            if number == attempts:
                break
            # lazy: only a lost race pays for random (~1 ms): read routes load this module, never random
            import random

            sleep(random.uniform(*FIRST_WAIT) * number)
    raise StoreUnavailable(exhausted)
