"""Cognito: the stack's own user pool (with a resource server scope, a hosted-UI domain and a public
app client), or an existing pool by parameter. It replaces the placeholder ARN Chalice's decorator
needs, requires the API's OAuth scope on every protected method (so API Gateway accepts access tokens
with that scope, and nothing else), and tells the app the issuer and client ids."""

from __future__ import annotations

from chalicelib.auth.authorizer import PLACEHOLDER_USER_POOL_ARN
from chalicelib.vocabulary import API_SCOPE
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import clone
from cloudformation.template import environment
from cloudformation.template import functions
from cloudformation.template import string_parameter
from cloudformation.template import the_api

CREATE = "CreateUserPool"
# The API's scope is the app's word (the local issuer grants it too): <resource server>/<scope name>.
OWN_SCOPE = API_SCOPE
RESOURCE_SERVER, SCOPE_NAME = OWN_SCOPE.split("/")

POOL_ARN = {"Fn::If": [CREATE, {"Fn::GetAtt": ["UserPool", "Arn"]}, {"Ref": "UserPoolArn"}]}
SCOPE = {"Fn::If": [CREATE, OWN_SCOPE, {"Ref": "ApiScope"}]}
# The pool's id, issuer URL (what Cognito writes in `iss`) and the accepted app clients (comma-separated),
# wherever the pool lives: the app re-checks them, and the HTTP flavour's JWT authorizer checks them.
POOL_ID = {"Fn::If": [CREATE, {"Ref": "UserPool"}, {"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "UserPoolArn"}]}]}]}
_POOL_REGION = {
    "Fn::If": [CREATE, {"Ref": "AWS::Region"}, {"Fn::Select": [3, {"Fn::Split": [":", {"Ref": "UserPoolArn"}]}]}]
}
ISSUER = {
    "Fn::Sub": [
        "https://cognito-idp.${PoolRegion}.${AWS::URLSuffix}/${PoolId}",
        {"PoolRegion": _POOL_REGION, "PoolId": POOL_ID},
    ]
}
CLIENT_IDS = {"Fn::If": [CREATE, {"Ref": "UserPoolClient"}, {"Ref": "UserPoolClientIds"}]}
# The own pool's hosted UI (its OAuth endpoints are under it): the AuthDomain output, the console's authority.
AUTH_DOMAIN = {"Fn::Sub": "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"}


def _own_pool(out: Template) -> None:
    retain = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}  # users are data
    add_resource(
        out,
        "UserPool",
        {
            "Type": "AWS::Cognito::UserPool",
            "Condition": CREATE,
            **retain,
            "Properties": {
                "UsernameAttributes": ["email"],
                "AutoVerifiedAttributes": ["email"],
                # Sign-up is by invitation (admin-create-user); open sign-up is one setting away.
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 12,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": False,
                    }
                },
                "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                "UserPoolTags": {"app": "tasks-api"},
            },
        },
    )
    add_resource(
        out,
        "UserPoolResourceServer",
        {
            "Type": "AWS::Cognito::UserPoolResourceServer",
            "Condition": CREATE,
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "Identifier": RESOURCE_SERVER,
                "Name": "Tasks API",
                "Scopes": [{"ScopeName": SCOPE_NAME, "ScopeDescription": "Call the tasks API"}],
            },
        },
    )
    add_resource(
        out,
        "UserPoolDomain",
        {
            "Type": "AWS::Cognito::UserPoolDomain",
            "Condition": CREATE,
            # Custom scopes are only issued through the OAuth endpoints, which need a domain. The stack
            # id's UUID keeps the prefix unique and free of the words Cognito forbids in prefixes.
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "Domain": {
                    "Fn::Join": ["-", ["tasks", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]]
                },
            },
        },
    )
    add_resource(
        out,
        "UserPoolClient",
        {
            "Type": "AWS::Cognito::UserPoolClient",
            "Condition": CREATE,
            "DependsOn": "UserPoolResourceServer",  # the client may only name scopes that exist
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "ClientName": "tasks-api-public",
                "GenerateSecret": False,  # a browser or CLI client (authorization code + PKCE)
                "AllowedOAuthFlowsUserPoolClient": True,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email", OWN_SCOPE],
                "CallbackURLs": {"Fn::Split": [",", {"Ref": "AuthCallbackUrls"}]},
                "SupportedIdentityProviders": ["COGNITO"],
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": True,
                "AccessTokenValidity": 60,
                "IdTokenValidity": 60,
                "RefreshTokenValidity": 30,
                "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
            },
        },
    )


def _require_scopes(definition: dict) -> int:
    replaced = 0
    for auth in definition.get("securityDefinitions", {}).values():
        arns = auth.get("x-amazon-apigateway-authorizer", {}).get("providerARNs")
        if arns and PLACEHOLDER_USER_POOL_ARN in arns:
            auth["x-amazon-apigateway-authorizer"]["providerARNs"] = [
                POOL_ARN if arn == PLACEHOLDER_USER_POOL_ARN else arn for arn in arns
            ]
            replaced += 1
    for methods in definition.get("paths", {}).values():
        for method in methods.values():
            for requirement in method.get("security", []) if isinstance(method, dict) else []:
                for name in requirement:
                    if name in definition.get("securityDefinitions", {}) and not requirement[name]:
                        requirement[name] = [SCOPE]
    return replaced


PARAMETERS = {
    "UserPoolArn": string_parameter("An existing user pool's ARN; empty creates one in this stack"),
    "UserPoolClientIds": string_parameter("With UserPoolArn: comma-separated app client ids the API accepts"),
    "ApiScope": string_parameter("With UserPoolArn: the OAuth scope access tokens must carry (resource-server/scope)"),
    "AuthCallbackUrls": string_parameter(
        "Comma-separated OAuth callback URLs of the created app client", "http://localhost:8000/callback"
    ),
}


def transform(template: Template) -> Template:
    out = clone(template)
    add_parameters(out, PARAMETERS)
    add_condition(out, CREATE, {"Fn::Equals": [{"Ref": "UserPoolArn"}, ""]})
    out.setdefault("Rules", {})["ExistingUserPoolNeedsClientsAndScope"] = {
        "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": "UserPoolArn"}, ""]}]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "UserPoolClientIds"}, ""]}]},
                "AssertDescription": "UserPoolClientIds is required with UserPoolArn",
            },
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiScope"}, ""]}]},
                "AssertDescription": "ApiScope is required with UserPoolArn",
            },
        ],
    }
    _own_pool(out)
    _, api = the_api(out)
    if not _require_scopes(api["Properties"]["DefinitionBody"]):
        raise ValueError("no Cognito authorizer with the placeholder user pool ARN: nothing to point at the pool")
    for _, function in functions(out):
        environment(function).update({"AUTH_ISSUER": ISSUER, "AUTH_CLIENT_IDS": CLIENT_IDS})
    add_output(out, "UserPoolId", POOL_ID)
    # The pool's ARN, either way: scripts/deploy.sh --regions hands the home region's to the other regions.
    add_output(out, "UserPoolArn", POOL_ARN)
    add_output(out, "UserPoolClientId", {"Ref": "UserPoolClient"}, CREATE)
    add_output(out, "AuthDomain", AUTH_DOMAIN, CREATE)
    add_output(out, "ApiScope", SCOPE)
    return out
