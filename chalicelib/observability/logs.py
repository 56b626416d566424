"""Structured logs: one JSON object per line (readable text locally) carrying the current request's
fields, configured once from Settings; never a token, a body, a header or a secret."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from contextvars import Token
from functools import lru_cache
from typing import Any

from chalicelib.vocabulary import UNHANDLED
from chalicelib.vocabulary import UNHANDLED_FIELD
from chalicelib.vocabulary import UNHANDLED_VALUE

# CloudWatch Logs filter patterns the lines below satisfy (tests/observability renders real lines and
# matches them): the stack's ApplicationErrors filter takes ERROR_FILTER_PATTERN; the unhandled one is
# for operators' queries (the alarm reads the UnhandledExceptions metric).
ERROR_FILTER_PATTERN = '{ $.level = "ERROR" }'
UNHANDLED_FILTER_PATTERN = f'{{ $.{UNHANDLED_FIELD} = "{UNHANDLED_VALUE}" }}'
# ``extra=`` key whose value (an EMF document) is merged into the line: the access line then is the
# invocation's EMF document too, one encode and one write per request instead of two.
EMF_EXTRA = "emf"
APP_LOGGER = "tasks"  # the app's loggers: tasks.web, tasks.access, ...
ACCESS_LOGGER = "tasks.access"  # one line per API request, after the response
CHALICE_LOGGER = "tasks-api"  # Chalice's own app.log (the app_name in app.py)

# Fields of the current request (or message), in output order; a missing or None field is left out.
CONTEXT_FIELDS = (
    "request_id",
    "apigw_request_id",
    "lambda_request_id",
    "route",
    "method",
    "function_name",
    "cold_start",
    "user",
)
PSEUDONYM_LABEL = b"tasks-api/log-user-pseudonym/v1"
PSEUDONYM_HEX_CHARS = 16

_EMPTY: Mapping[str, Any] = {}
_fields: ContextVar[Mapping[str, Any]] = ContextVar("log_fields", default=_EMPTY)
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


# --- the current request's fields ----------------------------------------------------------------


def bind(**fields: Any) -> Token:
    """Make ``fields`` the log context (replacing any); ``reset(token)`` restores the previous one."""
    return _fields.set(fields)


def bind_fields(fields: Mapping[str, Any]) -> Token:
    """``bind(**fields)`` for a mapping the caller built (and keeps: it must not change it)."""
    return _fields.set(fields)


def add(**fields: Any) -> None:
    """Add fields to the current log context (e.g. the user once authenticated)."""
    _fields.set({**_fields.get(), **fields})


def reset(token: Token) -> None:
    _fields.reset(token)


def current_fields() -> Mapping[str, Any]:
    return _fields.get()


def pseudonym(sub: str, secret: bytes) -> str:
    """A stable, keyed pseudonym of a user id: the same sub gives the same value in every line, but
    the value does not reveal the sub to anyone without the key (derived from CURSOR_SECRET)."""
    # lazy: hashlib loads OpenSSL (~2.5 ms), paid once a caller is known, never by GET /health
    import hashlib
    import hmac

    return hmac.new(_pseudonym_key(secret), sub.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]


@lru_cache(maxsize=4)
def _pseudonym_key(secret: bytes) -> bytes:
    # lazy: as in pseudonym()
    import hashlib
    import hmac

    # A key of its own (a distinct label), so a log pseudonym is never a cursor MAC and vice versa.
    return hmac.new(secret, PSEUDONYM_LABEL, hashlib.sha256).digest()


# --- formatters ----------------------------------------------------------------------------------


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: value
        for name, value in record.__dict__.items()
        if name not in _RECORD_ATTRIBUTES and not name.startswith("_") and value is not None
    }


def _exception_type(record: logging.LogRecord) -> str | None:
    if not record.exc_info or record.exc_info[0] is None:
        return None
    kind = record.exc_info[0]
    module = getattr(kind, "__module__", "builtins")
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


# One encoder for every line (json.dumps with options builds a new one per call).
_encode = encode = json.JSONEncoder(ensure_ascii=True, default=str, separators=(",", ":")).encode
_AWS = "_aws"  # the EMF document's metadata key: its directives arrive encoded (metrics.Directives)
_AWS_KEYS = ("Timestamp", "CloudWatchMetrics")
_AWS_MARK = "\x00"  # stands for the _aws member while the line is encoded
_AWS_MARKED = _encode({_AWS: _AWS_MARK})[1:-1]  # '"_aws":"\u0000"'
# (whole second, its "%Y-%m-%dT%H:%M:%S" text): lines of the same second share the strftime.
_second: tuple[int, str] = (-1, "")


def timestamp(created: float, msecs: float) -> str:
    """A line's ``timestamp``: RFC 3339, UTC, milliseconds, Z (``created``/``msecs`` as LogRecord has them)."""
    return f"{second(int(created))}.{int(msecs):03d}Z"


def second(whole: int) -> str:
    """The text of a whole second (``%Y-%m-%dT%H:%M:%S``, UTC): lines of the same second share the strftime."""
    global _second
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return cached[1]


_HEAD = ("timestamp", "level", "message", "logger")  # every line's first fields


def render(
    stamp: str,
    level: str,
    message: str,
    logger: str,
    extras: Mapping[str, Any],
    exc_type: str | None = None,
    stack: str = "",
    fields: Mapping[str, Any] | None = None,
) -> str:
    """The JSON line of a record: its timestamp (``timestamp()``'s text), level, message, logger, the
    context fields (``fields``, else the current ones), the record's extras (``extras[EMF_EXTRA]``, an EMF
    document, merged last), and ``exc_type`` / ``stack`` for an exception."""
    line: dict[str, Any] = {
        "timestamp": stamp,
        "level": level,
        "message": message,
        "logger": logger,
    }
    context = _fields.get() if fields is None else fields
    if context:
        get = context.get
        for name in CONTEXT_FIELDS:
            value = get(name)
            if value is not None:
                line[name] = value
        if len(line) - len(_HEAD) < len(context):  # fields beyond CONTEXT_FIELDS, or None ones
            for name, value in context.items():
                if name not in line and value is not None:
                    line[name] = value
    emf = None
    for name, value in extras.items():
        if name == EMF_EXTRA:
            emf = value
        else:
            line.setdefault(name, value)
    aws_json = None
    if emf:
        # What a setdefault per field does, at C speed: the line's own fields keep their values and places.
        kept = {name: line[name] for name in line.keys() & emf.keys()}
        line.update(emf)
        line.update(kept)
        aws_json = _encoded_aws(line, emf)
        if aws_json is not None:
            line[_AWS] = _AWS_MARK
    if exc_type:
        line["exc_type"] = exc_type
    if stack:
        line["stack"] = stack
    # ASCII-only: whatever stdout's encoding, a line is always written whole.
    text = _encode(line)
    # The marker's key-value pair appears once: any such text inside a string value is escaped (\").
    return text if aws_json is None else text.replace(_AWS_MARKED, aws_json, 1)


