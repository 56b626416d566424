"""What issue 13 asks of the stacks, on the goldens of both flavours and the bootstrap stack: they exchange
what they need through SSM parameters under the stage's prefix (no export, no import), every resource
that takes tags carries the cost allocation tags (the tag property and its shape read from the schemas
cfn-lint ships), a p95 latency alarm on each flavour's API, and a budget only when MonthlyBudget is set.
The same checks on the real app's build and its SAM translation are in test_stack.py."""

from __future__ import annotations

import json

import pytest

from chalicelib import vocabulary
from cloudformation.build import PIPELINE
from cloudformation.template import load
from cloudformation.transforms import budget
from cloudformation.transforms import observability
from cloudformation.transforms import tags
from tests.cloudformation.support.expected import GOLDEN_HTTP_OUTPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import read
from tests.cloudformation.support.resolve import resolve
from tests.cloudformation.support.schemas import exports_and_imports
from tests.cloudformation.support.schemas import tagging
from tests.cloudformation.support.schemas import untagged
from tests.cloudformation.support.stack import PROJECT

BOOTSTRAP = PROJECT / "cloudformation" / "bootstrap.yaml"
GOLDENS = {"rest": GOLDEN_OUTPUT, "http": GOLDEN_HTTP_OUTPUT}
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}


def bootstrap() -> dict:
    return load(BOOTSTRAP.read_text(encoding="utf-8"))


def every_template() -> dict[str, dict]:
    return {**{flavour: read(path) for flavour, path in GOLDENS.items()}, "bootstrap": bootstrap()}


# --- no exports, no imports ----------------------------------------------------------------------------


def test_the_export_finder_finds_an_export_and_an_import():
    template = {
        "Outputs": {"Url": {"Value": "x", "Export": {"Name": "x"}}},
        "Resources": {"F": {"Properties": {"V": {"Fn::Sub": ["${A}", {"A": {"Fn::ImportValue": "x"}}]}}}},
    }
    assert exports_and_imports(template) == ["Outputs.Url.Export", ".Resources.F.Properties.V.Fn::Sub[1].A"]


@pytest.mark.parametrize("which", ["rest", "http", "bootstrap"])
def test_no_stack_exports_an_output_or_imports_another_stacks(which):
    assert exports_and_imports(every_template()[which]) == []


# --- what the stacks exchange through SSM ----------------------------------------------------------------


