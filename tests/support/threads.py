"""Racing threads for the concurrency tests: released at once, each outcome kept."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(count: int, action: Callable[[int], object]) -> list[object]:
    """Run ``action(i)`` on ``count`` threads released at once; each result or raised exception."""
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def worker(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = action(i)
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes
