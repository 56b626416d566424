"""The project's exceptions. ``AppError``s are answers: each knows its problem status and code, and
chalicelib/protocol/problems.py is the one place that turns them into RFC 9457 problem documents.
``StoreOutcome``s are what a conditional write or a transaction reports for the domain to interpret; they
are not answers, so one that escapes a service is a bug (an unhandled 500, logged once), never a status.

Adapters translate their storage errors into these at their boundary (``raise ... from exc``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from chalicelib.vocabulary import RejectionReason


class AppError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}

    @property
    def reported_as_bug(self) -> bool:
        """A bare AppError (a 500 internal_error): a bug reported as one, logged as unhandled like any other."""
        return self.status >= 500 and self.code == AppError.code


class InvalidJson(AppError):
    status, code, title = 400, "invalid_json", "Request body is not valid JSON"


class ValidationFailed(AppError):
    status, code, title = 400, "validation_error", "Validation failed"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class BadRequest(AppError):
    status, code, title = 400, "bad_request", "Bad Request"


class InvalidCursor(AppError):
    status, code, title = 400, "invalid_cursor", "Invalid cursor"


class Unauthorized(AppError):
    """A refused token. ``reason`` (one word of vocabulary.REJECTION_REASONS) is what the edge counts and
    logs; ``detail`` is what the client reads."""

    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, *, reason: RejectionReason) -> None:
        super().__init__(
            detail or "A valid bearer token is required", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
        self.reason = reason


class SignatureRefused(AppError):
    """A signed request (a Slack slash command) whose signature is missing, wrong, too old or seen before."""

    status, code, title = 401, "invalid_signature", "Request signature refused"


class Forbidden(AppError):
    """A verified caller who may not do this (a chat user or channel not allowed)."""

    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not Found"


class MethodNotAllowed(AppError):
    status, code, title = 405, "method_not_allowed", "Method Not Allowed"


class PreconditionFailed(AppError):
    status, code, title = 412, "precondition_failed", "Precondition Failed"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload Too Large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported Media Type"


class IdempotencyConflict(AppError):
    status, code, title = 422, "idempotency_conflict", "Idempotency key reused with a different body"


class FeatureDisabled(AppError):
    status, code, title = 503, "feature_disabled", "Feature disabled"


# What the store adapters answer when the database throttles them (and an injected throttle too).
STORE_THROTTLED = "the database is throttling requests; retry the request"


class StoreUnavailable(AppError):
    """The store is throttling or unreachable; the request changed nothing and may be retried."""

    status, code, title = 503, "service_unavailable", "Service temporarily unavailable"


class ChatUnavailable(AppError):
    """The team's chat did not take a message (the webhook refused it, or kept failing past its retries).
    Its detail never quotes the webhook's URL, which is a secret."""

    status, code, title = 503, "chat_unavailable", "The chat is unavailable"


class SecretUnavailable(AppError):
    """A secret could not be read (its parameter is missing, or access to it was denied or failed)."""

    status, code, title = 503, "secret_unavailable", "A secret is unavailable"


# --- storage outcomes the domain interprets (never rendered) ----------------------------------------


class StoreOutcome(Exception):
    """A storage outcome a service decides about (404, 412, a replay, a retry); never an answer itself."""


class ConditionFailed(StoreOutcome):
    """A conditional write did not hold. ``existing`` is the record as stored (None when absent); ``index``
    is the position of the failed operation in a transaction."""

    def __init__(self, existing: dict[str, Any] | None = None, *, index: int = 0) -> None:
        super().__init__("A write condition did not hold")
        self.existing = existing
        self.index = index


class TransactionConflict(StoreOutcome):
    """Another transaction touched the same records at the same moment; safe to retry."""


class QueueUnavailable(AppError):
    """The activity queue refused or could not take a message (adapters raise it ``from`` the cause)."""

    status, code, title = 503, "service_unavailable", "Service temporarily unavailable"


class ProviderThrottled(AppError):
    """The assistant's model provider throttled the call; the request may be retried later."""

    status, code, title = 503, "provider_throttled", "The assistant is busy"


class ProviderUnavailable(AppError):
    """The assistant's model provider failed or could not be reached."""

    status, code, title = 503, "provider_unavailable", "The assistant is unavailable"


class RegionFailed(AppError):
    """GET /health while this region's switch says ``failed``: health checks move traffic elsewhere."""

    status, code, title = 503, "region_failed", "This region is failed over"


class RegionSwitchUnavailable(AppError):
    """The region switch (an SSM parameter, a local file) could not be read or written."""

    status, code, title = 503, "service_unavailable", "Service temporarily unavailable"


class ChatCommandsUnavailable(AppError):
    """The chat commands cannot be served: not configured here, or their signing secret unreadable."""

    status, code, title = 503, "service_unavailable", "Service temporarily unavailable"
