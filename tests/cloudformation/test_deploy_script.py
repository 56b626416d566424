"""scripts/deploy.sh --dry-run prints every command of a deployment, in order, and runs none."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from chalicelib.vocabulary import ASSISTANT_STREAM_PATH
from chalicelib.vocabulary import SSM_PREFIX
from chalicelib.vocabulary import SSM_REPOSITORY_URI
from cloudformation.transforms import cognito
from cloudformation.transforms import functions
from cloudformation.transforms import tables
from cloudformation.transforms import tags
from tests.cloudformation.support.expected import GOLDEN_HTTP_OUTPUT
from tests.cloudformation.support.expected import GOLDEN_OUTPUT
from tests.cloudformation.support.expected import read
from tests.cloudformation.support.stack import PROJECT

SCRIPT = PROJECT / "scripts" / "deploy.sh"
CONTENT_TYPES = {
    "*.html": "text/html; charset=utf-8",
    "*.js": "text/javascript; charset=utf-8",
    "*.mjs": "text/javascript; charset=utf-8",
    "*.css": "text/css; charset=utf-8",
    "*.json": "application/json",
    "*.svg": "image/svg+xml",
}


@pytest.fixture
def dist(tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "template.yaml").write_text("{}\n")
    (tmp_path / "image" / "Dockerfile").write_text("FROM scratch\n")
    return tmp_path


def dry_run(dist, *args: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # No aws or docker on PATH: a dry run that tried to run one would fail loudly.
    clean.update(PATH="/usr/bin:/bin", DIST=str(dist), **env)
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *args], cwd=PROJECT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("+ ") for line in lines), lines
    return [line[2:] for line in lines]


def test_the_dry_run_prints_bootstrap_login_build_push_and_deploy_in_order(dist):
    commands = dry_run(dist, "--region", "eu-west-1", "--stack", "demo", "--tag", "v1")
    # The program and its subcommand (printf: its format; the config it writes is checked below).
    steps = [" ".join(shlex.split(c.split(" | ")[0])[:3][: 2 if c.startswith("printf") else 3]) for c in commands]
    assert steps == [
        "aws cloudformation deploy",  # the bootstrap stack with the ECR repository
        "aws ssm get-parameter",  # the repository it published under the stage's prefix
        "aws ecr get-login-password",
        "docker buildx build",
        "aws ecr describe-images",  # the pushed digest, which the stack pins
        "aws cloudformation deploy",
        "aws cloudformation describe-stacks",  # its outputs: the console's bucket, URL, the API, the pool
        "aws cloudformation deploy",  # the console's origin, which CloudFront named, into CORS and redirects
        *["aws s3 sync"] * (len(CONTENT_TYPES) + 1),  # console/, one content type at a time, then the rest
        "printf %s",  # config.json
        "aws cloudfront create-invalidation",
        "aws cloudformation describe-stacks",
    ]
    assert "--stack-name demo-bootstrap" in commands[0] and "cloudformation/bootstrap.yaml" in commands[0]
    assert "docker login --username AWS --password-stdin <account>.dkr.ecr.eu-west-1.amazonaws.com" in commands[2]
    build = commands[3]
    assert "--platform linux/arm64" in build and "--build-arg ARCH=arm64" in build and "--push" in build
    assert f"--tag <account>.dkr.ecr.eu-west-1.amazonaws.com/demo:v1 --push {dist}/image" in build
    deploy = commands[5]
    assert "--stack-name demo" in deploy and f"--template-file {dist}/template.yaml" in deploy
    assert "--capabilities CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND" in deploy
    # The repository comes from SSM in the stack too; the digest pins the image just pushed.
    assert "--parameter-overrides ImageDigest=sha256:<digest> Architecture=arm64" in deploy


def test_the_repository_is_read_from_the_stages_ssm_parameter_not_from_stack_outputs(dist):
    default_stage = functions.PARAMETERS["AppStage"]["Default"]
    for args, stage in (((), default_stage), (("AppStage=dev",), "dev")):
        commands = dry_run(dist, "--region", "eu-west-1", *args)
        name = SSM_PREFIX.format(stage=stage) + "/" + SSM_REPOSITORY_URI
        assert shlex.split(commands[1])[:3] == ["aws", "ssm", "get-parameter"]
        assert f"--name {name} " in commands[1] and "--query Parameter.Value" in commands[1]
        # The bootstrap stack publishes under that stage's prefix.
        assert f"AppStage={stage}" in commands[0]
        assert not any("Outputs[?OutputKey" in command for command in commands)


def test_the_app_stack_carries_the_cost_allocation_tags_as_stack_tags(dist):
    # CloudFormation hands stack tags to every resource that takes them, SAM's event source mappings included.
    deploy = shlex.split(dry_run(dist, "--region", "eu-west-1", "AppStage=dev", "CostCenter=team-7")[5])
    given = deploy[deploy.index("--tags") + 1 : deploy.index("--parameter-overrides")]
    stack_tags = dict(pair.split("=", 1) for pair in given)
    assert set(tags.TAGS) <= set(stack_tags)
    assert (stack_tags["app"], stack_tags["stage"], stack_tags["cost-center"]) == (tags.APP, "dev", "team-7")


def test_the_bootstrap_stack_gets_the_cost_center_the_app_stack_gets(dist):
    assert f"CostCenter={tags.PARAMETER['Default']}" in dry_run(dist, "--region", "eu-west-1")[0]
    commands = dry_run(dist, "--region", "eu-west-1", "CostCenter=team-7")
    assert "CostCenter=team-7" in commands[0] and _overrides(commands[5])["CostCenter"] == "team-7"


def test_the_dry_run_passes_the_architecture_and_stack_parameters_through(dist):
    commands = dry_run(
        dist, "--arch", "x86_64", "EnableSqsIntegration=false", "AlarmEmail=ops@example.com", AWS_REGION="us-west-2"
    )
    assert "--platform linux/amd64 --build-arg ARCH=x86_64" in commands[3]
    assert (
        "Architecture=x86_64 EnableSqsIntegration=false AlarmEmail=ops@example.com FunctionVersionHash=" in commands[5]
    )
    assert "--region us-west-2" in commands[5]


def test_the_script_refuses_to_deploy_what_was_not_packaged(tmp_path):
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--region", "eu-west-1"],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "DIST": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "make package" in result.stderr


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_the_dry_run_deploys_the_flavour_that_was_packaged_and_tags_the_stack_with_it(dist, flavour):
    (dist / "api-flavour").write_text(flavour + "\n")
    for args in ((), ("--api", flavour)):
        commands = dry_run(dist, "--region", "eu-west-1", *args)
        deploy = commands[5]
        assert f"--template-file {dist}/template.yaml" in deploy
        assert f"--tags app=tasks-api api={flavour}" in deploy


def test_a_dist_without_a_flavour_file_is_the_rest_stack(dist):
    assert "api=rest" in dry_run(dist, "--region", "eu-west-1")[5]


def test_the_script_refuses_to_deploy_another_flavour_than_was_packaged(dist):
    (dist / "api-flavour").write_text("rest\n")
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--region", "eu-west-1", "--api", "http"],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "DIST": str(dist)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "make package API=http" in result.stderr


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_the_build_writes_the_flavour_beside_the_template(tmp_path, flavour):
    source = PROJECT / "tests" / "cloudformation" / "golden" / "chalice.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "cloudformation.build", str(source), "-o", str(tmp_path), "--api", flavour],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "api-flavour").read_text() == flavour + "\n"
    assert ("AWS::ApiGatewayV2::Api" in (tmp_path / "template.yaml").read_text()) is (flavour == "http")


# --- the web console ----------------------------------------------------------------------------------

APP_DEPLOY = 5  # the app stack's deployment, the sixth command


def _console(commands: list[str]) -> list[str]:
    """The commands after the app stack's deployment and before the closing table of outputs."""
    return commands[APP_DEPLOY + 1 : -1]


