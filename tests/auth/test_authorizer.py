"""CognitoAuthorizer: the same Cognito authorizer as Chalice's when packaged, out of the way when run locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from chalice import Chalice
from chalice import CognitoUserPoolAuthorizer
from chalice.app import Authorizer
from chalice.deploy.swagger import SwaggerGenerator
from chalice.test import Client

from chalicelib.auth.authorizer import PLACEHOLDER_USER_POOL_ARN
from chalicelib.auth.authorizer import CognitoAuthorizer
from chalicelib.auth.authorizer import silence_local_mode_warning
from tests.support.invoke import run_python

REPO = Path(__file__).resolve().parents[2]
ARNS = ["arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc", PLACEHOLDER_USER_POOL_ARN]


def tiny_app(ours: Authorizer, theirs: Authorizer) -> Chalice:
    app = Chalice(app_name="authorizers")

    @app.route("/ours", authorizer=ours)
    def with_ours():
        return {"route": "ours", "context": app.current_request.context.get("authorizer")}

    @app.route("/theirs", authorizer=theirs)
    def with_theirs():
        return {"route": "theirs"}

    return app


@pytest.mark.parametrize("header, scopes", [("Authorization", None), ("X-Token", ["tasks/read", "openid"])])
def test_to_swagger_is_exactly_chalices_cognito_authorizer(header, scopes):
    ours = CognitoAuthorizer("Pool", provider_arns=ARNS, header=header, scopes=scopes)
    theirs = CognitoUserPoolAuthorizer("Pool", provider_arns=ARNS, header=header, scopes=scopes)
    assert ours.to_swagger() == theirs.to_swagger()
    assert (ours.name, ours.scopes) == (theirs.name, theirs.scopes)


def test_with_scopes_returns_a_scoped_copy():
    ours = CognitoAuthorizer("Pool", provider_arns=ARNS)
    scoped = ours.with_scopes(["tasks/write"])
    assert isinstance(scoped, CognitoAuthorizer) and scoped is not ours
    assert scoped.scopes == ["tasks/write"] and ours.scopes == []
    assert scoped.to_swagger() == ours.to_swagger()
    assert scoped.to_swagger()["x-amazon-apigateway-authorizer"]["providerARNs"] is not ARNS


def test_is_an_authorizer_but_not_chalices_cognito_class():
    # The point of the class: chalice.local special-cases CognitoUserPoolAuthorizer instances.
    ours = CognitoAuthorizer("Pool", provider_arns=ARNS)
    assert isinstance(ours, Authorizer)
    assert not isinstance(ours, CognitoUserPoolAuthorizer)


def test_provider_arns_must_be_a_list():
    with pytest.raises(TypeError):
        CognitoAuthorizer("Pool", provider_arns=ARNS[0])


def test_swagger_generator_emits_identical_security_for_both():
    app = tiny_app(
        CognitoAuthorizer("Ours", provider_arns=ARNS), CognitoUserPoolAuthorizer("Theirs", provider_arns=ARNS)
    )
    swagger = SwaggerGenerator(
        "eu-west-1", {"api_handler_arn": "arn:aws:lambda:eu-west-1:123456789012:function:api"}
    ).generate_swagger(app)
    definitions = swagger["securityDefinitions"]
    assert definitions["Ours"] == definitions["Theirs"]
    assert definitions["Ours"]["x-amazon-apigateway-authorizer"] == {"type": "cognito_user_pools", "providerARNs": ARNS}
    assert swagger["paths"]["/ours"]["get"]["security"] == [{"Ours": []}]
    assert swagger["paths"]["/theirs"]["get"]["security"] == [{"Theirs": []}]


PACKAGED_APP = """
from chalice import Chalice, CognitoUserPoolAuthorizer
from chalicelib.auth.authorizer import CognitoAuthorizer

app = Chalice(app_name="authorizers")
ARNS = {arns!r}


@app.route("/ours", authorizer=CognitoAuthorizer("Ours", provider_arns=ARNS, scopes=["openid"]))
def ours():
    return {{}}


