"""The routes' Cognito authorizer: API Gateway's Cognito authorizer when deployed, out of the way locally
(where chalicelib.auth.authenticate verifies every token itself)."""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any

from chalice.app import Authorizer

__all__ = ["PLACEHOLDER_USER_POOL_ARN", "CognitoAuthorizer", "silence_local_mode_warning"]

# Stands in for the stack's user pool ARN in what `chalice package` emits; the CloudFormation
# post-processor replaces it with the real pool (created, or given by parameter).
PLACEHOLDER_USER_POOL_ARN = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_PLACEHOLDER"


class CognitoAuthorizer(Authorizer):
    """A Cognito user-pool authorizer that is deliberately not a ``CognitoUserPoolAuthorizer``.

    Chalice's local gateway (``chalice local`` and ``chalice.test.Client``) special-cases that
    class: it base64-decodes the bearer token without checking its signature, fabricates
    authorizer claims from it, and crashes on a token that is not three base64url parts, so a
    malformed token gets no response at all instead of a 401. For any other ``Authorizer`` it
    admits the request untouched, leaving verification to the app. ``to_swagger()`` returns what
    Chalice's class returns, so ``chalice package`` emits the same API Gateway Cognito authorizer.
    """

    _AUTH_TYPE = "cognito_user_pools"

    def __init__(
        self, name: str, provider_arns: list[str], header: str = "Authorization", scopes: list[str] | None = None
    ) -> None:
        if not isinstance(provider_arns, list):
            raise TypeError(f"provider_arns should be a list of ARNs, received: {provider_arns!r}")
        self.name = name
        self._header = header
        self._provider_arns = provider_arns
        self.scopes = scopes or []

    def to_swagger(self) -> dict[str, Any]:
        return {
            "in": "header",
            "type": "apiKey",
            "name": self._header,
            "x-amazon-apigateway-authtype": self._AUTH_TYPE,
            "x-amazon-apigateway-authorizer": {
                "type": self._AUTH_TYPE,
                "providerARNs": self._provider_arns,
            },
        }

    def with_scopes(self, scopes: list[str]) -> CognitoAuthorizer:
        scoped = copy.deepcopy(self)
        scoped.scopes = scopes
        return scoped


def silence_local_mode_warning() -> None:
    """Chalice's local gateway warns "<class> is not a supported in local mode. All requests ... will
    be authorized" on every request to a route with this authorizer. Admitting the request is exactly
    what this class wants (the app verifies the token next), so the warning is only noise in every
    `chalice local` log. Only that message, for this class, raised from chalice.local, is silenced.

    It changes the process's warning filters, so the program calls it (app.py), never an import of this module.
    """
    warnings.filterwarnings(
        "ignore",
        message=re.escape(CognitoAuthorizer.__name__) + r" is not (a )?supported in local mode",
        category=UserWarning,
        module=r"chalice\.local",
    )
