"""The benchmark's data and configurations: who calls, the deployed and embedded environments, and
bulk seeding through the store adapters' own serialisation (never over HTTP)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import REGION
from bench.harness import cognito_claims
from bench.harness import lambda_environment
from bench.harness import unsigned_token
from chalicelib import keys
from chalicelib.settings import Settings
from chalicelib.store.base import Put
from chalicelib.tasks.clock import rfc3339
from chalicelib.tasks.ids import new_id

ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_BENCH0001"
CLIENT_ID = "bench0client0id0000000001"
READER = "bench-reader"  # the caller of every read figure; partition of READER_ITEMS items
WRITER = "bench-writer"  # creates go to their own partition, so the reader's page stays the same
READER_ITEMS = 25  # more than a page of 20
CURSOR_SECRET = "bench-cursor-secret"


def sub_for(username: str) -> str:
    """The local issuer's sub for ``username``, so embedded tokens and deployed claims share partitions."""
    # Lazy here and below: the local issuer loads PyJWT and cryptography, the adapters sqlite3 and boto3.
    from chalicelib.auth.local_issuer import sub_for as local_sub

    return local_sub(username)


def claims_for(username: str) -> dict[str, str]:
    return cognito_claims(sub_for(username), username, issuer=ISSUER, client_id=CLIENT_ID)


def gateway_auth(username: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, claims) of a request API Gateway's Cognito authorizer let through."""
    claims = claims_for(username)
    return {"Authorization": f"Bearer {unsigned_token(claims)}"}, claims


