"""The alias ``live``, provisioned and reserved concurrency (cloudformation/transforms/concurrency.py), read
from the built templates of both flavours (the fixture app's end-to-end goldens' input, built now) with the
parameters resolved, and from what the SAM translator makes of them: with provisioned concurrency on, every
API Gateway integration, invoke permission and the function URL name the alias; off, the function as before."""

from __future__ import annotations

import copy
import json
import re
import time

import pytest

from cloudformation.build import build
from cloudformation.build import steps
from cloudformation.template import dump
from cloudformation.template import functions
from cloudformation.template import resources
from cloudformation.transforms import concurrency
from cloudformation.transforms.concurrency import ALIAS
from cloudformation.transforms.concurrency import ALIASED
from cloudformation.transforms.queues import consumers
from cloudformation.transforms.streaming import FUNCTION as STREAM_FUNCTION
from tests.cloudformation.support.expected import GOLDEN_INPUT
from tests.cloudformation.support.expected import read
from tests.cloudformation.support.resolve import resolve
from tests.cloudformation.support.stack import sam_translate

FLAVOURS = ("rest", "http")
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64


@pytest.fixture(scope="module")
def templates() -> dict[str, dict]:
    return {flavour: build(read(GOLDEN_INPUT), flavour) for flavour in FLAVOURS}


def _resolved(template: dict, **overrides: str) -> dict:
    out = resolve(template, overrides)
    out.pop("ResolvedParameters")
    return out