def _config(commands: list[str]) -> dict:
    (upload,) = [c for c in commands if c.startswith("printf %s ")]
    writer, _, uploader = upload.partition(" | ")
    assert uploader.startswith("aws s3 cp - s3://<console-bucket>/config.json ")
    assert "--content-type application/json" in uploader
    return json.loads(shlex.split(writer)[2])


def test_the_console_origin_cloudfront_named_is_passed_in_by_a_second_deployment_of_the_same_stack(dist):
    commands = dry_run(dist, "--region", "eu-west-1", "CorsAllowOrigins=https://app.example.com")
    outputs, again = _console(commands)[:2]
    assert "--query Stacks[0].Outputs[].[OutputKey,OutputValue] --output text" in outputs
    # The same deployment with every parameter it had, and the origin (ConsoleUrl without its slash).
    first, second = (command.rsplit(" FunctionVersionHash=", 1) for command in (commands[APP_DEPLOY], again))
    assert second[0] == first[0] + " ConsoleOrigin=https://<distribution>.cloudfront.net"
    assert second[1] != first[1]  # a changed parameter: a new version behind the alias


def test_the_console_is_uploaded_one_content_type_at_a_time_revalidated_and_stale_files_deleted(dist):
    syncs = [c for c in _console(dry_run(dist, "--region", "eu-west-1")) if c.startswith("aws s3 sync ")]
    assert len(syncs) == len(CONTENT_TYPES) + 1
    for sync, (pattern, content_type) in zip(syncs, CONTENT_TYPES.items()):
        assert sync.startswith("aws s3 sync console/ s3://<console-bucket>/ --region eu-west-1 --delete ")
        assert f"--exclude * --include {pattern} " in sync and f"--content-type {content_type} " in sync
    rest = syncs[-1]
    assert all(f"--exclude {pattern} " in rest for pattern in CONTENT_TYPES) and "--content-type" not in rest
    for sync in syncs:
        # config.json is the stack's (written next), never uploaded from console/ or deleted by a sync.
        assert "--exclude config.json" in sync
        # No fingerprinted names (no build step): browsers revalidate, the edge keeps a day until invalidated.
        assert sync.endswith("--cache-control public, max-age=0, must-revalidate, s-maxage=86400")


