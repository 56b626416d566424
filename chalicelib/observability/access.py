"""The access line of a warm API request, filled in rather than rendered: the line ``logs.render`` makes of
the request and its EMF document, rendered once per shape with markers where each request's values go,
then per request only those values are encoded and put in place (docs/PERFORMANCE.md, figure 2).

``logs.render`` stays the one definition of the line: a template is its output, so the two cannot differ
in a field, its order or its encoding (tests/observability/test_access.py compares them)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any

from chalicelib.observability import logs
from chalicelib.observability import metrics

access_log = logging.getLogger(logs.ACCESS_LOGGER)


def count(collector: metrics.Collector, status: int, latency_ms: Any, unhandled: bool, replayed: bool) -> None:
    """An API request's metrics, recorded after its response (the template records them the same way)."""
    collector.dimensions[metrics.STATUS_CLASS] = f"{status // 100}xx"
    collector.count(metrics.REQUESTS)
    collector.observe(metrics.LATENCY, latency_ms)
    # Explicit zeros: each counter's Average over a period is then a rate.
    collector.count(metrics.ERRORS_5XX, 1 if status >= 500 else 0)
    collector.count(metrics.UNHANDLED_EXCEPTIONS, 1 if unhandled else 0)
    collector.count(metrics.PRECONDITION_FAILED, 1 if status == 412 else 0)
    collector.count(metrics.IDEMPOTENT_REPLAYS, 1 if replayed else 0)


def message(method: str, route: str, status: int) -> str:
    return f"{method} {route} {status}"


# Where the values go while a template is rendered: strings the JSON encoder escapes to text no real value
# encodes to (a control character is always escaped), and for the EMF timestamp an int, since the
# renderer splices the document's directives only beside an int (each checked to appear as often as it must).
_STAMP = "\x01stamp\x02"
_LATENCY = "\x01latency\x02"
_MILLIS = -7_340_977_271_039
_VALUE = "\x01{}\x02"
# A line's values, in this order, before a template picks them in the order its text wants them: the
# timestamp's whole second (its text) and milliseconds, the EMF timestamp, the latency, then the VARYING
# fields' values, encoded.
_SECOND, _MSECS, _EPOCH_MILLIS, _LATENCY_MS, _FIRST_STRING = range(5)


class _Template:
    __slots__ = ("parts", "pick")

    def __init__(self, parts: list[str], pick: Callable[[list[str]], tuple[str, ...]]) -> None:
        # The line's text between its values: a value's place at every odd index (filled by slice
        # assignment, then joined: a %-format would scan the whole kilobyte line per request).
        self.parts = parts
        self.pick = pick  # the values in the order of those places


# A shape seen once maps to None, one that cannot have a template (see _compile) to False.
_TEMPLATES: dict[tuple[Any, ...], _Template | bool | None] = {}
_MAX_TEMPLATES = 256
# The log fields whose values differ from one request to the next, in the order of their values (after
# _FIRST_STRING); the others (the route, the method, the function's name, whether it is the cold start) repeat
# and go into a template as they are.
VARYING = ("request_id", "lambda_request_id", "apigw_request_id", "user")


def write(request: Any, collector: metrics.Collector, status: int, level: int, unhandled: bool, replayed: bool) -> bool:
    """Write ``request``'s access line from its template and return True; False (nothing written, nothing
    changed) when this request is not one a template serves: not JSON on the sole handler, a log field or a
    metric beyond what ``begin_api_request`` (and ``identify``) set, or the first request of its shape (the
    cold start is one: it is rendered as usual, and the template made only when the shape repeats)."""
    fields = logs.current_fields()
    if (
        fields is not request.fields  # another field was bound since (or other fields altogether)
        or request.settings.log_format != "json"
        or collector.recorded()
        or len(collector.properties) != 1
        or "request_id" not in collector.properties  # the request id only, as begin_api_request sets it
    ):
        return False
    handler = logs.sole_json_handler(access_log, level)
    if handler is None:
        return False
    get = fields.get
    varying = (get("request_id"), get("lambda_request_id"), get("apigw_request_id"), get("user"))
    kinds = tuple(map(type, varying))
    key = (
        request.method,
        request.route,
        status,
        level,
        unhandled,
        replayed,
        get("function_name"),
        get("cold_start"),
        kinds,
        collector.namespace,
        tuple(collector.dimensions.items()),
    )
    try:
        template = _TEMPLATES.get(key, _TEMPLATES)
    except TypeError:  # a value the key cannot hold (unhashable): no template for it
        return False
    if template is _TEMPLATES:  # a shape not seen before: remember it, render this one as usual
        if len(_TEMPLATES) < _MAX_TEMPLATES:
            _TEMPLATES[key] = None
        return False
    if template is None:
        template = _TEMPLATES[key] = _compile(key, fields, collector) or False
    if template is False:
        return False
    assert isinstance(template, _Template)
    created = time.time()
    whole = int(created)
    parts = template.parts.copy()
    parts[1::2] = template.pick(
        [
            logs.second(whole),
            f"{int((created - whole) * 1000):03d}",
            str(int(created * 1000)),
            repr(request.elapsed_ms()),
            *[encode_basestring_ascii(value) if kind is str else "" for value, kind in zip(varying, kinds)],
        ]
    )
    line = "".join(parts)
    # As logs.write, without its stream property and concatenation: the template ends with the newline, and
    # the sole handler is a StdoutHandler, whose stream is sys.stdout.
    with handler.lock:  # type: ignore[union-attr]  # Handler.__init__ always makes it
        try:
            stdout = sys.stdout
            stdout.write(line)
            stdout.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(access_log.makeRecord(access_log.name, level, "(unknown file)", 0, line, (), None))
    return True