def _target(value: object) -> str:
    """The function a caller names, as ``<Function>`` or ``<Function>.Alias``."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    raise AssertionError(f"not a function reference: {value!r}")


def _permissions(template: dict) -> dict[str, str]:
    """Every invoke permission of the API or the streaming function -> the function (or alias) it names."""
    return {
        name: _target(resource["Properties"]["FunctionName"])
        for name, resource in resources(template).items()
        if resource["Type"] == concurrency.PERMISSION
        and _target(resource["Properties"]["FunctionName"]).removesuffix(".Alias") in ALIASED
    }


def _callers(template: dict) -> dict[str, str]:
    """Every integration (and the function URL) of the built template -> the function (or alias) it names."""
    found = {}
    for name, resource in resources(template).items():
        props = resource.get("Properties", {})
        if resource["Type"] in CALLERS_BY_TYPE:
            found[name] = _target(props[CALLERS_BY_TYPE[resource["Type"]]])
        for path, methods in props.get("DefinitionBody", {}).get("paths", {}).items():
            for method, operation in methods.items():
                integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                if integration:
                    text, variables = integration["uri"]["Fn::Sub"]
                    assert "${" + concurrency.TARGET + "}" in text
                    found[f"{name} {method} {path}"] = _target(variables[concurrency.TARGET])
    return found


CALLERS_BY_TYPE = {kind: key for key, kind in concurrency.CALLERS}


# --- the built template ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_api_and_streaming_functions_publish_the_alias_live_and_no_other_function_does(templates, flavour):
    aliased = {name for name, function in functions(templates[flavour]) if "AutoPublishAlias" in function["Properties"]}
    assert aliased == set(ALIASED)
    for name in ALIASED:
        props = dict(functions(templates[flavour]))[name]["Properties"]
        assert props["AutoPublishAlias"] == ALIAS
        assert props["AutoPublishAliasAllProperties"] is True
        assert props["AutoPublishCodeSha256"] == {"Ref": "FunctionVersionHash"}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_provisioned_concurrency_is_off_by_default_and_on_both_aliases_when_set(templates, flavour):
    off = dict(functions(_resolved(templates[flavour])))
    on = dict(functions(_resolved(templates[flavour], ProvisionedConcurrency="3")))
    for name in ALIASED:
        assert "ProvisionedConcurrencyConfig" not in off[name]["Properties"]
        assert on[name]["Properties"]["ProvisionedConcurrencyConfig"] == {
            "ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}
        }


# The resources that invoke the API or the streaming function from outside the stack, by flavour (the REST
# flavour's are its swagger's integrations), and the permissions that let them.
CALLERS = {"rest": set(), "http": {"HttpApiIntegration", "AssistantStreamFunctionUrl"}}
PERMISSIONS = {
    "rest": {"APIHandlerInvokePermission", "AssistantStreamHandlerInvokePermission"},
    "http": {
        "APIHandlerHttpApiInvokePermission",
        "AssistantStreamFunctionUrlPermission",
        "AssistantStreamFunctionUrlInvokePermission",
    },
}
TWIN = f"Alias{ALIAS.capitalize()}"


def _assert_both_granted(template: dict, flavour: str) -> None:
    """Each invoke permission names the function, and its twin the alias, whatever ProvisionedConcurrency says:
    switching it replaces no permission (a REST stage still serving its previous deployment is never refused)."""
    permissions = _permissions(template)
    assert set(permissions) == PERMISSIONS[flavour] | {name + TWIN for name in PERMISSIONS[flavour]}
    for name in PERMISSIONS[flavour]:
        assert permissions[name + TWIN] == permissions[name] + ".Alias", name


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_with_provisioned_concurrency_every_integration_permission_and_the_url_name_the_alias(templates, flavour):
    on = _resolved(templates[flavour], ProvisionedConcurrency="1")
    callers = _callers(on)
    swagger = {name: target for name, target in callers.items() if " " in name}
    others = {name: target for name, target in callers.items() if " " not in name}
    assert set(others) == CALLERS[flavour]
    assert not [name for name, target in callers.items() if not target.endswith(".Alias")]
    assert set(callers.values()) == {f"{name}.Alias" for name in ALIASED}
    _assert_both_granted(on, flavour)
    if flavour == "rest":  # every route, the stream's and the catch-all copies included
        assert len(swagger) > 2
        assert swagger["RestAPI post /assistant/stream"] == f"{STREAM_FUNCTION}.Alias"
    else:
        assert not swagger


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_real_apps_every_route_and_permission_invokes_the_alias_with_provisioned_concurrency(stacks, flavour):
    on = _callers(_resolved(stacks[flavour], ProvisionedConcurrency="1"))
    off = _callers(_resolved(stacks[flavour]))
    assert {name for name in on if " " not in name} == CALLERS[flavour]
    for provisioned in ("0", "1"):
        _assert_both_granted(_resolved(stacks[flavour], ProvisionedConcurrency=provisioned), flavour)
    assert set(on.values()) == {f"{name}.Alias" for name in ALIASED}
    assert set(off.values()) == set(ALIASED)
    if flavour == "rest":  # one integration per method of every route the app declares, and the catch-alls
        assert len([name for name in on if " " in name]) > 10


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_without_provisioned_concurrency_they_name_the_function_as_before(templates, flavour):
    callers = _callers(_resolved(templates[flavour]))
    named = {target for target in callers.values() if target.split(".")[0] in ALIASED}
    assert named == set(ALIASED)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_reserved_cap_is_off_by_default_and_caps_its_functions_when_set(templates, flavour):
    template = templates[flavour]
    caps = {"ApiReservedConcurrency": "7", "ConsumerReservedConcurrency": "4"}
    if flavour == "rest":
        caps["StreamingReservedConcurrency"] = "9"
    off = dict(functions(_resolved(template)))
    on = dict(functions(_resolved(template, **caps)))
    capped = {
        "APIHandler": "ApiReservedConcurrency",
        **dict.fromkeys(consumers(template), "ConsumerReservedConcurrency"),
    }
    assert len(capped) == 3  # the API function and the fixture app's two SQS consumers
    if flavour == "rest":
        capped[STREAM_FUNCTION] = "StreamingReservedConcurrency"
    for name, parameter in capped.items():
        assert "ReservedConcurrentExecutions" not in off[name]["Properties"]
        assert on[name]["Properties"]["ReservedConcurrentExecutions"] == {"Ref": parameter}
    for name in consumers(template):
        (event,) = on[name]["Properties"]["Events"].values()
        assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ConsumerReservedConcurrency"}}
        (event,) = off[name]["Properties"]["Events"].values()
        assert "ScalingConfig" not in event["Properties"]
    uncapped = set(off) - set(capped) - ({STREAM_FUNCTION} if flavour == "http" else set())
    assert not [name for name in uncapped if "ReservedConcurrentExecutions" in on[name]["Properties"]]


def test_the_http_flavour_keeps_the_function_urls_cap_on_the_stream(templates):
    template = templates["http"]
    assert "StreamingReservedConcurrency" not in template["Parameters"]
    stream = dict(functions(template))[STREAM_FUNCTION]["Properties"]
    assert stream["ReservedConcurrentExecutions"] == {"Ref": "AssistantStreamConcurrency"}


def _holds(assertion: dict, values: dict[str, str]) -> bool:
    """A rule's assertion for these parameter values (the rule functions the template uses)."""
    ((key, arg),) = assertion.items()
    if key == "Fn::Not":
        return not _holds(arg[0], values)
    if key == "Fn::Contains":
        return values[arg[1]["Ref"]] in arg[0]
    raise AssertionError(f"unexpected rule function {key}")