def deployed_env(home: str, *, table: str, endpoint: str | None) -> dict[str, str]:
    """The deployed configuration: DynamoDB adapter, Cognito issuer, claims trusted from API Gateway.

    DynamoDB Local is reached through botocore's ``AWS_ENDPOINT_URL_DYNAMODB``, not the app's
    ``DYNAMODB_ENDPOINT_URL``: the app then behaves exactly as against AWS (it does not check or
    create its table on first use), and only the network destination differs.
    """
    extra = {
        "APP_STAGE": "prod",
        "STORE": "dynamodb",
        "TABLE_NAME": table,
        "AUTH_ISSUER": ISSUER,
        "AUTH_CLIENT_IDS": CLIENT_ID,
        "CURSOR_SECRET": CURSOR_SECRET,
        "DATA_DIR": f"{home}/.data",
        # Deployed, events go to SQS, which has no local stand-in here; the embedded queue instead would
        # run the consumer's writes inside this process and into the per-route request counts.
        "QUEUE": "off",
        # botocore's client, not the default lean transport: figure 3 counts requests and capacity with
        # botocore's event hooks, and figure 1's boto3 row measures it; the rows of the default set lean.
        "DYNAMODB_TRANSPORT": "boto3",
    }
    if endpoint:
        extra["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    return lambda_environment(home=home, extra=extra)


def embedded_env(home: str, *, sqlite_path: str, data_dir: str) -> dict[str, str]:
    """The embedded defaults (SQLite, the local issuer's tokens verified by the app) invoked as Lambda
    would, with no authorizer claims in the event."""
    return lambda_environment(home=home, extra={"DATA_DIR": data_dir, "SQLITE_PATH": sqlite_path})


def warm_env(home: str, *, sqlite_path: str) -> dict[str, str]:
    """The deployed request path (claims from API Gateway) on the SQLite adapter. The API function's own
    work only: deployed, the table's stream carries each change to another function, so no change feed or
    embedded queue runs beside the requests (with them, their threads took the GIL from the measured calls
    after every write: p90 of a warm /health at ~10x its median)."""
    return lambda_environment(
        home=home,
        extra={
            "APP_STAGE": "prod",
            "STORE": "sqlite",
            "QUEUE": "off",
            "SQLITE_PATH": sqlite_path,
            "AUTH_ISSUER": ISSUER,
            "AUTH_CLIENT_IDS": CLIENT_ID,
            "CURSOR_SECRET": CURSOR_SECRET,
            "DATA_DIR": f"{home}/.data",
        },
    )


def pipeline_env(
    home: str, *, sqlite_path: str | None = None, table: str | None = None, endpoint: str | None = None
) -> dict[str, str]:
    """The local activity pipeline as ``make dev`` runs it (the change feed and the embedded queue), on
    SQLite or on DynamoDB Local through the app's ``DYNAMODB_ENDPOINT_URL`` (so the app makes its table,
    stream included, and the feed reads that stream); claims from API Gateway as deployed."""
    extra = {
        "APP_STAGE": "prod",
        "AUTH_ISSUER": ISSUER,
        "AUTH_CLIENT_IDS": CLIENT_ID,
        "CURSOR_SECRET": CURSOR_SECRET,
        "DATA_DIR": f"{home}/.data-{'dynamodb' if endpoint else 'sqlite'}-pipeline",
        "QUEUE": "local",
        "LOG_LEVEL": "WARNING",
    }
    if endpoint:
        extra.update({"STORE": "dynamodb", "TABLE_NAME": table or "", "DYNAMODB_ENDPOINT_URL": endpoint})
    else:
        extra.update({"STORE": "sqlite", "SQLITE_PATH": sqlite_path or f"{home}/pipeline.db"})
    return lambda_environment(home=home, extra=extra)


def local_token(username: str, data_dir: str) -> str:
    """A real RS256 token from the local development issuer whose keys live in ``data_dir``."""
    from chalicelib.auth.local_issuer import mint

    return mint(username, settings=Settings.from_env({"DATA_DIR": data_dir}))


# --- items -------------------------------------------------------------------------------------


def item_puts(username: str, count: int, *, done_every: int = 10) -> list[Any]:
    """``count`` items shaped as ItemService.create makes them; every ``done_every``-th one is done."""
    sub = sub_for(username)
    start_ms = int(time.time() * 1000) - count
    puts = []
    for n in range(count):
        ms = start_ms + n
        status = "done" if n % done_every == 0 else "todo"
        item_id = new_id(ms)
        stamp = rfc3339(ms / 1000)
        item = {
            "id": item_id,
            "title": f"Task number {n}",
            "notes": "",
            "status": status,
            "due": None,
            "tags": ["bench"],
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
        }
        puts.append(Put(keys.item_key(sub, item_id), item, index_key=keys.item_index_key(sub, item_id, status)))
    return puts


def seed_sqlite(path: str, puts: Sequence[Any]) -> None:
    """Write ``puts`` in one transaction with the adapter's own row format."""
    from chalicelib.store import sqlite as adapter

    store = adapter.SQLiteStore(path)
    store.ensure_schema()
    # The adapter's private writer: seeded rows are exactly what the app writes, at bulk speed.
    with store._pool.transaction() as conn:
        for op in puts:
            adapter._write(
                conn,
                op.key,
                op.attrs,
                op.index_key.pk if op.index_key else None,
                op.index_key.sk if op.index_key else None,
            )
    store.close()


def create_table(endpoint: str, table: str) -> None:
    from chalicelib.store.dynamodb import DynamoDBStore

    DynamoDBStore(table, endpoint_url=endpoint, region=REGION).ensure_schema()


def seed_dynamodb(endpoint: str, table: str, puts: Sequence[Any], *, threads: int = 4) -> None:
    """BatchWriteItem in parallel, items serialised by the adapter itself."""
    from chalicelib.store.dynamodb import DynamoDBStore
    from tests.support.dynamodb_local import local_client

    store = DynamoDBStore(table, endpoint_url=endpoint, region=REGION)
    client = local_client(endpoint, max_pool_connections=threads * 2, read_timeout=60)
    # The adapter's private serialiser, for the same reason as seed_sqlite's.
    items = [store._put_params(op)["Item"] for op in puts]
    batches = [items[start : start + 25] for start in range(0, len(items), 25)]

    def write(batch: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(write, batches):
            pass
