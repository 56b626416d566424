"""The words more than one module speaks, each written once: item statuses, activity event types, what a
client may choose as a request id or idempotency key, the prompt limit, the detail a client gets for a
bug, why a token was refused and the unhandled-error log marker.

Standard library only and nothing computed at import beyond a few strings and the status Literal, so every
path (the cold one included) imports it at the top. tests/test_vocabulary.py fails when one of these
literals is written anywhere else in chalicelib/.
"""

from __future__ import annotations

import unicodedata
from types import MappingProxyType
from typing import Any
from typing import Literal
from typing import TypeGuard
from typing import get_args

# --- items (docs/API.md "Items") ---------------------------------------------------------------------
# Written as a Literal type, the one form both the type checker and msgspec (protocol/schemas.py) read.
Status = Literal["todo", "in_progress", "done"]  # in the order the API lists them
STATUSES: tuple[Status, ...] = get_args(Status)
STATUS_TODO, STATUS_IN_PROGRESS, STATUS_DONE = STATUSES
DEFAULT_STATUS = STATUS_TODO  # of an item created without one

# --- activity events: what ItemService emits for each committed change --------------------------------
ITEM_CREATED = "item.created"
ITEM_UPDATED = "item.updated"
ITEM_DELETED = "item.deleted"
USER_SIGNED_IN = "user.signed_in"  # a new sign-in session seen by GET /me or PATCH /me
ITEM_EVENT_TYPES = (ITEM_CREATED, ITEM_UPDATED, ITEM_DELETED)
EVENT_TYPES = (*ITEM_EVENT_TYPES, USER_SIGNED_IN)

# --- tokens a client chooses: X-Request-Id and Idempotency-Key (docs/API.md) --------------------------
# A request id read back from a queue message must fit the same shape (observability/correlation.py).
_TOKEN_CHARACTERS = "A-Za-z0-9._:-"
_TOKEN_MAX = 128
CLIENT_TOKEN_PATTERN = f"[{_TOKEN_CHARACTERS}]{{1,{_TOKEN_MAX}}}"
CLIENT_TOKEN_RULE = f"1-{_TOKEN_MAX} characters of [{_TOKEN_CHARACTERS}]"

# --- who owns a partition: a token's sub ----------------------------------------------------------------
# A sub becomes part of every key (USER#<sub>), so it is bounded and must not contain the key separator
# or anything a log line or a key could be confused by (control and format characters).
MAX_SUB_LENGTH = 128


def valid_sub(sub: Any) -> TypeGuard[str]:
    """Whether ``sub`` may own a partition: the one rule, for tokens (chalicelib/auth) and events alike."""
    return (
        isinstance(sub, str)
        and 0 < len(sub) <= MAX_SUB_LENGTH
        and "#" not in sub
        and not any(unicodedata.category(ch).startswith("C") for ch in sub)
    )


# --- why a token was refused: every 401 carries one of these (chalicelib/auth), and the SignInFailures
# metric counts them by it (docs/OPERATIONS.md). Never the token, never the user: these words only.
RejectionReason = Literal[
    "missing_token",  # no Authorization header
    "malformed_token",  # not 'Bearer <JWS>', too large, undecodable
    "wrong_algorithm",  # alg other than RS256 ('none', HS256 keyed with the public key, ...)
    "unknown_key",  # no kid, or a kid the issuer does not publish
    "keys_unavailable",  # the issuer's keys could not be fetched or used: ours to fix, not the client's
    "bad_signature",
    "expired",
    "not_yet_valid",  # iat or nbf in the future
    "wrong_issuer",
    "wrong_client",  # client_id (access) or aud (id) of another app client
    "wrong_token_use",  # neither an access nor an ID token
    "invalid_claims",  # a required claim missing or of the wrong shape (sub, exp, iat, nbf)
    "missing_scope",  # AUTH_REQUIRED_SCOPE is set and the token's scope lacks it (an ID token has none)
]
REJECTION_REASONS: tuple[RejectionReason, ...] = get_args(RejectionReason)
(
    MISSING_TOKEN,
    MALFORMED_TOKEN,
    WRONG_ALGORITHM,
    UNKNOWN_KEY,
    KEYS_UNAVAILABLE,
    BAD_SIGNATURE,
    EXPIRED,
    NOT_YET_VALID,
    WRONG_ISSUER,
    WRONG_CLIENT,
    WRONG_TOKEN_USE,
    INVALID_CLAIMS,
    MISSING_SCOPE,
) = REJECTION_REASONS