@pytest.mark.parametrize(
    ("parameter", "refused", "allowed"),
    [
        ("ApiReservedConcurrency", ["0"], ["-1", "1", "50"]),
        ("StreamingReservedConcurrency", ["0"], ["-1", "1", "20"]),
        ("ConsumerReservedConcurrency", ["0", "1"], ["-1", "2", "5"]),
    ],
)
def test_the_rules_refuse_a_cap_that_stops_a_function_or_that_its_queue_mapping_cannot_take(
    templates, parameter, refused, allowed
):
    (assertion,) = templates["rest"]["Rules"][f"{parameter}Allowed"]["Assertions"]
    for value in refused:
        assert not _holds(assertion["Assert"], {parameter: value})
    for value in allowed:
        assert _holds(assertion["Assert"], {parameter: value})


def test_the_transform_refuses_an_integration_it_cannot_point_at_the_alias():
    template = read(GOLDEN_INPUT)
    for step in steps("rest"):
        if step is concurrency.transform:
            break
        template = step(template)
    api = resources(template)["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    operation = next(iter(next(iter(api.values())).values()))
    operation["x-amazon-apigateway-integration"]["uri"] = {
        "Fn::Sub": ["arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/functions/${APIHandler.Arn}/x", {}]
    }
    with pytest.raises(ValueError, match=r"^RestAPI invoke APIHandler unqualified"):
        concurrency.transform(template)


# --- what the SAM translator makes of it -----------------------------------------------------------------


def _translate(template: dict, tmp_path, name: str, **overrides: str) -> dict:
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump(_resolved(template, **overrides)), encoding="utf-8")
    return sam_translate(path, {"ImageDigest": DIGEST, **overrides})["Resources"]


