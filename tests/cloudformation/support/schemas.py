"""The CloudFormation resource schemas cfn-lint ships (in .venv-stack): which property of a resource type
holds its tags, and in which shape, read from the schema rather than from a list of our own; and the
template walks that use them (what is left untagged) or stand beside them (exports and imports)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cloudformation.support.stack import PROJECT

LIST = "list"
MAP = "map"


@functools.cache
def _schemas_dir() -> Path:
    found = sorted(PROJECT.glob(".venv-stack/lib/python*/site-packages/cfnlint/data/schemas"))
    if not found:
        pytest.fail("cfn-lint's schemas are missing: `make test` installs the stack tools (.venv-stack)")
    return found[-1]


@functools.cache
def _providers() -> dict[str, str]:
    # The region's CloudFormation types and SAM's, each naming its schema file under resources/.
    directory = _schemas_dir() / "providers"
    return {
        **json.loads((directory / "us-east-1.json").read_text(encoding="utf-8")),
        **json.loads((directory / "sam.json").read_text(encoding="utf-8")),
    }


@functools.cache
def schema(kind: str) -> dict[str, Any]:
    name = _providers().get(kind)
    if name is None:
        raise KeyError(f"cfn-lint has no schema for {kind}")
    return json.loads((_schemas_dir() / "resources" / f"{name}.json").read_text(encoding="utf-8"))


def tagging(kind: str) -> tuple[str, str] | None:
    """(the property holding ``kind``'s tags, LIST or MAP), or None when the type takes no tags."""
    document = schema(kind)
    marker = document.get("tagging")
    properties = document.get("properties", {})
    if marker is not None:
        if not marker.get("taggable", True) or "tagProperty" not in marker:
            return None
        name = marker["tagProperty"].rsplit("/", 1)[-1]
    elif "Tags" in properties:  # SAM's schemas say nothing of tagging; their Tags is a map
        name = "Tags"
    else:
        return None
    node = properties[name]
    while "type" not in node and "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    kind_of = node.get("type")
    if kind_of == "array":
        return name, LIST
    if kind_of == "object":
        return name, MAP
    raise ValueError(f"{kind}.{name}: tags of type {kind_of!r}")


def tags_of(resource: dict[str, Any]) -> dict[str, Any]:
    """The tags a resource carries, as a map, read where and how its schema says."""
    found = tagging(resource["Type"])
    if found is None:
        return {}
    name, shape = found
    value = resource.get("Properties", {}).get(name)
    if value is None:
        return {}
    return dict(value) if shape == MAP else {t["Key"]: t["Value"] for t in value}


def untagged(template: dict, expected: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """Every resource whose type takes tags (by its schema) but lacks one of ``expected``."""
    missing = []
    for name, resource in template["Resources"].items():
        if tagging(resource["Type"]) is None:
            continue
        carried = tags_of(resource)
        if any(carried.get(key) != value for key, value in expected.items()):
            missing.append((name, resource["Type"], carried))
    return missing


def exports_and_imports(template: dict) -> list[str]:
    """Where ``template`` exports an output or imports another stack's: an empty list when it does neither."""
    found = [f"Outputs.{name}.Export" for name, output in template.get("Outputs", {}).items() if "Export" in output]

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Fn::ImportValue":
                    found.append(where)
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, f"{where}[{n}]")

    walk(template, "")
    return found
