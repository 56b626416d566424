"""The background thread the embedded queue and the embedded change feed each run: it calls one step after
another, waiting between them as long as the step says, until it is closed."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger("tasks.events")


class Worker:
    """A daemon thread calling ``step`` until closed. ``step`` returns how long to wait before the next call
    (0: call again now); ``wake`` cuts a wait short; an exception is logged (its type and place, never its
    text, which may quote user data) and followed by ``pause`` seconds, so a persistent fault does not spin."""

    def __init__(self, name: str, step: Callable[[], float], *, pause: float) -> None:
        self.name = name
        self._step = step
        self._pause = pause
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless it runs (idempotent; a closed worker starts again)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name=self.name, daemon=True)
            self._thread.start()

    @property
    def thread(self) -> threading.Thread | None:
        """The running thread (None before the first start and after close)."""
        return self._thread

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Stop the thread after its current step (idempotent)."""
        with self._lock:
            thread, stop = self._thread, self._stop
            self._thread = None
        if thread is not None:
            stop.set()
            self._wake.set()
            if thread is not threading.current_thread():
                thread.join()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            # Cleared before the step, so a wake during it still cuts the following wait short.
            self._wake.clear()
            try:
                wait = self._step()
            except Exception as exc:  # never let the worker die: log, pause, go on
                log.warning(
                    "%s error (%s); retrying",
                    self.name,
                    type(exc).__name__,
                    extra={"error_type": type(exc).__name__, "where": where(exc)},
                )
                wait = self._pause
            if wait > 0:
                self._wake.wait(wait)


def where(exc: BaseException) -> str | None:
    """``file:line in function`` of the innermost frame an exception passed through (no text of it)."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{os.path.basename(code.co_filename)}:{tb.tb_lineno} in {code.co_name}"