def _of_type(translated: dict, kind: str) -> dict[str, dict]:
    return {name: resource for name, resource in translated.items() if resource["Type"] == kind}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_translated_stack_invokes_only_the_alias_with_its_provisioned_concurrency(templates, tmp_path, flavour):
    translated = _translate(templates[flavour], tmp_path, flavour, ProvisionedConcurrency="2")
    aliases = _of_type(translated, "AWS::Lambda::Alias")
    assert set(aliases) == {f"{name}Alias{ALIAS}" for name in ALIASED}
    for name, resource in aliases.items():
        props = resource["Properties"]
        assert props["Name"] == ALIAS
        assert props["FunctionName"] == {"Ref": name.removesuffix(f"Alias{ALIAS}")}
        assert props["ProvisionedConcurrencyConfig"] == {
            "ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}
        }
        assert props["FunctionVersion"]["Fn::GetAtt"][0] in _of_type(translated, "AWS::Lambda::Version")
    callers = {
        name: resource["Properties"][CALLERS_BY_TYPE[resource["Type"]]]
        for name, resource in translated.items()
        if resource["Type"] in CALLERS_BY_TYPE and any(f in json.dumps(resource["Properties"]) for f in ALIASED)
    }
    assert set(callers) == CALLERS[flavour]
    assert all(target in [{"Ref": name} for name in aliases] for target in callers.values())
    permissions = {n: r["Properties"]["FunctionName"] for n, r in _of_type(translated, concurrency.PERMISSION).items()}
    for name in PERMISSIONS[flavour]:  # the function's own stays granted beside the alias's
        assert permissions[name + TWIN] == {"Ref": f"{permissions[name]['Ref']}Alias{ALIAS}"}, name
    if flavour == "rest":
        body = json.dumps(translated["RestAPI"]["Properties"]["Body"])
        targets = re.findall(r'"' + concurrency.TARGET + r'": (\{[^}]*\})', body)
        assert targets and {json.loads(t)["Ref"] for t in targets} == set(aliases)
        assert "${APIHandler.Arn}" not in body and "${AssistantStreamHandler.Arn}" not in body
    else:
        (url,) = _of_type(translated, "AWS::Lambda::Url").values()
        assert url["Properties"]["TargetFunctionArn"] == {"Ref": f"{STREAM_FUNCTION}Alias{ALIAS}"}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_translated_stack_without_provisioned_concurrency_keeps_an_alias_nothing_invokes(
    templates, tmp_path, flavour
):
    translated = _translate(templates[flavour], tmp_path, flavour)
    aliases = _of_type(translated, "AWS::Lambda::Alias")
    assert len(aliases) == 2
    assert not [a for a in aliases.values() if "ProvisionedConcurrencyConfig" in a["Properties"]]
    invoking = {
        name
        for name, resource in translated.items()
        for alias in aliases
        if f'"Ref": "{alias}"' in json.dumps(resource.get("Properties", {}))
    }
    # Only the permissions' twins name it, ready for the switch.
    assert invoking == {name + TWIN for name in PERMISSIONS[flavour]}


def test_the_rest_api_deploys_its_stage_again_on_every_stack_update(templates, tmp_path):
    # SAM names a deployment by the definition's text, where the alias switch is one Fn::If either way: without a
    # new deployment per update, switching ProvisionedConcurrency would leave the stage invoking the other target.
    assert resources(templates["rest"])["RestAPI"]["Properties"]["AlwaysDeploy"] is True

    def deployment(template: dict, name: str) -> str:
        (found,) = _of_type(_translate(template, tmp_path, name), "AWS::ApiGateway::Deployment")
        return found

    first = deployment(templates["rest"], "first")
    time.sleep(1.05 - time.time() % 1)  # SAM names an always-deployed one by the second it translated in
    assert deployment(templates["rest"], "update") != first
    once = copy.deepcopy(templates["rest"])
    del resources(once)["RestAPI"]["Properties"]["AlwaysDeploy"]
    assert deployment(once, "once") == deployment(once, "once-again")  # without it: one per definition


def _versions(translated: dict) -> set[str]:
    return set(_of_type(translated, "AWS::Lambda::Version"))


def test_a_new_image_digest_publishes_new_versions_and_a_version_hash_when_set_decides(templates, tmp_path):
    template = templates["rest"]
    path = tmp_path / "template.yaml"
    path.write_text(dump(template), encoding="utf-8")
    first = _versions(sam_translate(path, {"ImageDigest": DIGEST})["Resources"])
    assert first == _versions(sam_translate(path, {"ImageDigest": DIGEST})["Resources"])
    assert not first & _versions(sam_translate(path, {"ImageDigest": OTHER_DIGEST})["Resources"])
    # SAM resolves no parameter but the image's in its hash: a changed setting alone publishes nothing...
    assert first == _versions(sam_translate(path, {"ImageDigest": DIGEST, "LogLevel": "DEBUG"})["Resources"])
    # ...unless FunctionVersionHash changes with it (its first 10 characters name the versions).
    hashed = _versions(sam_translate(path, {"ImageDigest": DIGEST, "FunctionVersionHash": "0123456789ab"})["Resources"])
    assert hashed == {f"{name}Version0123456789" for name in ALIASED}