# --- the assistant ------------------------------------------------------------------------------------
MAX_PROMPT_CHARS = 2000  # of a prompt, after trimming
PROMPT_RULE = f"1-{MAX_PROMPT_CHARS} characters after trimming"

# --- the one route two functions serve: the API function (buffered) and the streaming function, which the
# stack wires to this path (cloudformation/transforms/streaming.py) -------------------------------------
ASSISTANT_STREAM_PATH = "/assistant/stream"

# --- a request no route serves (another path, or a method its path does not have): app.py's one greedy
# route, where both stacks (cloudformation/transforms/api.py, http_api.py) and the local gateway
# (chalicelib/web/local_gateway.py) send it, and chalicelib/web/routing.py answers it 404 or 405 --------
UNROUTED_PATH = "/{proxy+}"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# --- what a client sees of a bug: a 500 problem's (or an ``error`` event's) detail, never the exception --
INTERNAL_ERROR_DETAIL = "An internal error occurred; quote the request id when reporting it."

# --- logs ---------------------------------------------------------------------------------------------
# The one ERROR line that reports an unhandled exception carries this field, so an operator's query
# finds exactly those lines (observability/logs.py's UNHANDLED_FILTER_PATTERN); the alarm counts them
# through the UnhandledExceptions metric the same code emits.
UNHANDLED_FIELD = "error"
UNHANDLED_VALUE = "unhandled"
UNHANDLED = MappingProxyType({UNHANDLED_FIELD: UNHANDLED_VALUE})  # ``extra=`` of that line

# --- SSM parameters: one prefix per stage (docs/DEPLOY.md). The operator stores the Slack secrets there, the
# chat commands flip this region's switch there, and the stacks exchange what they need there (no exports).
SSM_PREFIX = "/tasks-api/{stage}"
SSM_SLACK_WEBHOOK_URL = "slack/webhook-url"  # SecureString: the incoming webhook the notifier posts to
SSM_SLACK_SIGNING_SECRET = "slack/signing-secret"  # SecureString: verifies the slash commands
SSM_REGION_SWITCH = "region/switch"  # String "serving" or "failed": what /health reports for this region
# What the stacks publish for each other and for the operator (docs/DEPLOY.md "What the stacks exchange"):
SSM_REPOSITORY_URI = "image/repository-uri"  # the bootstrap stack's ECR repository: scripts/deploy.sh pushes there
SSM_REPOSITORY_ARN = "image/repository-arn"
SSM_API_URL = "api/url"  # the app stack's API endpoint
SSM_TABLE_NAME = "table/name"  # with EnableTasksTable
SSM_QUEUE_URL = "queue/activity-url"  # with EnableSqsIntegration
SSM_ALARM_TOPIC_ARN = "alarms/topic-arn"
# This region's switch (the SSM parameter above, or a file locally): what /health reports, what the chat
# commands `fail` and `restore` write (chalicelib/tasks/region.py).
REGION_SERVING = "serving"
REGION_FAILED = "failed"
REGION_STATES = (REGION_SERVING, REGION_FAILED)
# The Slack slash command's request URL path (docs/OPERATIONS.md "Chat commands"): public, signed by Slack.
SLACK_COMMAND_PATH = "/chat/slack"

# --- the API's OAuth scope: the one the stack's user pool defines (cloudformation/transforms/cognito.py) and
# API Gateway requires of every protected route's access token; the local issuer grants it too ------------
API_SCOPE = "tasks-api/api"

# --- what only a local setup serves (docs/DESIGN.md "The console's sign-in"): the console's page
# (chalicelib/web/console.py) and the development issuer's OAuth endpoints (chalicelib/web/oauth.py), on the
# API's own origin. Public, in no OpenAPI document, a 404 problem wherever AUTH_ISSUER is set -------------
CONSOLE_PATH = "/console"
CONSOLE_FILE_PATH = CONSOLE_PATH + "/{name}"
OAUTH_AUTHORIZE_PATH = "/oauth2/authorize"
OAUTH_TOKEN_PATH = "/oauth2/token"
LOGOUT_PATH = "/logout"
LOCAL_ONLY_PATHS = ("/", CONSOLE_PATH, CONSOLE_FILE_PATH, OAUTH_AUTHORIZE_PATH, OAUTH_TOKEN_PATH, LOGOUT_PATH)