@pytest.mark.parametrize("flavour", ["rest", "http"])
def test_the_consoles_config_names_the_api_the_stream_the_hosted_ui_the_client_and_the_page(dist, flavour):
    (dist / "api-flavour").write_text(flavour + "\n")
    api = "https://<api>.execute-api.eu-west-1.amazonaws.com" + ("/api" if flavour == "rest" else "")
    stream = "https://<stream>.lambda-url.eu-west-1.on.aws" if flavour == "http" else api
    assert ASSISTANT_STREAM_PATH == "/assistant/stream"  # what the script strips from AssistantStreamUrl
    assert _config(dry_run(dist, "--region", "eu-west-1")) == {
        "apiUrl": api,  # EndpointURL without its trailing slash
        "streamUrl": stream,  # the HTTP flavour's function URL; REST streams on the API
        "authority": "https://<domain>.auth.eu-west-1.amazoncognito.com",  # AuthDomain: the hosted UI
        "clientId": "<client-id>",
        "scope": "openid tasks-api/api",
        "redirectUri": "https://<distribution>.cloudfront.net/",  # ConsoleUrl
        "logoutUri": "https://<distribution>.cloudfront.net/",
    }


def test_after_the_upload_cloudfront_forgets_every_cached_file(dist):
    commands = _console(dry_run(dist, "--region", "eu-west-1"))
    assert commands[-1] == "aws cloudfront create-invalidation --distribution-id <distribution-id> --paths /*"
    assert commands.index(commands[-1]) > max(n for n, c in enumerate(commands) if "s3" in c)


