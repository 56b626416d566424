"""X-Ray, only inside Lambda with tracing active (Settings.tracing): the SDK is imported here, lazily, and
nowhere else; botocore is patched before any AWS client is built, and store calls get subsegments."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from chalicelib.errors import ConditionFailed
from chalicelib.observability import logs

# The store port's operations (chalicelib/store/base.py): each call is one subsegment "store.<op>".
STORE_OPERATIONS = frozenset(("get", "query", "put", "update", "delete", "transact"))
SUBSEGMENT_PREFIX = "store."

_recorder: Any = None
_lock = threading.Lock()


def activate(settings: Any) -> Any:
    """Import and configure the X-Ray SDK once and patch botocore (its DynamoDB, SQS and Bedrock calls
    become subsegments and carry the trace header). Returns the recorder, or None when not tracing.
    Called by the composition root only (chalicelib/wiring.py), before it builds any AWS client."""
    global _recorder
    if not settings.tracing:
        return None
    if _recorder is None:
        with _lock:
            if _recorder is None:
                from aws_xray_sdk.core import patch
                from aws_xray_sdk.core import xray_recorder

                xray_recorder.configure(daemon_address=settings.xray_daemon_address, context_missing="LOG_ERROR")
                patch(("botocore",))
                _recorder = xray_recorder
    return _recorder


class TracedStore:
    """The store port with a subsegment around each operation; everything else passes through. The
    domain never sees it: the composition root wraps the adapter."""

    def __init__(self, store: Any, recorder: Any) -> None:
        self._store = store
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in STORE_OPERATIONS:
            return attribute
        traced = _traced(self._recorder, SUBSEGMENT_PREFIX + name, name, attribute)
        # Kept on the instance: __getattr__ runs only on a miss, so later calls cost a dict lookup,
        # not a new wrapper per store call.
        setattr(self, name, traced)
        return traced


def _traced(recorder: Any, subsegment_name: str, operation: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def traced(*args: Any, **kwargs: Any) -> Any:
        subsegment = recorder.begin_subsegment(subsegment_name)
        try:
            if subsegment is not None:
                subsegment.put_annotation("operation", operation)
                request_id = logs.current_fields().get("request_id")
                if request_id:
                    # Indexed: the console finds a request's trace by `annotation.request_id = "..."`.
                    subsegment.put_annotation("request_id", request_id)
            return call(*args, **kwargs)
        except ConditionFailed:
            # An expected outcome (404/412/replay are decided from it), not a fault.
            if subsegment is not None:
                subsegment.put_annotation("condition_failed", True)
            raise
        except Exception as exc:
            if subsegment is not None:
                subsegment.add_exception(exc, traceback.extract_tb(exc.__traceback__))
            raise
        finally:
            if subsegment is not None:
                recorder.end_subsegment()

    traced.__name__ = operation
    return traced
