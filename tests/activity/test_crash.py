"""The process killed (SIGKILL) between a change's commit and its delivery, then started again on the same
data, on both store adapters: the change's event is applied exactly once, whether the kill came before
the send or after it (before the feed forgot the change). Each process is a fresh interpreter running
tests/support/crash_child.py on the test's environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.support.crash_child import MARK
from tests.support.invoke import PROJECT
from tests.support.invoke import run_python

CHILD = Path(__file__).resolve().parents[1] / "support" / "crash_child.py"
USER = "crash-user"
MARKER_TIMEOUT = 60.0


def killed_in_flight(tmp_path: Path, block: str) -> dict[str, Any]:
    """Make one change in a child process, SIGKILL it once the feed is sending the change's event; the
    item it created."""
    marker = tmp_path / f"sending-{block}"
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "change", block, str(marker), USER],
        cwd=PROJECT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + MARKER_TIMEOUT
        while not marker.exists():
            assert child.poll() is None, child.communicate()[1][-4000:]
            assert time.monotonic() < deadline, "the change feed never sent the change's event"
            time.sleep(0.02)
        assert child.stdout is not None
        item = json.loads(_marked(iter(child.stdout.readline, "")))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert json.loads(marker.read_text())["item_id"] == item["id"]  # the event in flight was this change's
    return item


def restarted() -> dict[str, Any]:
    """Start the app again on the same data and wait for the pipeline: the user's STATS and activity."""
    result = run_python(str(CHILD), "settle", USER, env=dict(os.environ), timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(_marked(result.stdout.splitlines()))


def _marked(lines: Iterable[str]) -> str:
    """The line the child printed for the test (after its MARK), among the app's own log lines."""
    return next(line[len(MARK) :] for line in lines if line.startswith(MARK))


@pytest.mark.parametrize("block", ["before", "after"], ids=["killed-before-the-send", "killed-after-the-send"])
def test_a_change_whose_process_was_killed_between_commit_and_delivery_is_applied_once_after_a_restart(
    adapter, tmp_path, block
):
    item = killed_in_flight(tmp_path, block)

    first = restarted()

    stats, activity = first["stats"], first["activity"]
    assert [(record["type"], record["item_id"]) for record in activity] == [("item.created", item["id"])]
    assert {name: stats[name] for name in ("todo", "in_progress", "done", "total", "applied")} == {
        "todo": 1,
        "in_progress": 0,
        "done": 0,
        "total": 1,
        "applied": 1,
    }
    # Started once more (DynamoDB Local's stream is read from its oldest record again): nothing changes.
    assert restarted() == first
