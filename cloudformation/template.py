"""Small helpers the transforms share: reading and writing templates, finding functions, and adding
parameters, conditions and resources without surprises (a name clash is an error, not an overwrite)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import yaml

Template = dict[str, Any]

FUNCTION = "AWS::Serverless::Function"
API = "AWS::Serverless::Api"
HTTP_API = "AWS::ApiGatewayV2::Api"
API_FUNCTION = "APIHandler"  # the logical id chalice package gives the function behind the API
NO_VALUE = {"Ref": "AWS::NoValue"}
LAMBDA_DEFAULT_TIMEOUT = 3  # seconds, when a function names none (Lambda's own default)


# libyaml's safe parser where PyYAML has it (its wheels do): the same documents, parsed several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Template:
    # Chalice writes the long form of intrinsics (Fn::Sub:, Ref:), so plain YAML (or JSON) suffices.
    return yaml.load(text, Loader=_LOADER)  # a safe loader: SafeLoader or its C twin


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # anchors and aliases would make the template harder to read and diff


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(template: Template) -> str:
    return yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def clone(template: Template) -> Template:
    """Every transform starts here: its input is never mutated."""
    return copy.deepcopy(template)


def resources(template: Template) -> dict[str, Any]:
    return template.setdefault("Resources", {})


def functions(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in resources(template).items():
        if resource.get("Type") == FUNCTION:
            yield name, resource


def the_api(template: Template) -> tuple[str, dict[str, Any]]:
    apis = [(n, r) for n, r in resources(template).items() if r.get("Type") == API]
    if len(apis) != 1:
        raise ValueError(f"expected one {API}, found {len(apis)}")
    return apis[0]


def http_api(template: Template) -> str | None:
    """The name of the template's HTTP API (the HTTP flavour), or None (the REST flavour)."""
    names = [n for n, r in resources(template).items() if r.get("Type") == HTTP_API]
    if len(names) > 1:
        raise ValueError(f"expected at most one {HTTP_API}, found {len(names)}")
    return names[0] if names else None


def add(template: Template, section: str, name: str, value: Any) -> None:
    entries = template.setdefault(section, {})
    if name in entries and entries[name] != value:
        raise ValueError(f"{section} {name} already exists with a different definition")
    entries[name] = value


def add_parameter(template: Template, name: str, **definition: Any) -> None:
    add(template, "Parameters", name, definition)


def add_parameters(template: Template, parameters: dict[str, dict[str, Any]]) -> None:
    """Each parameter of ``parameters`` (name -> definition), in its order."""
    for name, definition in parameters.items():
        add_parameter(template, name, **definition)


def string_parameter(description: str, default: str = "", **constraints: Any) -> dict[str, Any]:
    """A String parameter's definition (keys in the order the template lists them)."""
    return {"Type": "String", "Default": default, **constraints, "Description": description}


def number_parameter(description: str, default: int, **constraints: Any) -> dict[str, Any]:
    """A Number parameter's definition (keys in the order the template lists them)."""
    return {"Type": "Number", "Default": default, **constraints, "Description": description}


def add_condition(template: Template, name: str, condition: Any) -> None:
    add(template, "Conditions", name, condition)


def add_resource(template: Template, name: str, resource: dict[str, Any]) -> None:
    if name in resources(template):
        raise ValueError(f"resource {name} already exists")
    resources(template)[name] = resource


def add_output(template: Template, name: str, value: Any, condition: str | None = None) -> None:
    output: dict[str, Any] = {"Value": value}
    if condition:
        output["Condition"] = condition
    add(template, "Outputs", name, output)


def timeout(function: dict[str, Any]) -> int:
    """The function's timeout in seconds, as Lambda will apply it."""
    return int(function.get("Properties", {}).get("Timeout", LAMBDA_DEFAULT_TIMEOUT))


def environment(function: dict[str, Any]) -> dict[str, Any]:
    props = function.setdefault("Properties", {})
    return props.setdefault("Environment", {}).setdefault("Variables", {})


def checkov_skip(resource: dict[str, Any], check_id: str, why: str) -> None:
    """Record a justified checkov skip on the resource itself, where a reviewer reads it."""
    skips = resource.setdefault("Metadata", {}).setdefault("checkov", {}).setdefault("skip", [])
    skips.append({"id": check_id, "comment": why})


def with_condition(resource: dict[str, Any], condition: str | None) -> dict[str, Any]:
    if condition:
        resource["Condition"] = condition
    return resource
