"""The deployed web console (console/ at the repository root): a private S3 bucket behind a CloudFront
distribution, behind EnableConsole (default true: the product's front door, free while idle).

- The bucket: no public access of any kind (all four blocks, ACLs disabled), encrypted at rest (SSE-S3),
  a bucket policy that refuses every request without TLS and lets exactly this distribution read objects
  (the CloudFront service principal with ``AWS:SourceArn`` = the distribution: origin access control, not
  the legacy origin access identity; the origin is the bucket's regional REST endpoint, not a website
  endpoint, which OAC cannot sign for). No versioning: it holds a copy of console/ from git that every
  deploy rewrites. Retained when the stack or the console goes: CloudFormation cannot delete a bucket
  with objects in it, and a failed update would be worse than a bucket of a few kilobytes.
- The distribution: HTTPS only (``redirect-to-https``), ``index.html`` at the root, the console's own
  404 page for a key that is not there (S3 answers 403 for it, since CloudFront may not list the
  bucket), compression, HTTP/2 and 3, the cheapest price class, AWS's managed CachingOptimized policy
  (the deploy script sets each file's Cache-Control and invalidates after an upload).
- A response headers policy on every response: HSTS, nosniff, DENY framing, no referrer, and a strict
  Content-Security-Policy whose ``connect-src`` is exactly the console itself (config.json), the API's
  origin, the stream's origin (the HTTP flavour's function URL; REST streams on the API's origin) and
  the Cognito hosted UI's origin (the token endpoint); ``form-action`` the console and the hosted UI;
  ``frame-ancestors 'none'``; scripts and styles only from the console itself.
- The console's origin in the API's CORS and as the app client's callback and sign-out URL: CloudFront
  names the distribution when it creates it, and the CSP must name the API, whose CORS must name the
  console: a cycle CloudFormation cannot create in one pass. So the CSP names the API (resources of this
  stack), and the console's origin comes in by the ConsoleOrigin parameter, which scripts/deploy.sh sets
  from the ConsoleUrl output after the first deployment (one more, quick update; later deployments keep
  the value). With it, whatever the earlier steps made of ``CorsAllowOrigins`` (the app's allow-list, the
  HTTP API's and the function URL's CORS, the gateway responses' first origin, each CorsEnabled choice)
  is on, with the console's origin first, then CorsAllowOrigins.
- The hosted UI and the app client are the stack's own pool's (cognito.py): with an existing pool
  (UserPoolArn) the console is left out.

Runs after every step that reads CorsAllowOrigins (functions, function_url, http_api, api) and cognito;
before tags, which tags the bucket and the distribution.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from cloudformation.template import NO_VALUE
from cloudformation.template import Template
from cloudformation.template import add_condition
from cloudformation.template import add_output
from cloudformation.template import add_parameters
from cloudformation.template import add_resource
from cloudformation.template import checkov_skip
from cloudformation.template import clone
from cloudformation.template import resources
from cloudformation.template import string_parameter
from cloudformation.transforms import api as rest_api
from cloudformation.transforms import cognito
from cloudformation.transforms.function_url import URL as STREAM_URL
from cloudformation.transforms.parameters import ENDPOINT_OUTPUT

ENABLE = "EnableConsole"
ORIGIN_PARAMETER = "ConsoleOrigin"
ENABLED = "ConsoleEnabled"
ORIGIN_KNOWN = "ConsoleOriginKnown"
CORS_PARAMETER = "CorsAllowOrigins"
CORS_ENABLED = rest_api.CORS_ENABLED

BUCKET = "ConsoleBucket"
BUCKET_POLICY = "ConsoleBucketPolicy"
ORIGIN_ACCESS_CONTROL = "ConsoleOriginAccessControl"
HEADERS_POLICY = "ConsoleHeadersPolicy"
DISTRIBUTION = "ConsoleDistribution"
ORIGIN_ID = "console-bucket"
ROOT_OBJECT = "index.html"
NOT_FOUND_PAGE = "/404.html"
# AWS's managed cache policy "CachingOptimized" (CloudFront Developer Guide, "Use managed cache policies"):
# the origin's Cache-Control within 1 s .. 1 year, gzip and brotli, no cookies, headers or query strings.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
HSTS_SECONDS = 2 * 365 * 24 * 3600

PARAMETERS = {
    ENABLE: string_parameter(
        "true: the web console, served from a private S3 bucket through CloudFront (needs the stack's own "
        "user pool); false leaves it out",
        "true",
        AllowedValues=["true", "false"],
    ),
    ORIGIN_PARAMETER: string_parameter(
        "The console's origin (https://host) the API's CORS allows and the app client redirects to; "
        "scripts/deploy.sh sets it from the ConsoleUrl output once CloudFront has named the distribution",
        AllowedPattern=r"^(https://[a-z0-9.-]+(:[0-9]{1,5})?)?$",
        ConstraintDescription="empty, or https:// and a host name (no path, no trailing slash)",
    ),
}

# A name unique in the account (response headers policies and origin access controls are account-wide)
# and short enough for both (64 characters): the stack id's UUID, as the hosted UI's domain prefix.
_STACK_UUID = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
_UNIQUE_NAME = {"Fn::Join": ["-", ["tasks-console", _STACK_UUID]]}
_CONSOLE_URL = {"Fn::Sub": "${" + ORIGIN_PARAMETER + "}/"}
# Where the console's origin is known, what CorsAllowOrigins stood for: the console's origin first (the
# gateway's own error responses are readable by the first origin only: api.py), then CorsAllowOrigins if
# any; as a string, and as the list its Fn::Split made. Each choice is on a condition of its own (not an
# Fn::Or), so cfn-lint sees that no branch it takes holds an empty origin.
_BOTH = {"Fn::Join": [",", [{"Ref": ORIGIN_PARAMETER}, {"Ref": CORS_PARAMETER}]]}
WITH_CONSOLE = {"Fn::If": [CORS_ENABLED, _BOTH, {"Ref": ORIGIN_PARAMETER}]}
SPLIT_WITH_CONSOLE = {"Fn::If": [CORS_ENABLED, {"Fn::Split": [",", _BOTH]}, [{"Ref": ORIGIN_PARAMETER}]]}


def api_origin(template: Template) -> dict:
    """The API's origin (scheme and host), from the EndpointURL output either API step left."""
    endpoint = template.get("Outputs", {}).get(ENDPOINT_OUTPUT, {}).get("Value")
    url = endpoint.get("Fn::Sub") if isinstance(endpoint, dict) else None
    match = re.match(r"https://[^/]+", url) if isinstance(url, str) else None
    if match is None:
        raise ValueError(f"the console needs the {ENDPOINT_OUTPUT} output as an https:// Fn::Sub, found {endpoint}")
    return {"Fn::Sub": match.group(0)}