@pytest.mark.parametrize("without", ["EnableConsole=false", "UserPoolArn=arn:aws:cognito-idp:eu-west-1:1:userpool/x"])
def test_a_stack_without_the_console_gets_no_upload_and_no_second_deployment(dist, without):
    commands = dry_run(dist, "--region", "eu-west-1", without)
    assert _console(commands) == [commands[APP_DEPLOY + 1]]  # only the outputs, read
    assert not any(c.startswith(("aws s3", "aws cloudfront", "printf")) for c in commands)


# --- several regions (docs/DEPLOY.md "Two regions") ------------------------------------------------------

TWO_REGIONS = ("--regions", "us-east-1,eu-west-1", "--stack", "demo", "--tag", "v1")
POOL_ARN = "arn:aws:cognito-idp:us-east-1:<account>:userpool/<user-pool-id>"


def _per_region(commands: list[str]) -> list[list[str]]:
    """The commands cut where each region's flow begins (its bootstrap stack)."""
    starts = [n for n, command in enumerate(commands) if "--stack-name demo-bootstrap " in command]
    return [commands[start:end] for start, end in zip(starts, [*starts[1:], len(commands)])]


def _overrides(command: str) -> dict[str, str]:
    words = shlex.split(command)
    return dict(pair.split("=", 1) for pair in words[words.index("--parameter-overrides") + 1 :])


def _regions_called(commands: list[str]) -> set[str]:
    """The regions the commands call (--region) or push to (the ECR registry's host)."""
    called: set[str] = set()
    for command in commands:
        words = shlex.split(command.replace(" | ", " "))
        called.update(words[n + 1] for n, word in enumerate(words) if word == "--region")
        called.update(word.split(".")[3] for word in words if ".dkr.ecr." in word)
    return called


def _steps(commands: list[str]) -> list[str]:
    return [" ".join(shlex.split(command.split(" | ")[0])[:3]) for command in commands]


def test_a_two_region_dry_run_runs_the_whole_flow_in_the_home_region_then_in_the_other(dist):
    home, other = _per_region(dry_run(dist, *TWO_REGIONS))
    flow = ["aws cloudformation deploy", "aws ssm get-parameter", "aws ecr get-login-password", "docker buildx build"]
    flow.append("aws ecr describe-images")
    # Home: today's single-region flow, console included.
    assert _steps(home) == _steps(dry_run(dist, "--region", "us-east-1", "--stack", "demo", "--tag", "v1"))
    assert _steps(home)[:6] == [*flow, "aws cloudformation deploy"]
    assert _regions_called(home) == {"us-east-1"}
    # The other: its own repository (Lambda runs images from its own region's ECR), then its replica's stream
    # (the home deploy created the replica), then the stack, then its outputs; no console (the pool is home's).
    assert _steps(other) == [
        *flow,
        "aws dynamodb describe-table",
        "aws cloudformation deploy",
        "aws cloudformation describe-stacks",
        "aws cloudformation describe-stacks",
    ]
    assert _regions_called(other) == {"eu-west-1"}
    assert "--tag <account>.dkr.ecr.eu-west-1.amazonaws.com/demo:v1 --push" in other[3]
    assert other[5] == (
        "aws dynamodb describe-table --region eu-west-1 --table-name demo-tasks"
        " --query Table.LatestStreamArn --output text"
    )


