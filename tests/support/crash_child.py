"""Run in a fresh interpreter on the app's environment (DATA_DIR, STORE, ...), for the crash tests
(tests/activity/test_crash.py):

``change BLOCK MARKER USER``: make one change through the API (Chalice's test client) with a queue that,
when the change feed sends the change's event, writes MARKER and then blocks forever (the item it made is printed
after MARK), so the process can
be killed with the change committed and its delivery in flight. BLOCK says where it blocks: ``before``
the message is sent, or ``after`` it was sent into the embedded queue's file (which this process never
delivers from), so the change is still in the log, as if the kill came before the feed forgot it.

``settle USER``: start the app's services on the same data (the feed forwards what the log or the stream
still holds), wait until the feed and the queue have delivered everything, and print the user's STATS and
ACTIVITY# records as one JSON line after MARK.
"""

import json
import os
import sys
import threading
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MARK = "=== "  # starts the line a command prints for the test (the app logs on stdout too)


class BlockingQueue:
    def __init__(self, block: str, marker: str) -> None:
        from chalicelib.events.local import LocalQueue

        self.block = block
        self.marker = marker
        # No handlers: what is sent stays in the file for the next process's queue to deliver.
        self.queue = LocalQueue(os.path.join(os.environ["DATA_DIR"], "queue.db"), {})

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        if self.block == "after":
            self.queue.send(body, attributes)
        # Written aside, then renamed: the test waits for the marker to exist, and must never read it half-written.
        pending = Path(self.marker + ".pending")
        pending.write_text(body)
        pending.rename(self.marker)
        threading.Event().wait()  # until SIGKILL
        raise AssertionError("unreachable")


def change(block: str, marker: str, user: str) -> None:
    from chalice.test import Client

    from app import app
    from chalicelib import wiring
    from chalicelib.auth.local_issuer import mint

    wiring.bootstrap(queue=BlockingQueue(block, marker))
    headers = {"Authorization": f"Bearer {mint(user)}", "Content-Type": "application/json"}
    with Client(app) as client:
        reply = client.http.post("/items", headers=headers, body=json.dumps({"title": "committed, then killed"}))
    assert reply.status_code == 201, reply.body
    print(MARK + reply.body.decode(), flush=True)
    threading.Event().wait()  # the feed's thread blocks in send; the test kills the process


def settle(user: str) -> None:
    import app  # noqa: F401 - declares the consumers
    from chalicelib import wiring
    from chalicelib.auth.local_issuer import sub_for
    from tests.support.activity import activity_of
    from tests.support.activity import settle as settle_pipeline
    from tests.support.activity import stats_of

    wiring.services().store  # noqa: B018 - built as on the first request: the change feed starts with it
    settle_pipeline(timeout=60)
    sub = sub_for(user)
    print(MARK + json.dumps({"stats": stats_of(sub), "activity": activity_of(sub)}), flush=True)
    wiring.reset()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    commands: dict[str, Callable[..., None]] = {"change": change, "settle": settle}
    commands[command](*args)