def ssm_parameters(template: dict, stage: str) -> dict[str, dict]:
    """The template's SSM parameters as deployed in ``stage``: full name -> resource."""
    deployed = resolve(template, {"AppStage": stage}, pseudo=PSEUDO)
    return {r["Properties"]["Name"]: r for r in deployed["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"}


def full_name(stage: str, name: str) -> str:
    return vocabulary.SSM_PREFIX.format(stage=stage) + "/" + name


def test_the_bootstrap_stack_publishes_the_repository_under_the_stages_prefix():
    published = ssm_parameters(bootstrap(), "dev")
    assert set(published) == {
        full_name("dev", vocabulary.SSM_REPOSITORY_URI),
        full_name("dev", vocabulary.SSM_REPOSITORY_ARN),
    }
    uri = published[full_name("dev", vocabulary.SSM_REPOSITORY_URI)]["Properties"]
    assert uri["Value"] == {"Fn::GetAtt": ["Repository", "RepositoryUri"]} and uri["Type"] == "String"
    arn = published[full_name("dev", vocabulary.SSM_REPOSITORY_ARN)]["Properties"]
    assert arn["Value"] == {"Fn::GetAtt": ["Repository", "Arn"]}
    # Its stage parameter admits exactly what the app stack's does.
    assert bootstrap()["Parameters"]["AppStage"] == {
        **read(GOLDEN_OUTPUT)["Parameters"]["AppStage"],
        "Description": bootstrap()["Parameters"]["AppStage"]["Description"],
    }


@pytest.mark.parametrize("flavour", GOLDENS)
def test_the_app_stack_publishes_its_api_url_table_queue_and_topic_under_the_stages_prefix(flavour):
    template = read(GOLDENS[flavour])
    published = ssm_parameters(template, "dev")
    endpoint = template["Outputs"]["EndpointURL"]["Value"]
    assert {name: r["Properties"]["Value"] for name, r in published.items()} == {
        full_name("dev", vocabulary.SSM_API_URL): endpoint,
        full_name("dev", vocabulary.SSM_TABLE_NAME): {"Ref": "TasksTable"},
        full_name("dev", vocabulary.SSM_QUEUE_URL): {"Ref": "ActivityQueue"},
        full_name("dev", vocabulary.SSM_ALARM_TOPIC_ARN): {"Ref": observability.TOPIC},
        # Not published for other stacks but flipped by the chat commands (chat_commands.py): the same prefix.
        full_name("dev", vocabulary.SSM_REGION_SWITCH): vocabulary.REGION_SERVING,
    }
    assert all(r["Properties"]["Type"] == "String" for r in published.values())


@pytest.mark.parametrize("flavour", GOLDENS)
def test_a_switched_off_table_or_queue_publishes_no_parameter(flavour):
    off = ssm_parameters(
        resolve(read(GOLDENS[flavour]), {"EnableTasksTable": "false", "EnableSqsIntegration": "false"}), "prod"
    )
    assert set(off) == {
        full_name("prod", vocabulary.SSM_API_URL),
        full_name("prod", vocabulary.SSM_ALARM_TOPIC_ARN),
        full_name("prod", vocabulary.SSM_REGION_SWITCH),
    }


# --- cost allocation tags --------------------------------------------------------------------------------


def test_the_tags_step_knows_each_types_tag_property_and_shape_as_the_schemas_say():
    for kind, (name, shape) in tags.TAGGABLE.items():
        assert tagging(kind) == (name, shape), kind


def test_the_tags_step_runs_last_so_whatever_a_step_adds_is_tagged():
    assert PIPELINE[-1][0] is tags.transform


@pytest.mark.parametrize("which", ["rest", "http", "bootstrap"])
def test_every_resource_that_takes_tags_carries_app_stage_and_cost_center(which):
    template = every_template()[which]
    assert untagged(template, tags.TAGS) == []
    taggable = [r for r in template["Resources"].values() if tagging(r["Type"])]
    assert len(taggable) >= (2 if which == "bootstrap" else 40)  # the walk saw them
    assert template["Parameters"][tags.COST_CENTER]["Default"] == tags.PARAMETER["Default"]


def test_the_tag_walk_notices_a_resource_left_untagged():
    template = read(GOLDEN_OUTPUT)
    template["Resources"]["Extra"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    template["Resources"]["ExtraParameter"] = {"Type": "AWS::SSM::Parameter", "Properties": {"Tags": {"app": "x"}}}
    assert [name for name, _, _ in untagged(template, tags.TAGS)] == ["Extra", "ExtraParameter"]


def test_sam_resources_propagate_their_tags_to_what_they_generate():
    for flavour, path in GOLDENS.items():
        for name, resource in read(path)["Resources"].items():
            if resource["Type"].startswith("AWS::Serverless::"):
                assert resource["Properties"]["PropagateTags"] is True, (flavour, name)


# --- the p95 latency alarm -------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", GOLDENS)
def test_each_flavour_alarms_on_its_apis_p95_latency_above_the_parameter(flavour):
    template = read(GOLDENS[flavour])
    alarm = template["Resources"]["ApiLatencyP95Alarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["ExtendedStatistic"]) == ("AWS/ApiGateway", "Latency", "p95")
    assert alarm["Threshold"] == {"Ref": observability.LATENCY_PARAMETER}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": observability.TOPIC}]
    parameter = template["Parameters"][observability.LATENCY_PARAMETER]
    assert parameter["Type"] == "Number" and parameter["Default"] > 0
    if flavour == "rest":  # the stage's metrics, as the 5xx alarm reads them
        assert alarm["Dimensions"] == template["Resources"]["Api5xxRateAlarm"]["Properties"]["Dimensions"]
        assert [d["Name"] for d in alarm["Dimensions"]] == ["ApiName", "Stage"]
    else:
        assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]


# --- the budget ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", GOLDENS)
def test_a_budget_exists_only_when_an_amount_is_set_and_tells_the_alarm_topic(flavour):
    template = read(GOLDENS[flavour])
    assert template["Parameters"][budget.AMOUNT]["Default"] == ""
    assert budget.BUDGET not in resolve(template, {})["Resources"]
    deployed = resolve(template, {budget.AMOUNT: "25", tags.COST_CENTER: "team-7"}, pseudo=PSEUDO)
    props = deployed["Resources"][budget.BUDGET]["Properties"]
    assert props["Budget"]["BudgetLimit"] == {"Amount": "25", "Unit": "USD"}
    assert props["Budget"]["CostFilters"] == {"TagKeyValue": ["user:cost-center$team-7"]}
    subscribers = [s for n in props["NotificationsWithSubscribers"] for s in n["Subscribers"]]
    assert subscribers and all(s == {"SubscriptionType": "SNS", "Address": {"Ref": "AlarmTopic"}} for s in subscribers)
    kinds = {n["Notification"]["NotificationType"] for n in props["NotificationsWithSubscribers"]}
    assert kinds == {"ACTUAL", "FORECASTED"}


@pytest.mark.parametrize("flavour", GOLDENS)
def test_the_topic_policy_lets_budgets_and_cloudwatch_of_this_account_publish_to_the_alarm_topic(flavour):
    (policy,) = (r for r in read(GOLDENS[flavour])["Resources"].values() if r["Type"] == "AWS::SNS::TopicPolicy")
    assert "Condition" not in policy  # the alarms publish through it whether or not a budget exists
    props = policy["Properties"]
    assert props["Topics"] == [{"Ref": observability.TOPIC}]
    by_service = {s["Principal"]["Service"]: s for s in props["PolicyDocument"]["Statement"]}
    assert set(by_service) == {"budgets.amazonaws.com", "cloudwatch.amazonaws.com"}
    for service, statement in by_service.items():
        assert statement["Effect"] == "Allow" and statement["Action"] == "sns:Publish"
        assert statement["Resource"] == {"Ref": observability.TOPIC}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        source = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
        assert f":{service.split('.')[0]}:" in source and "${AWS::AccountId}" in source
