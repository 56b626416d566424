"""The app's configuration: one frozen Settings, read from the environment once.

No other module reads its configuration from ``os.environ`` (the streaming runtime reads Lambda's
``AWS_LAMBDA_RUNTIME_API`` and sets ``_X_AMZN_TRACE_ID`` per invocation); docs/CONFIGURATION.md lists
every variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

APP_VERSION = "0.1.0"

# The local development issuer (chalicelib/auth/local_issuer.py) signs tokens with these values.
LOCAL_ISSUER = "http://localhost/local-dev-issuer"
LOCAL_CLIENT_ID = "local-dev-client"
DEFAULT_METRICS_NAMESPACE = "TasksApi"
# The longest pause the offline assistant may take between two words (ASSISTANT_OFFLINE_DELAY_MS).
MAX_OFFLINE_DELAY_MS = 1000
DEFAULT_BEDROCK_MODEL_ID = "amazon.nova-micro-v1:0"
# What a browser client of this API sends beyond the CORS-safelisted headers, and how long (seconds) a
# browser may reuse a preflight answer; the stack's CorsAllowHeaders / CorsMaxAge default to these.
DEFAULT_CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Request-Id")
DEFAULT_CORS_MAX_AGE = 600
# How long (seconds) the access and ID tokens of a browser's sign-in with the local issuer live (its OAuth
# endpoints, chalicelib/web/oauth.py): an hour, as Cognito's default.
DEFAULT_LOCAL_TOKEN_TTL = 3600


class ConfigError(ValueError):
    """A configuration value is unusable; raised when Settings are built, never per request."""


def _csv(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


# An OAuth scope-token (RFC 6749 section 3.3): printable ASCII without space, '"' or '\\'.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_HTTP_URL = re.compile(r"https?://[^\s/?#]+")

# An SSM parameter name as the stack passes it: a full path (/tasks-api/<stage>/...), SSM's characters only.
_SSM_NAME = re.compile(r"/[A-Za-z0-9_.\-/]{1,1010}")

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# CloudWatch namespaces: 1-255 of these characters, and the AWS/ prefix is reserved.
_NAMESPACE = re.compile(r"[A-Za-z0-9._/#: -]{1,255}")
# An SSM parameter's full name (/tasks-api/prod/slack/webhook-url) and a CloudWatch dashboard's name.
_SSM_NAME = re.compile(r"[A-Za-z0-9_./-]{1,2048}")
_DASHBOARD = re.compile(r"[A-Za-z0-9_-]{1,255}")
# An AWS region's name as REGIONS lists it: us-east-1, eu-west-1, us-gov-west-1.
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


# How the DynamoDB store sends its requests: botocore's client, or (the default) the standard-library
# transport (chalicelib/store/dynamodb_http.py) that keeps boto3 off the request path.
DYNAMODB_TRANSPORTS = ("boto3", "lean")

# The table's consistency across Regions (the stack's TableConsistency, lower case): ``strong`` is a DynamoDB
# global table in multi-Region strong consistency, which has no transactions and no TTL, so the store is made
# without transactions and the use-cases take their single-write paths (docs/DESIGN.md).
TABLE_CONSISTENCIES = ("eventual", "strong")

# Fault injection for drills (chalicelib/faults.py, docs/OPERATIONS.md "Fault drill"): what an injected fault
# is. ``exception`` an unhandled exception, ``store`` a store failure the adapter cannot translate (unhandled
# too), ``latency`` added delay, ``throttle`` the store's throttling error (a 503).
FAULT_KINDS = ("exception", "store", "latency", "throttle")
DEFAULT_FAULT_LATENCY_MS = 1000
# A route template as app.py declares it, after its method: "GET /items/{item_id}" (compiled only when
# FAULT_ROUTES is set: not on every cold start).
_ROUTE = r"[A-Z]+ /[A-Za-z0-9_./{}-]*"


def _faults(env: Mapping[str, str], stage: str) -> tuple[float, tuple[str, ...], str, int, bool]:
    """The fault-injection settings (rate, routes, kind, latency in ms, allowed in prod), refused in the
    ``prod`` stage unless FAULT_INJECTION_IN_PROD allows them. A plain tuple: a class costs the cold start."""
    text = (env.get("FAULT_RATE") or "0").strip()
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:  # also refuses nan
        raise ConfigError(f"FAULT_RATE must be a number from 0 to 1, got {text!r}")
    routes = tuple(" ".join(route.split()) for route in _csv(env.get("FAULT_ROUTES")))
    for route in routes:
        if not re.fullmatch(_ROUTE, route):
            raise ConfigError(f"FAULT_ROUTES must list route templates like 'GET /items/{{item_id}}', got {route!r}")
    kind = _choice(env, "FAULT_KIND", "exception", FAULT_KINDS)
    latency = (env.get("FAULT_LATENCY_MS") or str(DEFAULT_FAULT_LATENCY_MS)).strip()
    if not latency.isdigit():
        raise ConfigError(f"FAULT_LATENCY_MS must be a whole number of milliseconds, got {latency!r}")
    in_prod = _choice(env, "FAULT_INJECTION_IN_PROD", "false", ("true", "false")) == "true"
    if rate > 0 and stage == "prod" and not in_prod:
        raise ConfigError(
            "FAULT_RATE is above 0 in the prod stage: fault injection there needs FAULT_INJECTION_IN_PROD=true "
            "(the stack's FaultInjectionInProd parameter)"
        )
    return rate, routes, kind, int(latency), in_prod


def _regions(value: str | None, own: str | None) -> tuple[str, ...]:
    """REGIONS: AWS region names, each once, and this process's own region among them (else no change
    would be its to forward, and its counters would go to a shard no region owns)."""
    regions = _csv(value)
    for region in regions:
        if not _AWS_REGION.fullmatch(region):
            raise ConfigError(f"REGIONS must list AWS region names (us-east-1,eu-west-1), got {region!r}")
    if len(set(regions)) != len(regions):
        raise ConfigError(f"REGIONS names a region twice: {','.join(regions)}")
    if regions and own not in regions:
        raise ConfigError(f"REGIONS ({','.join(regions)}) must include this process's AWS_REGION, got {own!r}")
    return regions


class Settings(NamedTuple):
    """Every setting, immutable once built. A NamedTuple rather than a frozen dataclass on purpose:
    importing ``dataclasses`` alone costs ~5 ms of a ~40 ms cold start (docs/PERFORMANCE.md)."""

    stage: str = "local"
    data_dir: str = ".data"
    store: str = "sqlite"
    sqlite_path: str = ".data/app.db"
    table_name: str | None = None
    dynamodb_endpoint_url: str | None = None
    dynamodb_transport: str = "lean"
    table_consistency: str = "eventual"
    aws_region: str | None = None
    queue: str = "local"
    activity_queue_url: str | None = None
    auth_issuer: str = LOCAL_ISSUER
    auth_client_ids: tuple[str, ...] = (LOCAL_CLIENT_ID,)
    auth_jwks_url: str = ""
    auth_is_local: bool = True
    # An access token must carry this OAuth scope where this process verifies tokens itself (the streaming
    # function behind a Lambda function URL, where no API Gateway authorizer requires it first).
    auth_required_scope: str | None = None
    # The lifetime of the tokens the local issuer's OAuth endpoints hand a browser (seconds).
    local_token_ttl: int = DEFAULT_LOCAL_TOKEN_TTL
    assistant_provider: str = "offline"
    bedrock_model_id: str = DEFAULT_BEDROCK_MODEL_ID
    cors_allow_origins: tuple[str, ...] = ()
    cors_allow_headers: tuple[str, ...] = DEFAULT_CORS_ALLOW_HEADERS
    cors_max_age: int = DEFAULT_CORS_MAX_AGE
    # The Lambda function URL that streams POST /assistant/stream (the HTTP API flavour): openapi.json names
    # it as that operation's server. Scheme and host only, no trailing slash.
    assistant_stream_url: str | None = None
    # The offline assistant's pause between words (milliseconds; 0: none), so its streamed answer arrives
    # over time as a model's does (`make dev`, the console's browser tests).
    assistant_offline_delay_ms: int = 0
    log_level: str = "INFO"
    log_format: str = "json"
    # Observability (chalicelib/observability, docs/OPERATIONS.md). ``observability`` off turns all of
    # it off (no log configuration, access log, metrics or tracing): for measuring its cost only.
    observability: bool = True
    metrics: str = "off"
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    # X-Ray: active only inside Lambda when the runtime announces a daemon and a trace header.
    tracing: bool = False
    xray_daemon_address: str | None = None
    cursor_secret: bytes = b""
    # Chat alerts (chalicelib/alerts, docs/OPERATIONS.md "Chat alerts"): the SSM SecureString parameter that
    # holds the Slack incoming webhook's URL (None: alerts off), and the dashboard each alert links to.
    slack_webhook_parameter: str | None = None
    dashboard_name: str | None = None
    # Set by the Lambda runtime; API Gateway's authorizer claims are trusted only there.
    in_lambda: bool = False
    # Fault injection (_faults above); a rate of 0 (the default) builds nothing and costs nothing.
    fault_rate: float = 0.0
    fault_routes: tuple[str, ...] = ()
    fault_kind: str = "exception"
    fault_latency_ms: int = DEFAULT_FAULT_LATENCY_MS
    fault_injection_in_prod: bool = False
    function_name: str | None = None
    version: str = APP_VERSION
    # Operations (docs/OPERATIONS.md): this region's switch, which GET /health reports (an SSM String parameter's
    # name; None: a file under data_dir), and the Slack chat commands: the SSM SecureString parameter holding the
    # signing secret (None: the commands answer 503), who may run them (Slack user and channel ids; empty:
    # nobody) and the stack's alarm name prefix that ``status`` lists the alarms in ALARM under (None: none).
    region_switch_parameter: str | None = None
    # How long GET /health keeps a read of the switch (seconds; None: chalicelib/tasks/region.py's CACHE_SECONDS).
    region_switch_cache_seconds: float | None = None
    slack_signing_secret_parameter: str | None = None
    slack_allowed_users: tuple[str, ...] = ()
    slack_allowed_channels: tuple[str, ...] = ()
    alarm_name_prefix: str | None = None
    # The deployment's regions when it runs in more than one over a DynamoDB global table, the home region
    # (where the table was created) first; empty: one region (docs/DESIGN.md "Two regions"). This process's
    # own region is ``aws_region``, always one of them.
    regions: tuple[str, ...] = ()

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self) if name != "cursor_secret")
        return f"Settings({shown}, cursor_secret=<hidden>)"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = (env.get("APP_STAGE") or "local").strip() or "local"
        data_dir = env.get("DATA_DIR") or ".data"
        table_name = env.get("TABLE_NAME") or None
        # "off" is how a deployment without the tasks table says so: the routes that need it
        # answer 503 feature_disabled instead of failing.
        store = _choice(env, "STORE", "dynamodb" if table_name else "sqlite", ("sqlite", "dynamodb", "off"))
        if store == "dynamodb" and not table_name:
            raise ConfigError("STORE=dynamodb needs TABLE_NAME")
        queue_url = env.get("ACTIVITY_QUEUE_URL") or None
        # "off": a deployment without the queue (EnableSqsIntegration=false) emits no activity events.
        queue = _choice(env, "QUEUE", "sqs" if queue_url else "local", ("local", "sqs", "off"))
        if queue == "sqs" and not queue_url:
            raise ConfigError("QUEUE=sqs needs ACTIVITY_QUEUE_URL")
        issuer = (env.get("AUTH_ISSUER") or "").strip().rstrip("/")
        auth_is_local = not issuer
        if auth_is_local:
            issuer = LOCAL_ISSUER
            default_jwks = "file://" + os.path.abspath(os.path.join(data_dir, "issuer", "jwks.json"))
            client_ids = _csv(env.get("AUTH_CLIENT_IDS")) or (LOCAL_CLIENT_ID,)
        else:
            default_jwks = issuer + "/.well-known/jwks.json"
            client_ids = _csv(env.get("AUTH_CLIENT_IDS"))
            if not client_ids:
                raise ConfigError("AUTH_ISSUER is set, so AUTH_CLIENT_IDS must list the allowed clients")
        required_scope = (env.get("AUTH_REQUIRED_SCOPE") or "").strip() or None
        if required_scope is not None and not _SCOPE.fullmatch(required_scope):
            raise ConfigError(f"AUTH_REQUIRED_SCOPE must be one OAuth scope (no spaces), got {required_scope!r}")
        token_ttl = (env.get("LOCAL_TOKEN_TTL") or "").strip()  # judged only when set: cold starts never are
        if token_ttl and (not re.fullmatch(r"[0-9]{1,9}", token_ttl) or int(token_ttl) == 0):
            raise ConfigError(f"LOCAL_TOKEN_TTL must be a positive whole number of seconds, got {token_ttl!r}")
        stream_url = (env.get("ASSISTANT_STREAM_URL") or "").strip().rstrip("/") or None
        if stream_url is not None and not _HTTP_URL.fullmatch(stream_url):
            raise ConfigError(f"ASSISTANT_STREAM_URL must be an http(s) origin (https://host), got {stream_url!r}")
        log_format = _choice(env, "LOG_FORMAT", "text" if stage == "local" else "json", ("json", "text"))
        log_level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
        if log_level not in _LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}")
        in_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
        observability = _choice(env, "OBSERVABILITY", "on", ("on", "off")) == "on"
        metrics = _choice(env, "METRICS", "emf" if in_lambda else "off", ("emf", "off"))
        namespace = (env.get("METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE).strip()
        if not _NAMESPACE.fullmatch(namespace) or namespace.upper().startswith("AWS/"):
            raise ConfigError(
                f"METRICS_NAMESPACE must be 1-255 of [A-Za-z0-9._/#: -] and not AWS/..., got {namespace!r}"
            )
        xray_daemon = env.get("AWS_XRAY_DAEMON_ADDRESS") or None
        # Lambda sets both variables for traced functions (the trace header per invocation; Settings
        # are built during the first one). TRACING=off skips the SDK even then.
        tracing = (
            _choice(env, "TRACING", "auto", ("auto", "off")) == "auto"
            and in_lambda
            and xray_daemon is not None
            and bool(env.get("_X_AMZN_TRACE_ID"))
        )
        max_age = (env.get("CORS_MAX_AGE") or str(DEFAULT_CORS_MAX_AGE)).strip()
        if not max_age.isdigit():
            raise ConfigError(f"CORS_MAX_AGE must be a whole number of seconds, got {max_age!r}")
        cors_max_age = int(max_age)
        offline_delay = (env.get("ASSISTANT_OFFLINE_DELAY_MS") or "0").strip()
        if not offline_delay.isdigit() or int(offline_delay) > MAX_OFFLINE_DELAY_MS:
            raise ConfigError(
                f"ASSISTANT_OFFLINE_DELAY_MS must be a whole number of milliseconds, 0-{MAX_OFFLINE_DELAY_MS}, "
                f"got {offline_delay!r}"
            )
        secret = env.get("CURSOR_SECRET") or ""
        # Without a configured secret the cursor key is derived from the deployment's identity:
        # cursors stay tamper-evident and bound to caller and filter, but a determined caller
        # could forge one for their own partition (which exposes nothing). Set CURSOR_SECRET in
        # production to make them unforgeable.
        fault_rate, fault_routes, fault_kind, fault_latency_ms, fault_in_prod = _faults(env, stage)
        cursor_key = (secret or f"cursor|{stage}|{issuer}|{table_name or ''}").encode()
        parameters = {
            "REGION_SWITCH_PARAMETER": (env.get("REGION_SWITCH_PARAMETER") or "").strip() or None,
            "SLACK_SIGNING_SECRET_PARAMETER": (env.get("SLACK_SIGNING_SECRET_PARAMETER") or "").strip() or None,
        }
        for name, value in parameters.items():
            if value is not None and not _SSM_NAME.fullmatch(value):
                raise ConfigError(f"{name} must be an SSM parameter name (/path/name), got {value!r}")
        webhook_parameter = (env.get("SLACK_WEBHOOK_PARAMETER") or "").strip() or None
        if webhook_parameter is not None and not _SSM_NAME.fullmatch(webhook_parameter):
            raise ConfigError(f"SLACK_WEBHOOK_PARAMETER must be an SSM parameter name, got {webhook_parameter!r}")
        aws_region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        regions = _regions(env.get("REGIONS"), aws_region)
        dashboard = (env.get("DASHBOARD_NAME") or "").strip() or None
        if dashboard is not None and not _DASHBOARD.fullmatch(dashboard):
            raise ConfigError(f"DASHBOARD_NAME must be 1-255 of [A-Za-z0-9_-], got {dashboard!r}")
        return cls(
            stage=stage,
            data_dir=data_dir,
            store=store,
            sqlite_path=env.get("SQLITE_PATH") or os.path.join(data_dir, "app.db"),
            table_name=table_name,
            dynamodb_endpoint_url=env.get("DYNAMODB_ENDPOINT_URL") or None,
            dynamodb_transport=_choice(env, "DYNAMODB_TRANSPORT", "lean", DYNAMODB_TRANSPORTS),
            table_consistency=_choice(env, "TABLE_CONSISTENCY", "eventual", TABLE_CONSISTENCIES),
            aws_region=aws_region,
            queue=queue,
            activity_queue_url=queue_url,
            auth_issuer=issuer,
            auth_client_ids=client_ids,
            auth_jwks_url=env.get("AUTH_JWKS_URL") or default_jwks,
            auth_is_local=auth_is_local,
            auth_required_scope=required_scope,
            local_token_ttl=int(token_ttl) if token_ttl else DEFAULT_LOCAL_TOKEN_TTL,
            assistant_provider=_choice(env, "ASSISTANT_PROVIDER", "offline", ("offline", "bedrock", "off")),
            bedrock_model_id=env.get("BEDROCK_MODEL_ID") or DEFAULT_BEDROCK_MODEL_ID,
            cors_allow_origins=_csv(env.get("CORS_ALLOW_ORIGINS")),
            cors_allow_headers=_csv(env.get("CORS_ALLOW_HEADERS")) or DEFAULT_CORS_ALLOW_HEADERS,
            cors_max_age=cors_max_age,
            assistant_stream_url=stream_url,
            assistant_offline_delay_ms=int(offline_delay),
            log_level=log_level,
            log_format=log_format,
            observability=observability,
            metrics=metrics if observability else "off",
            metrics_namespace=namespace,
            tracing=tracing and observability,
            xray_daemon_address=xray_daemon,
            cursor_secret=cursor_key,
            slack_webhook_parameter=webhook_parameter,
            dashboard_name=dashboard,
            in_lambda=in_lambda,
            fault_rate=fault_rate,
            fault_routes=fault_routes,
            fault_kind=fault_kind,
            fault_latency_ms=fault_latency_ms,
            fault_injection_in_prod=fault_in_prod,
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
            region_switch_parameter=parameters["REGION_SWITCH_PARAMETER"],
            region_switch_cache_seconds=_switch_cache(env.get("REGION_SWITCH_CACHE_SECONDS")),
            slack_signing_secret_parameter=parameters["SLACK_SIGNING_SECRET_PARAMETER"],
            slack_allowed_users=_csv(env.get("SLACK_ALLOWED_USERS")),
            slack_allowed_channels=_csv(env.get("SLACK_ALLOWED_CHANNELS")),
            alarm_name_prefix=(env.get("ALARM_NAME_PREFIX") or "").strip() or None,
            regions=regions,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def _switch_cache(value: str | None) -> float | None:
    """REGION_SWITCH_CACHE_SECONDS: 0 to 300 seconds (0: read on every request); unset: the default."""
    text = (value or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3})?", text) or float(text) > 300:
        raise ConfigError(f"REGION_SWITCH_CACHE_SECONDS must be 0 to 300 seconds, got {text!r}")
    return float(text)
