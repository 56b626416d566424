"""The CloudWatch Embedded Metric Format specification as a checker: the JSON schema the specification
publishes (transcribed below) plus the rules it states in prose (targets at the root, string dimension
values of at most 1024 characters, numeric metric values, at most 100 values / metrics / 30 dimensions).

Source: "Specification: Embedded metric format", Amazon CloudWatch User Guide.
"""

from __future__ import annotations

import re
from typing import Any

UNITS = (
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
)

_STRING = {"type": "string", "minLength": 1}
# The specification's JSON schema, transcribed (ids and titles dropped).
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer"},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": {**_STRING, "maxLength": 1024, "pattern": "^(.*)$"},
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "array",
                                    "minItems": 0,
                                    "maxItems": 30,
                                    "items": {**_STRING, "maxLength": 250, "pattern": "^(.*)$"},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "properties": {
                                        "Name": {**_STRING, "maxLength": 1024, "pattern": "^(.*)$"},
                                        "Unit": {
                                            "type": "string",
                                            "pattern": "^(" + "|".join(re.escape(u) for u in UNITS) + ")$",
                                        },
                                        "StorageResolution": {"type": "integer"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "integer": int}


def _schema_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    expected = _TYPES[schema["type"]]
    if not isinstance(value, expected) or (schema["type"] == "integer" and isinstance(value, bool)):
        return [f"{path}: expected {schema['type']}, got {type(value).__name__}"]
    errors: list[str] = []
    if isinstance(value, dict):
        errors += [f"{path}: missing {name}" for name in schema.get("required", ()) if name not in value]
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors += _schema_errors(value[name], sub, f"{path}.{name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items")
        for n, item in enumerate(value):
            errors += _schema_errors(item, schema["items"], f"{path}[{n}]")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{path}: length {len(value)}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    return errors


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def problems(document: Any) -> list[str]:
    """Every way ``document`` breaks the specification (empty when it is valid EMF)."""
    errors = _schema_errors(document, SCHEMA, "$")
    if errors:
        return errors
    for d, directive in enumerate(document["_aws"]["CloudWatchMetrics"]):
        where = f"$._aws.CloudWatchMetrics[{d}]"
        if len(directive["Metrics"]) > 100:
            errors.append(f"{where}: more than 100 metrics")
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                value = document.get(name)
                if not isinstance(value, str) or len(value) > 1024:
                    errors.append(f"{where}: dimension {name!r} needs a root string of <= 1024 chars, got {value!r}")
        for metric in directive["Metrics"]:
            value = document.get(metric["Name"])
            if isinstance(value, list):
                if not value or len(value) > 100 or not all(_number(v) for v in value):
                    errors.append(f"{where}: metric {metric['Name']!r} has a bad value array {value!r}")
            elif not _number(value):
                errors.append(f"{where}: metric {metric['Name']!r} needs a numeric root value, got {value!r}")
    return errors