def _compile(key: tuple[Any, ...], fields: Mapping[str, Any], collector: metrics.Collector) -> _Template | None:
    """Render the line of ``key``'s shape (these fields and this collector's dimensions and properties, as
    they are on its second request) with markers for its values and cut it into a template; None (then its
    requests are rendered as usual) for a value of a type a template does not take, or a marker that does not
    appear as often as it must."""
    method, route, status, level, unhandled, replayed, _name, _cold, kinds, namespace, dimensions = key
    if any(kind not in (str, type(None)) for kind in kinds):
        return None
    markers = {name: _VALUE.format(index) for index, name in enumerate(VARYING)}
    model_fields: dict[str, Any] = {}
    for name, value in fields.items():
        if name in markers:
            model_fields[name] = None if value is None else markers[name]
        elif value is None or type(value) in (str, bool):
            model_fields[name] = value
        else:
            return None
    model = metrics.Collector(namespace, "")
    model.dimensions = dict(dimensions)
    for name, value in collector.properties.items():  # shadowed by the field of its name, or no template
        if fields.get(name) is None:
            return None
        model.properties[name] = model_fields[name] if name in markers else value
    count(model, status, _LATENCY, unhandled, replayed)
    extras = {"status": status, "latency_ms": _LATENCY, logs.EMF_EXTRA: model.document(timestamp_ms=_MILLIS)}
    text = logs.render(
        _STAMP,
        logging.getLevelName(level),
        message(method, route, status),
        access_log.name,
        extras,
        fields=model_fields,
    )
    encode = logs.encode
    # Each marker: its text in the line, the literal text around the values that take its place, those
    # values, how often it may appear (a property never does when a field of the line has its name).
    slots: list[tuple[str, tuple[str, ...], tuple[int, ...], tuple[int, ...]]] = [
        (encode(_STAMP), ('"', ".", 'Z"'), (_SECOND, _MSECS), (1,)),
        (str(_MILLIS), ("", ""), (_EPOCH_MILLIS,), (1,)),
        (encode(_LATENCY), ("", ""), (_LATENCY_MS,), (2,)),
    ]
    slots += [
        (encode(marker), ("", ""), (_FIRST_STRING + index,), (1,) if model_fields.get(name) is not None else (0,))
        for index, (name, marker) in enumerate(markers.items())
    ]
    found: list[tuple[int, str, tuple[str, ...], tuple[int, ...]]] = []
    for marker, around, filled_by, allowed in slots:
        if text.count(marker) not in allowed:
            return None
        start = text.find(marker)
        while start >= 0:
            found.append((start, marker, around, filled_by))
            start = text.find(marker, start + len(marker))
    found.sort()
    parts: list[str] = []
    order: list[int] = []
    literal, position = "", 0
    for start, marker, around, filled_by in found:
        literal += text[position:start] + around[0]
        for value, after in zip(filled_by, around[1:]):
            parts += [literal, ""]
            order.append(value)
            literal = after
        position = start + len(marker)
    parts.append(literal + text[position:] + "\n")
    # A line has several values, so itemgetter returns a tuple (of one index it would return the value).
    return _Template(parts, itemgetter(*order))
