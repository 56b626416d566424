"""The wire schemas: one declaration validates request bodies, generates openapi.json, and turns a valid
body into the domain's values (the services never see a schema).

msgspec was chosen over pydantic for cold start (docs/DESIGN.md, "Choices"), and this module loads it: import
it lazily, on the first route that validates (never on GET /health or a read route). Bodies are validated field
by field so a response names every bad field, not only the first.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated
from typing import Any
from typing import TypeVar
from typing import get_type_hints

import msgspec
from msgspec import UNSET
from msgspec import Meta
from msgspec import UnsetType

from chalicelib import vocabulary
from chalicelib.errors import ValidationFailed
from chalicelib.tasks.activity import COUNTERS
from chalicelib.tasks.items import NewItem
from chalicelib.vocabulary import EVENT_TYPES
from chalicelib.vocabulary import MAX_PROMPT_CHARS
from chalicelib.vocabulary import PROMPT_RULE
from chalicelib.vocabulary import STATUSES

Status = Annotated[vocabulary.Status, Meta(description="one of " + ", ".join(STATUSES))]

Title = Annotated[str, Meta(min_length=1, max_length=200, description="1-200 characters after trimming")]
Notes = Annotated[str, Meta(max_length=4000, description="at most 4000 characters")]
Tag = Annotated[str, Meta(pattern="^[a-z0-9-]{1,32}$", description="1-32 characters of [a-z0-9-]")]
Tags = Annotated[list[Tag], Meta(max_length=10, description="at most 10 distinct tags, order kept")]
Due = Annotated[_dt.date | None, Meta(description="a calendar date YYYY-MM-DD, or null")]
DisplayName = Annotated[str, Meta(min_length=1, max_length=100, description="1-100 characters after trimming")]
Timestamp = Annotated[str, Meta(description="RFC 3339 UTC timestamp")]
Prompt = Annotated[str, Meta(min_length=1, max_length=MAX_PROMPT_CHARS, description=PROMPT_RULE)]


# A body's defaults are the domain's: an item created through the API is the one the service makes.
_NEW_ITEM_DEFAULTS = NewItem._field_defaults


class ItemCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Title
    notes: Notes = _NEW_ITEM_DEFAULTS["notes"]
    status: Status = _NEW_ITEM_DEFAULTS["status"]
    due: Due = _NEW_ITEM_DEFAULTS["due"]
    tags: Tags = []  # NewItem's empty tuple, as the list JSON has


class ItemPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Title | UnsetType = UNSET
    notes: Notes | UnsetType = UNSET
    status: Status | UnsetType = UNSET
    due: Due | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    display_name: DisplayName


class AssistantPrompt(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    prompt: Prompt


class Item(msgspec.Struct, kw_only=True):
    id: str
    title: str
    notes: str
    status: Status
    due: str | None
    tags: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    version: int


class ItemPage(msgspec.Struct, kw_only=True):
    items: list[Item]
    next_cursor: str | None


class Profile(msgspec.Struct, kw_only=True):
    sub: str
    username: str
    email: str | None
    display_name: str
    created_at: Timestamp
    last_seen_at: Timestamp


EventType = Annotated[
    str, Meta(description="one of " + ", ".join(EVENT_TYPES), extra_json_schema={"enum": list(EVENT_TYPES)})
]


class ActivityEvent(msgspec.Struct, kw_only=True):
    id: str
    type: EventType
    item_id: Annotated[str | None, Meta(description="the item changed; null for a sign-in")]
    at: Annotated[str, Meta(description="RFC 3339 UTC timestamp of the change (not of its processing)")]


class ActivityPage(msgspec.Struct, kw_only=True):
    events: list[ActivityEvent]
    next_cursor: str | None


# GET /stats: every counter the STATS record keeps, named once (tasks/activity.py), and when one last moved.
Stats = msgspec.defstruct(
    "Stats",
    [*((name, int) for name in COUNTERS), ("updated_at", Timestamp | None)],
    kw_only=True,
)


class Health(msgspec.Struct, kw_only=True):
    status: str
    version: str
    stage: str


class AssistantUsage(msgspec.Struct, kw_only=True):
    input_tokens: int
    output_tokens: int


class AssistantAnswer(msgspec.Struct, kw_only=True):
    text: str
    provider: str
    model: str
    usage: AssistantUsage


class FieldError(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    type: str
    title: str
    status: int
    code: str
    detail: str
    request_id: str
    errors: list[FieldError] | UnsetType = UNSET


# Fields the server owns: naming them in a body is a 400, as for any unknown field.
READ_ONLY_FIELDS = frozenset({"id", "version", "created_at", "updated_at", "sub", "username", "email", "last_seen_at"})
_TRIMMED = frozenset({"title", "display_name", "prompt"})


def _field_types(struct: type[msgspec.Struct]) -> dict[str, tuple[Any, str]]:
    hints = get_type_hints(struct, include_extras=True)
    return {name: (hints[name], _description(hints[name]) or "") for name in struct.__struct_fields__}


def _description(tp: Any) -> str | None:
    for arg in getattr(tp, "__metadata__", ()):
        if isinstance(arg, Meta) and arg.description:
            return arg.description
    for arg in getattr(tp, "__args__", ()):
        found = _description(arg)
        if found:
            return found
    return None


_FIELD_CACHE: dict[type, dict[str, tuple[Any, str]]] = {}


S = TypeVar("S", bound=msgspec.Struct)


def validate(struct: type[S], data: Any, *, require_any: bool = False) -> S:
    """Convert a parsed JSON body to ``struct``, reporting every bad field at once."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            "body: must be a JSON object", errors=[{"field": "body", "message": "must be a JSON object"}]
        )
    fields = _FIELD_CACHE.get(struct)
    if fields is None:
        fields = _FIELD_CACHE[struct] = _field_types(struct)
    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in fields:
            message = "is read-only" if name in READ_ONLY_FIELDS else "is not a known field"
            errors.append({"field": str(name), "message": message})
            continue
        tp, description = fields[name]
        if name in _TRIMMED and isinstance(value, str):
            value = value.strip()
        try:
            values[name] = msgspec.convert(value, tp)
        except msgspec.ValidationError:
            errors.append({"field": name, "message": f"must be {description}" if description else "has the wrong type"})
            continue
        if name == "tags" and len(set(values[name])) != len(values[name]):
            errors.append({"field": name, "message": "must not repeat a tag"})
    errors.extend({"field": n, "message": "is required"} for n in _required(struct) if n not in data)
    if require_any and not data and not errors:
        errors.append({"field": "body", "message": "must name at least one field"})
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(detail, errors=errors)
    return struct(**values)


def new_item(body: ItemCreate) -> NewItem:
    """The domain's value for a validated create body."""
    return NewItem(body.title, body.notes, body.status, body.due, tuple(body.tags))


def given_fields(body: msgspec.Struct) -> dict[str, Any]:
    """The fields a validated body named, with their values (a PATCH changes only these)."""
    return {name: value for name, value in msgspec.structs.asdict(body).items() if value is not UNSET}


def _required(struct: type[msgspec.Struct]) -> tuple[str, ...]:
    defaults = struct.__struct_defaults__
    names = struct.__struct_fields__
    return names[: len(names) - len(defaults)]


def json_schema_components() -> tuple[dict[str, Any], dict[str, Any]]:
    """(schemas by name, components) for openapi.json, from the same structs that validate."""
    structs = (
        ItemCreate,
        ItemPatch,
        ProfilePatch,
        AssistantPrompt,
        Item,
        ItemPage,
        Profile,
        Stats,
        ActivityPage,
        AssistantAnswer,
        Health,
        Problem,
    )
    refs, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    # What validate(require_any=True) enforces beyond the struct: a PATCH names at least one field.
    components["ItemPatch"]["minProperties"] = 1
    return dict(zip((s.__name__ for s in structs), refs)), components