def test_every_region_is_told_the_list_and_the_others_their_replicas_stream_and_the_home_pool(dist):
    home, other = _per_region(dry_run(dist, *TWO_REGIONS))
    home_parameters = _overrides(home[5])  # the app stack's first deployment
    assert home_parameters["TableRegions"] == "us-east-1,eu-west-1"
    # Home creates the global table and the user pool: nothing of another region's.
    assert not {"TableStreamArn", "UserPoolArn", "UserPoolClientIds", "ApiScope"} & set(home_parameters)
    # The home stack's outputs are read before the other region deploys.
    assert "describe-stacks --region us-east-1" in home[6] and "[OutputKey,OutputValue]" in home[6]
    other_parameters = _overrides(other[6])
    assert re.fullmatch(r"[0-9a-f]{16}", other_parameters.pop("FunctionVersionHash"))
    assert other_parameters == {
        "ImageDigest": "sha256:<digest>",
        "Architecture": "arm64",
        "TableRegions": "us-east-1,eu-west-1",
        "UserPoolArn": POOL_ARN,  # the home stack's UserPoolArn output
        "UserPoolClientIds": "<client-id>",  # its UserPoolClientId
        "ApiScope": "tasks-api/api",  # its ApiScope
        "TableStreamArn": "arn:aws:dynamodb:eu-west-1:<account>:table/demo-tasks/stream/<stream-label>",
    }


def test_a_region_prefixed_pair_applies_in_that_region_only_and_a_plain_one_everywhere(dist):
    scoped = ("eu-west-1:CertificateArn=arn:eu", "us-east-1:CertificateArn=arn:us")
    commands = dry_run(dist, *TWO_REGIONS, "AlarmEmail=ops@example.com", *scoped)
    deploys = [c for c in commands if c.startswith("aws cloudformation deploy") and "bootstrap" not in c]
    assert [_overrides(c)["CertificateArn"] for c in deploys] == ["arn:us", "arn:us", "arn:eu"]  # home twice: console
    assert all(_overrides(c)["AlarmEmail"] == "ops@example.com" for c in deploys)
    assert not any(":CertificateArn" in c for c in commands)


def test_a_pool_given_by_hand_is_used_in_every_region_instead_of_the_home_stacks(dist):
    pool = ("UserPoolArn=arn:aws:cognito-idp:us-east-1:1:userpool/mine", "UserPoolClientIds=a,b", "ApiScope=x/y")
    deploys = [c for c in dry_run(dist, *TWO_REGIONS, *pool) if c.startswith("aws cloudformation deploy --region")]
    app = [_overrides(c) for c in deploys if "bootstrap" not in c]
    assert len(app) == 2  # no console without the stack's own pool: no second home deployment
    for parameters in app:
        assert {k: parameters[k] for k in ("UserPoolArn", "UserPoolClientIds", "ApiScope")} == dict(
            pair.split("=", 1) for pair in pool
        )


def test_one_region_gets_nothing_of_the_several_regions_flow(dist):
    commands = dry_run(dist, "--region", "eu-west-1", "--stack", "demo", "eu-west-1:CertificateArn=arn:eu")
    assert len(_per_region(commands)) == 1 and not any("dynamodb describe-table" in c for c in commands)
    deploys = [_overrides(c) for c in commands if c.startswith("aws cloudformation deploy") and "bootstrap" not in c]
    for parameters in deploys:
        assert not {"TableRegions", "TableStreamArn", "UserPoolArn", "UserPoolClientIds"} & set(parameters)
        assert parameters["CertificateArn"] == "arn:eu"  # its own region's pairs apply


@pytest.mark.parametrize("golden", [GOLDEN_OUTPUT, GOLDEN_HTTP_OUTPUT], ids=["rest", "http"])
def test_the_home_stack_has_the_outputs_the_other_regions_pool_parameters_are_read_from(golden):
    outputs = read(golden)["Outputs"]
    assert outputs["UserPoolArn"]["Value"] == cognito.POOL_ARN and "Condition" not in outputs["UserPoolArn"]
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": "UserPoolClient"}
    assert outputs["ApiScope"]["Value"] == cognito.SCOPE
    # What the other regions' stacks are then given: the existing-pool parameters.
    assert {"UserPoolArn", "UserPoolClientIds", "ApiScope"} <= set(cognito.PARAMETERS)