def content_security_policy(template: Template) -> dict:
    """The CSP: scripts, styles and images from the console only; fetches to the console (config.json),
    the API, the stream's function URL where there is one, and the hosted UI's token endpoint."""
    names: dict[str, Any] = {"ApiOrigin": api_origin(template), "AuthOrigin": cognito.AUTH_DOMAIN}
    connect = "'self' ${ApiOrigin}"
    if STREAM_URL in resources(template):  # the HTTP flavour: the stream has an origin of its own
        # FunctionUrl is https://<host>/: its third "/"-separated part is the host.
        host = {"Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": [STREAM_URL, "FunctionUrl"]}]}]}
        names["StreamOrigin"] = {"Fn::Join": ["", ["https://", host]]}
        connect += " ${StreamOrigin}"
    connect += " ${AuthOrigin}"
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "manifest-src 'self'",
        f"connect-src {connect}",
        "form-action 'self' ${AuthOrigin}",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
        "upgrade-insecure-requests",
    ]
    return {"Fn::Sub": ["; ".join(directives), names]}


def _bucket() -> dict:
    bucket: dict[str, Any] = {
        "Type": "AWS::S3::Bucket",
        "Condition": ENABLED,
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    }
    checkov_skip(
        bucket,
        "CKV_AWS_18",
        "It holds a copy of console/ from git, read only through CloudFront: server access logs would record "
        "CloudFront's origin fetches, not the viewers, and cost a second bucket.",
    )
    checkov_skip(
        bucket,
        "CKV_AWS_21",
        "Every deploy rewrites it from console/ in git, which keeps the history; old versions would only "
        "keep stale pages and make the bucket harder to empty.",
    )
    return bucket


