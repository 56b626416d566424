"""X-Ray, only inside Lambda with tracing active (Settings.tracing): the SDK is imported here, lazily, and
nowhere else; botocore is patched before any AWS client is built, and store calls get subsegments."""

from __future__ import annotations

import json
import pkgutil
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


_whitelist: dict[str, Any] | None = None


def aws_call(
    recorder: Any,
    service: str,
    operation: str,
    region: str,
    params: dict[str, Any],
    send: Callable[[dict[str, str]], dict[str, Any]],
) -> dict[str, Any]:
    """One AWS call made without botocore (the lean DynamoDB transport), recorded as the SDK's botocore
    patch records botocore's: a subsegment ``service`` in the ``aws`` namespace with its ``aws`` fields
    (operation, region, request_id, retries, the service's whitelisted parameters such as table_name) and
    the HTTP status, a remote fault for an error reply. ``send(headers)`` makes the call with ``headers``
    added: the ``X-Amzn-Trace-Id`` of that subsegment, as the patch's ``inject_header`` adds it."""
    from aws_xray_sdk.ext.util import inject_trace_header

    subsegment = recorder.begin_subsegment(service, "aws")
    if subsegment is None:  # no segment (context missing): the call goes out untraced, as botocore's does
        return send({})
    headers: dict[str, str] = {}
    inject_trace_header(headers, subsegment)
    response: dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    try:
        response = send(headers)
        return response
    except Exception as exc:
        error_response = getattr(exc, "response", None)
        metadata = error_response.get("ResponseMetadata", {}) if isinstance(error_response, dict) else {}
        if metadata:
            subsegment.put_http_meta("status", metadata.get("HTTPStatusCode"))
        subsegment.add_exception(exc, traceback.extract_tb(exc.__traceback__), bool(metadata))
        raise
    finally:
        aws: dict[str, Any] = {"operation": operation, "region": region}
        if response is not None:
            metadata = response.get("ResponseMetadata") or {}
            subsegment.put_http_meta("status", metadata.get("HTTPStatusCode"))
        if metadata:
            aws["request_id"] = metadata.get("RequestId")
            aws["retries"] = metadata.get("RetryAttempts", 0)
        _whitelisted(service, operation, params, response, aws)
        subsegment.set_aws(aws)
        recorder.end_subsegment()


def _whitelisted(
    service: str, operation: str, params: dict[str, Any], response: dict[str, Any] | None, aws: dict[str, Any]
) -> None:
    """The request's and the reply's parameters the SDK records for this operation (its whitelist, read as
    aws_xray_sdk.ext.boto_utils reads it: that module imports botocore, this one does not)."""
    global _whitelist
    if _whitelist is None:
        _whitelist = json.loads(pkgutil.get_data("aws_xray_sdk.ext", "resources/aws_para_whitelist.json") or b"{}")
    from aws_xray_sdk.ext.util import to_snake_case

    spec = _whitelist.get("services", {}).get(service, {}).get("operations", {}).get(operation)
    if not spec:
        return
    for source, kind in ((params, "request"), (response, "response")):
        if source is None:
            continue
        for key in spec.get(f"{kind}_parameters", ()):
            if key in source:
                aws[to_snake_case(key)] = source[key]
        for key, descriptor in spec.get(f"{kind}_descriptors", {}).items():
            if key in source:
                value = source[key]
                if descriptor.get("get_count"):
                    value = len(value)
                if descriptor.get("get_keys"):
                    value = list(value)
                aws[descriptor["rename_to"]] = value