@app.route("/theirs", authorizer=CognitoUserPoolAuthorizer("Theirs", provider_arns=ARNS, scopes=["openid"]))
def theirs():
    return {{}}
"""


def test_chalice_package_emits_the_same_cognito_authorizer_for_both(tmp_path):
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "authorizers", "stages": {"dev": {"api_gateway_stage": "api"}}})
    )
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text(PACKAGED_APP.format(arns=ARNS))
    chalice = str(Path(sys.executable).with_name("chalice"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [chalice, "package", str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((tmp_path / "out" / "sam.json").read_text())
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    ours, theirs = body["securityDefinitions"]["Ours"], body["securityDefinitions"]["Theirs"]
    assert ours == theirs
    assert ours["x-amazon-apigateway-authorizer"] == {"type": "cognito_user_pools", "providerARNs": ARNS}
    assert body["paths"]["/ours"]["get"]["security"] == [{"Ours": ["openid"]}]
    assert body["paths"]["/theirs"]["get"]["security"] == [{"Theirs": ["openid"]}]


@pytest.mark.parametrize("authorization", ["Bearer garbage", "Bearer a.b.c", "Basic xyz", None])
def test_local_gateway_admits_the_request_untouched_for_the_app_to_verify(authorization):
    app = tiny_app(
        CognitoAuthorizer("Ours", provider_arns=ARNS), CognitoUserPoolAuthorizer("Theirs", provider_arns=ARNS)
    )
    headers = {"Authorization": authorization} if authorization else {}
    with Client(app) as client:
        response = client.http.get("/ours", headers=headers)
    assert response.status_code == 200
    # No claims fabricated from an unverified token: the app's own verification decides.
    assert json.loads(response.body) == {"route": "ours", "context": None}


def test_chalices_cognito_authorizer_crashes_locally_on_a_garbage_token():
    # Why CognitoAuthorizer exists (docs/DESIGN.md pitfalls): if this starts passing, Chalice fixed it.
    app = tiny_app(
        CognitoAuthorizer("Ours", provider_arns=ARNS), CognitoUserPoolAuthorizer("Theirs", provider_arns=ARNS)
    )
    with Client(app) as client, pytest.raises(Exception):  # noqa: B017 - whatever Chalice raises
        client.http.get("/theirs", headers={"Authorization": "Bearer garbage"})


def test_local_mode_warning_is_silenced_for_this_class_only():
    class SomeOtherAuthorizer(Authorizer):
        name, scopes = "Other", []

        def to_swagger(self):
            return {}

    app = tiny_app(CognitoAuthorizer("Ours", provider_arns=ARNS), SomeOtherAuthorizer())
    with warnings.catch_warnings(record=True) as caught:
        # See every other warning every time; the filter app.py installs goes on top.
        warnings.simplefilter("always")
        silence_local_mode_warning()
        with Client(app) as client:
            assert client.http.get("/ours").status_code == 200
            assert client.http.get("/theirs").status_code == 200
    messages = [str(w.message) for w in caught]
    assert not any("CognitoAuthorizer is not a supported in local mode" in m for m in messages), messages
    assert any("SomeOtherAuthorizer is not a supported in local mode" in m for m in messages), messages


FILTERS_AFTER = """
import sys, warnings
before = list(warnings.filters)
import chalicelib.auth.authorizer
library = list(warnings.filters)
import app
added = [f for f in warnings.filters if f not in before]
print(library == before, [(action, message.pattern if message else None) for action, message, *_ in added])
"""


def test_importing_the_authorizer_changes_no_warning_filter_and_app_silences_only_the_local_mode_one():
    run = run_python("-c", FILTERS_AFTER, env={**os.environ, "PYTHONWARNINGS": ""})
    assert run.returncode == 0, run.stderr
    unchanged, added = run.stdout.strip().split(" ", 1)
    assert unchanged == "True"
    assert added == repr([("ignore", "CognitoAuthorizer is not (a )?supported in local mode")])