def _bucket_policy() -> dict:
    bucket_arn = {"Fn::GetAtt": [BUCKET, "Arn"]}
    objects = {"Fn::Sub": "${" + BUCKET + ".Arn}/*"}
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Condition": ENABLED,
        "Properties": {
            "Bucket": {"Ref": BUCKET},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [bucket_arn, objects],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    {
                        "Sid": "ThisDistributionReads",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": objects,
                        "Condition": {
                            "StringEquals": {
                                "AWS:SourceArn": {
                                    "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${"
                                    + DISTRIBUTION
                                    + "}"
                                }
                            }
                        },
                    },
                ],
            },
        },
    }


def _origin_access_control() -> dict:
    return {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Condition": ENABLED,
        "Properties": {
            "OriginAccessControlConfig": {
                "Name": _UNIQUE_NAME,
                "Description": "The console's distribution signs its requests to the console bucket",
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4",
            }
        },
    }


def _headers_policy(template: Template) -> dict:
    return {
        "Type": "AWS::CloudFront::ResponseHeadersPolicy",
        "Condition": ENABLED,
        "Properties": {
            "ResponseHeadersPolicyConfig": {
                "Name": _UNIQUE_NAME,
                "Comment": "The console's security headers and content security policy",
                "SecurityHeadersConfig": {
                    "ContentSecurityPolicy": {
                        "ContentSecurityPolicy": content_security_policy(template),
                        "Override": True,
                    },
                    "StrictTransportSecurity": {
                        "AccessControlMaxAgeSec": HSTS_SECONDS,
                        "IncludeSubdomains": True,
                        "Preload": False,
                        "Override": True,
                    },
                    "ContentTypeOptions": {"Override": True},
                    "FrameOptions": {"FrameOption": "DENY", "Override": True},
                    # The page's URL carries the authorization code for a moment: no other origin sees it.
                    "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
                    # The legacy XSS auditor off (X-XSS-Protection: 0), as current browsers and OWASP advise.
                    "XSSProtection": {"Protection": False, "Override": True},
                },
                "CustomHeadersConfig": {
                    "Items": [
                        {"Header": "Cross-Origin-Opener-Policy", "Value": "same-origin", "Override": True},
                        {"Header": "Cross-Origin-Resource-Policy", "Value": "same-origin", "Override": True},
                        {
                            "Header": "Permissions-Policy",
                            "Value": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
                            "Override": True,
                        },
                    ]
                },
            }
        },
    }


def _error_page(status: int) -> dict:
    return {"ErrorCode": status, "ResponseCode": 404, "ResponsePagePath": NOT_FOUND_PAGE, "ErrorCachingMinTTL": 60}


def _distribution() -> dict:
    distribution: dict[str, Any] = {
        "Type": "AWS::CloudFront::Distribution",
        "Condition": ENABLED,
        "Properties": {
            "DistributionConfig": {
                "Enabled": True,
                "Comment": "The tasks-api web console",  # at most 128 characters: not the stack's name
                "DefaultRootObject": ROOT_OBJECT,
                "HttpVersion": "http2and3",
                "IPV6Enabled": True,
                "PriceClass": "PriceClass_100",
                "Origins": [
                    {
                        "Id": ORIGIN_ID,
                        "DomainName": {"Fn::GetAtt": [BUCKET, "RegionalDomainName"]},
                        "OriginAccessControlId": {"Fn::GetAtt": [ORIGIN_ACCESS_CONTROL, "Id"]},
                        "S3OriginConfig": {"OriginAccessIdentity": ""},  # empty with OAC
                    }
                ],
                "DefaultCacheBehavior": {
                    "TargetOriginId": ORIGIN_ID,
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "AllowedMethods": ["GET", "HEAD"],
                    "CachedMethods": ["GET", "HEAD"],
                    "Compress": True,
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "ResponseHeadersPolicyId": {"Ref": HEADERS_POLICY},
                },
                # S3 answers 403 for a key that is not there (CloudFront may not list the bucket).
                "CustomErrorResponses": [_error_page(403), _error_page(404)],
                "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
            }
        },
    }
    checkov_skip(
        distribution,
        "CKV_AWS_174",
        "The distribution's own *.cloudfront.net name has CloudFront's default certificate, whose security "
        "policy AWS fixes; choosing TLSv1.2_2021 needs a custom domain with an ACM certificate.",
    )
    checkov_skip(
        distribution,
        "CKV_AWS_68",
        "Static files of a single-page console, no origin logic to protect; a web ACL costs $5 a month plus "
        "$1 a rule and would end the stack's near-zero idle cost. The API keeps its own throttling.",
    )
    checkov_skip(
        distribution,
        "CKV_AWS_86",
        "Standard logs need a log bucket with ACLs enabled and record static file fetches only; the API's "
        "access logs record every call the console makes, and CloudFront's free metrics count requests.",
    )
    return distribution