def _encoded_aws(line: dict[str, Any], emf: Mapping[str, Any]) -> str | None:
    """The ``"_aws":{...}`` member of the EMF document merged into ``line``, its directives encoded once
    per layout (metrics.Directives), not per request; None when the line's ``_aws`` is not the
    document's of that shape (then it is encoded as it is)."""
    aws = line.get(_AWS)
    if aws is None or aws is not emf.get(_AWS) or type(aws) is not dict or tuple(aws) != _AWS_KEYS:
        return None
    timestamp = aws["Timestamp"]
    encoded = getattr(aws["CloudWatchMetrics"], "encoded", None)
    if type(timestamp) is not int or type(encoded) is not str:
        return None
    return f'"{_AWS}":{{"Timestamp":{timestamp},"CloudWatchMetrics":{encoded}}}'


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see ``render``)."""

    def format(self, record: logging.LogRecord) -> str:
        stack = self.formatException(record.exc_info) if record.exc_info else ""
        if record.stack_info:
            stack = f"{stack}\n{self.formatStack(record.stack_info)}".strip()
        return render(
            timestamp(record.created, record.msecs),
            record.levelname,
            record.getMessage(),
            record.name,
            _extras(record),
            _exception_type(record),
            stack,
        )


class TextFormatter(logging.Formatter):
    """For people reading a terminal: ``12:00:01.234 INFO  tasks.access [request id] message k=v``."""

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        context = _fields.get()
        extras = {**{k: v for k, v in context.items() if k in ("user",) and v is not None}, **_extras(record)}
        text = (
            f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {record.name} "
            f"[{context.get('request_id') or '-'}] {record.getMessage()}"
        )
        if extras:
            text += " " + " ".join(f"{name}={value}" for name, value in extras.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a record arrives: Lambda ships stdout to CloudWatch
    Logs, and a test capturing stdout sees every line."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler assigns it; stdout is looked up per record
        pass


def log(logger: logging.Logger, level: int, message: str, extra: Mapping[str, Any]) -> None:
    """``logger.log(level, message, extra=extra)``, the same line; when the record would reach only
    this module's JSON handler (as configured, in Lambda), written without the logging machinery's
    LogRecord, caller lookup and handler walk: the access line, once per request."""
    handler = sole_json_handler(logger, level)
    if handler is None:
        logger.log(level, message, extra=extra)
        return
    created = time.time()
    msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord has it
    extras = {name: value for name, value in extra.items() if value is not None and not name.startswith("_")}
    text = render(timestamp(created, msecs), logging.getLevelName(level), message, logger.name, extras)
    write(handler, logger, level, text)


def write(handler: StdoutHandler, logger: logging.Logger, level: int, text: str) -> None:
    """Write one rendered line of ``logger`` through ``handler`` (from ``sole_json_handler``), as the handler
    itself would: under its lock, flushed, a failure reported by its ``handleError``."""
    with handler.lock:  # type: ignore[union-attr]  # Handler.__init__ always makes it
        try:
            stream = handler.stream
            stream.write(text + handler.terminator)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(logger.makeRecord(logger.name, level, "(unknown file)", 0, text, (), None))


def sole_json_handler(logger: logging.Logger, level: int) -> StdoutHandler | None:
    """The one handler a ``level`` record of ``logger`` reaches, if the record is enabled and that handler
    is a StdoutHandler with the JsonFormatter and no logger or handler on the way filters; else None (then
    log it normally)."""
    if logger.disabled or not logger.isEnabledFor(level):
        return None
    found: StdoutHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if (
                found is not None
                or type(handler) is not StdoutHandler
                or handler.filters
                or level < handler.level
                or type(handler.formatter) is not JsonFormatter
            ):
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    return found


class _ChaliceUnhandled(logging.Filter):
    """Chalice logs an exception it caught itself ("Caught exception for path ...") with its trace:
    that line is the one report of an unhandled exception, so it carries the same marker."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.exc_info:
            setattr(record, UNHANDLED_FIELD, UNHANDLED_VALUE)
        return True


# --- configuration -------------------------------------------------------------------------------

_configured: tuple[str, str, bool] | None = None
_configured_by: Any = None  # the Settings the configuration was last checked against
_configure_lock = threading.Lock()


def configure(settings: Any) -> None:
    """Install the formatter chosen by Settings on the root logger; cheap and idempotent, so every
    invocation may call it (it changes something only when the settings did)."""
    global _configured, _configured_by
    if settings is _configured_by:  # the same Settings as last time: nothing to compare (every request)
        return
    key = (settings.log_level, settings.log_format, settings.in_lambda)
    if _configured == key:
        _configured_by = settings
        return
    with _configure_lock:
        if _configured == key:
            return
        root = logging.getLogger()
        handler = next((h for h in root.handlers if isinstance(h, StdoutHandler)), None)
        if handler is None:
            handler = StdoutHandler()
            root.addHandler(handler)
        if settings.in_lambda:
            # The Lambda runtime puts its own text handler on the root logger: every line would be
            # written twice, once as "[LEVEL] ..." text.
            for other in [h for h in root.handlers if h is not handler]:
                root.removeHandler(other)
        handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
        level = getattr(logging, settings.log_level)
        # LOG_LEVEL is the app's; libraries stay at WARNING or above even at DEBUG (botocore's debug
        # lines carry request bodies and headers).
        logging.getLogger(APP_LOGGER).setLevel(level)
        root.setLevel(max(level, logging.WARNING))
        chalice_log = logging.getLogger(CHALICE_LOGGER)
        for own in list(chalice_log.handlers):  # Chalice's plain-text stdout handler
            chalice_log.removeHandler(own)
        chalice_log.propagate = True
        if not any(isinstance(f, _ChaliceUnhandled) for f in chalice_log.filters):
            chalice_log.addFilter(_ChaliceUnhandled())
        _configured = key
        _configured_by = settings


def log_unhandled(logger: logging.Logger, message: str = "unhandled exception") -> None:
    """Report the exception being handled: once, at ERROR, with its trace and the unhandled marker.
    Call it from an ``except`` block; whoever catches must not log the same exception again."""
    logger.error(message, exc_info=True, extra=UNHANDLED)  # noqa: LOG014 - callers are except blocks