def _refused(dist, *args: str) -> str:
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *args],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "DIST": str(dist)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and not result.stdout, result.stdout
    return result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--regions", "us-east-1,eu-west-1", "ap-south-1:CertificateArn=arn:x"), "ap-south-1 is not a region this"),
        (("--region", "eu-west-1", "us-east-1:CertificateArn=arn:x"), "us-east-1 is not a region this"),
        (("--regions", "us-east-1,us-east-1"), "names us-east-1 twice"),
        (("--regions", "us-east-1,,eu-west-1"), "has an empty region"),
        (("--regions", "us-east-1,eu-west-1,"), "has an empty region"),
        (("--regions", "us-east-1,eu-west-1,us-west-2,eu-central-1"), f"at most {tables.MAX_REGIONS} regions"),
        (("--regions", "us-east-1,eu-west-one"), "is not a region"),
        (("--regions", "us-east-1,eu-west-1", "--region", "us-east-1"), "not both"),
        (("--regions", "us-east-1,eu-west-1", "TableRegions=us-east-1"), "passes TableRegions itself"),
        (("--regions", "us-east-1,eu-west-1", "eu-west-1:TableStreamArn=x"), "passes TableStreamArn itself"),
    ],
)
def test_the_script_refuses_regions_and_pairs_that_do_not_fit_before_running_anything(dist, args, said):
    assert said in _refused(dist, *args)


def test_the_makefile_hands_deploy_args_to_the_script_as_they_are():
    # make deploy DEPLOY_ARGS="--regions us-east-1,eu-west-1 ..." (make itself rebuilds the virtualenvs: read).
    recipe = (PROJECT / "Makefile").read_text().split("\ndeploy: package\n", 1)[1].splitlines()[0]
    assert recipe.strip() == "scripts/deploy.sh --api $(API) $(DEPLOY_ARGS)"


def _version_hash(dist, *args: str) -> str:
    return _overrides(dry_run(dist, "--region", "eu-west-1", "--tag", "v1", *args)[APP_DEPLOY])["FunctionVersionHash"]


def test_the_version_behind_the_alias_is_named_by_the_image_and_every_parameter_passed(dist):
    # SAM publishes a version when its hash changes: the same deployment again publishes none; a changed
    # parameter or architecture (with the same image) publishes one, so the alias serves what was deployed.
    same = _version_hash(dist, "LogLevel=INFO")
    assert _version_hash(dist, "LogLevel=INFO") == same
    assert _version_hash(dist, "LogLevel=DEBUG") != same
    assert _version_hash(dist, "LogLevel=INFO", "--arch", "x86_64") != same
    # The template is hashed too: a hash passed replaces SAM's, which would have seen a changed template.
    (dist / "template.yaml").write_text("{Resources: {}}\n")
    assert _version_hash(dist, "LogLevel=INFO") != same
    # One a caller names is theirs.
    assert _version_hash(dist, "FunctionVersionHash=0123456789abcdef") == "0123456789abcdef"


def test_a_created_private_network_is_given_dynamodbs_prefix_list_before_the_app_stack(dist):
    commands = dry_run(dist, "--region", "eu-west-1", "PrivateNetwork=created")
    (lookup,) = [n for n, c in enumerate(commands) if c.startswith("aws ec2 describe-managed-prefix-lists")]
    assert "--region eu-west-1" in commands[lookup]
    assert "Values=com.amazonaws.eu-west-1.dynamodb" in commands[lookup]
    assert _overrides(commands[lookup + 1])["DynamoDBPrefixListId"] == "pl-<dynamodb>"
    # Not without the created network, and not over one given by hand.
    for args in (("PrivateNetwork=existing",), ("PrivateNetwork=created", "DynamoDBPrefixListId=pl-0123abcd")):
        commands = dry_run(dist, "--region", "eu-west-1", *args)
        assert not [c for c in commands if "describe-managed-prefix-lists" in c], args