def _references(node: Any, name: str) -> bool:
    return "${" + name + "}" in json.dumps(node)


def _with_console(node: Any) -> Any:
    """``node`` where the console's origin is known: CorsAllowOrigins replaced by the origins with it."""
    if node == {"Ref": CORS_PARAMETER}:
        return copy.deepcopy(WITH_CONSOLE)
    if node == {"Fn::Split": [",", {"Ref": CORS_PARAMETER}]}:
        return copy.deepcopy(SPLIT_WITH_CONSOLE)
    if isinstance(node, dict):
        return {key: _with_console(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_console(value) for value in node]
    return node


def _allow_console_origin(node: Any) -> Any:
    """``node`` with whatever reads CorsAllowOrigins (a Ref to it, or a choice on CorsEnabled) choosing
    first whether the console's origin is known: then CORS is on, and the console's origin comes first."""
    if isinstance(node, dict) and list(node) == ["Fn::If"] and node["Fn::If"][0] == CORS_ENABLED:
        _, on, _ = node["Fn::If"]
        return {"Fn::If": [ORIGIN_KNOWN, _with_console(on), node]}
    if node == {"Ref": CORS_PARAMETER}:
        return {"Fn::If": [ORIGIN_KNOWN, _with_console(node), node]}
    if isinstance(node, dict):
        return {key: _allow_console_origin(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_allow_console_origin(value) for value in node]
    return node


def _redirect_to_the_console(template: Template) -> None:
    client = resources(template).get("UserPoolClient")
    if client is None:
        raise ValueError("the console signs in through the stack's own app client: run cognito first")
    props = client["Properties"]
    props["CallbackURLs"] = {
        "Fn::If": [
            ORIGIN_KNOWN,
            {"Fn::Split": [",", {"Fn::Join": [",", [_CONSOLE_URL, {"Ref": "AuthCallbackUrls"}]]}]},
            props["CallbackURLs"],
        ]
    }
    props["LogoutURLs"] = {"Fn::If": [ORIGIN_KNOWN, [_CONSOLE_URL], NO_VALUE]}


def transform(template: Template) -> Template:
    out = clone(template)
    conditions = out.get("Conditions", {})
    if CORS_PARAMETER not in out.get("Parameters", {}) or CORS_ENABLED not in conditions:
        raise ValueError("the console runs after the steps that read CorsAllowOrigins (functions, api or http_api)")
    if cognito.CREATE not in conditions:
        raise ValueError("the console runs after cognito (the hosted UI and the app client)")
    if any(_references(r, CORS_PARAMETER) for r in resources(out).values()):
        raise ValueError("CorsAllowOrigins inside an Fn::Sub string: only Refs to it can take the console's origin")
    add_parameters(out, PARAMETERS)
    add_condition(out, ENABLED, {"Fn::And": [{"Fn::Equals": [{"Ref": ENABLE}, "true"]}, {"Condition": cognito.CREATE}]})
    add_condition(
        out,
        ORIGIN_KNOWN,
        {"Fn::And": [{"Condition": ENABLED}, {"Fn::Not": [{"Fn::Equals": [{"Ref": ORIGIN_PARAMETER}, ""]}]}]},
    )
    out["Resources"] = _allow_console_origin(resources(out))
    _redirect_to_the_console(out)
    add_resource(out, BUCKET, _bucket())
    add_resource(out, BUCKET_POLICY, _bucket_policy())
    add_resource(out, ORIGIN_ACCESS_CONTROL, _origin_access_control())
    add_resource(out, HEADERS_POLICY, _headers_policy(out))
    add_resource(out, DISTRIBUTION, _distribution())
    add_output(out, "ConsoleUrl", {"Fn::Sub": "https://${" + DISTRIBUTION + ".DomainName}/"}, ENABLED)
    add_output(out, "ConsoleBucket", {"Ref": BUCKET}, ENABLED)
    add_output(out, "ConsoleDistributionId", {"Ref": DISTRIBUTION}, ENABLED)
    # What the API allows now: scripts/deploy.sh compares it with ConsoleUrl to know whether to pass it in.
    add_output(out, "AllowedConsoleOrigin", {"Ref": ORIGIN_PARAMETER}, ORIGIN_KNOWN)
    return out
