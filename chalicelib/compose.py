"""The composition root: builds adapters and services from Settings, lazily and once per process.

Adapters are imported here, inside the functions, so a route that needs none (``/health``) never
pays for sqlite3, boto3 or the services.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.settings import Settings
    from chalicelib.store.base import Store
    from chalicelib.tasks.items import ItemService
    from chalicelib.tasks.profiles import ProfileService


@lru_cache(maxsize=1)
def get_store() -> "Store":
    settings = get_settings()
    if settings.store == "off":
        from chalicelib.errors import FeatureDisabled

        raise FeatureDisabled("the tasks table is not enabled in this deployment")
    if not settings.tracing:
        return _build_store(settings)
    # X-Ray (Lambda with tracing active only): botocore is patched before any client is built.
    from chalicelib.observability import tracing

    recorder = tracing.activate(settings)
    return tracing.TracedStore(_build_store(settings), recorder)


def _build_store(settings: "Settings") -> "Store":
    if settings.store == "dynamodb":
        from chalicelib.store.dynamodb import DynamoDBStore

        store: Store = DynamoDBStore(settings.table_name or "", endpoint_url=settings.dynamodb_endpoint_url,
                                     region=settings.aws_region)
        if settings.dynamodb_endpoint_url:
            # Local endpoints only (DynamoDB Local): against AWS the stack owns the table.
            store.ensure_schema()
        return store
    from chalicelib.store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path)


@lru_cache(maxsize=1)
def get_items() -> "ItemService":
    from chalicelib.tasks.items import ItemService

    return ItemService(get_store())


@lru_cache(maxsize=1)
def get_profiles() -> "ProfileService":
    from chalicelib.tasks.profiles import ProfileService

    return ProfileService(get_store())


def reset() -> None:
    """Forget everything built (tests switch settings between cases)."""
    for cached in (get_items, get_profiles, get_store, get_settings):
        cached.cache_clear()
