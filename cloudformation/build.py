"""The post-processor: ``python -m cloudformation.build out/sam.yaml -o dist/ [--api rest|http]`` turns the
template ``chalice package`` wrote into the deployable ``dist/template.yaml``, through the pipeline below.

Two flavours of the same app: ``rest`` (the default: API Gateway's REST API, which streams the assistant on
the API's own origin, answers its own errors as problem documents and traces the stage with X-Ray) and
``http`` (an API Gateway v2 HTTP API with a JWT authorizer: cheaper, fewer features; docs/DEPLOY.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from cloudformation.template import Template
from cloudformation.template import dump
from cloudformation.template import load
from cloudformation.transforms import api
from cloudformation.transforms import budget
from cloudformation.transforms import chat_commands
from cloudformation.transforms import cognito
from cloudformation.transforms import concurrency
from cloudformation.transforms import console
from cloudformation.transforms import domain
from cloudformation.transforms import function_url
from cloudformation.transforms import functions
from cloudformation.transforms import http_api
from cloudformation.transforms import iam
from cloudformation.transforms import image
from cloudformation.transforms import network
from cloudformation.transforms import notifier
from cloudformation.transforms import observability
from cloudformation.transforms import parameters
from cloudformation.transforms import queues
from cloudformation.transforms import stream
from cloudformation.transforms import streaming
from cloudformation.transforms import tables
from cloudformation.transforms import tags

Step = Callable[[Template], Template]
REST = "rest"
HTTP = "http"
FLAVOURS = (REST, HTTP)
DEFAULT_FLAVOUR = REST
BOTH = frozenset(FLAVOURS)
# Where this file was built for, so scripts/deploy.sh can tell which stack it deploys.
FLAVOUR_FILE = "api-flavour"

# Read top to bottom: each step is a pure template -> template function (cloudformation/transforms/), run
# for the flavours it names. Order matters where a step reads what an earlier one made: streaming copies
# the image settings; the settings, auth, table and queue steps set variables on every function, the
# streaming one too; the stream step overrides the queue settings of the forwarder, which exists only with
# the queue; http_api reads the routes and scopes cognito and streaming left in Chalice's swagger, and
# observability reads whichever API is there; the notifier must come before observability and iam, which
# give it its log group, alarms and role like any function; network follows the notifier and the function URL
# (both keep their function out of the VPC) and precedes iam, which grants the functions it placed there the
# network-interface actions; iam grants each function its own log group, which observability creates;
# concurrency points every integration and invoke permission of the API and streaming functions at their alias
# (with provisioned concurrency on), so it follows every step that makes one (Chalice's swagger, streaming and
# api's catch-all copies in REST; http_api and function_url in HTTP), and keeps the cap function_url gave the
# stream; domain maps whichever API is there and health-checks the EndpointURL it left; console reads the API's
# origin and rewrites whatever reads CorsAllowOrigins, so it follows every API step; parameters publishes the
# EndpointURL output either API step left; tags runs last, so it tags whatever every step before it added.
PIPELINE: list[tuple[Step, frozenset[str]]] = [
    (image.transform, BOTH),  # PackageType: Image, ImageUri and Architecture parameters, handler as command
    (streaming.transform, BOTH),  # the streaming function and POST /assistant/stream with STREAM transfer mode
    (functions.transform, BOTH),  # every function's settings: stage, JSON logs, cursor key, assistant, CORS
    (chat_commands.transform, BOTH),  # the region switch (SSM), the chat commands' settings for the API
    (cognito.transform, BOTH),  # user pool (created or existing), the authorizer's ARN and OAuth scope
    (tables.transform, BOTH),  # EnableTasksTable, TableRegions -> single or global table, STORE, TABLE_NAME
    (queues.transform, BOTH),  # EnableSqsIntegration -> activity queue, DLQ, consumers with partial batches
    (stream.transform, BOTH),  # the table's stream -> the forwarder (filtered, bisect, retried), its failure queue
    (notifier.transform, BOTH),  # EnableChatAlerts -> the notifier on the alarm topic, its webhook's SSM name
    # --- the HTTP flavour's own steps -----------------------------------------------------------------
    (http_api.transform, frozenset({HTTP})),  # the REST API -> an HTTP API: routes, JWT authorizer, CORS, logs
    (
        function_url.transform,
        frozenset({HTTP}),
    ),  # the stream: a function URL (RESPONSE_STREAM) on the streaming function
    # --- shared again -----------------------------------------------------------------------------------
    (network.transform, BOTH),  # PrivateNetwork -> private subnets, VPC endpoints, security groups, VpcConfig
    (observability.transform, BOTH),  # log groups (30 days), metric filters, alarms, SNS topic, dashboard
    (iam.transform, BOTH),  # one least-privilege role per function instead of Chalice's DefaultRole
    # --- the REST flavour's own steps -----------------------------------------------------------------
    (api.transform, frozenset({REST})),  # REGIONAL, throttling, tracing, access logs, tags, problem responses
    # --- shared again: what needs every integration and permission of either API ----------------------
    (concurrency.transform, BOTH),  # alias live for the API and stream, invoked when provisioned; reserved caps
    (domain.transform, BOTH),  # DomainName -> regional custom domain, /health check, latency record (regions)
    # --- shared again: what reads the finished stack ----------------------------------------------------
    (console.transform, BOTH),  # EnableConsole -> private bucket, CloudFront (OAC, HTTPS, CSP), its origin in CORS
    (budget.transform, BOTH),  # MonthlyBudget -> a budget on the cost-center tag, told to the alarm topic
    (parameters.transform, BOTH),  # the API URL, table, queue and topic published under the stage's SSM prefix
    (tags.transform, BOTH),  # last: app, stage and cost-center tags on every resource that takes them
]


def steps(flavour: str = DEFAULT_FLAVOUR) -> list[Step]:
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown API flavour {flavour!r}: one of {', '.join(FLAVOURS)}")
    return [step for step, flavours in PIPELINE if flavour in flavours]


def build(template: Template, flavour: str = DEFAULT_FLAVOUR) -> Template:
    for step in steps(flavour):
        template = step(template)
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudformation.build", description=__doc__)
    parser.add_argument("template", help="the sam.yaml (or sam.json) chalice package wrote")
    parser.add_argument("-o", "--output-dir", default="dist", help="where template.yaml goes (default: dist)")
    parser.add_argument(
        "--api", choices=FLAVOURS, default=DEFAULT_FLAVOUR, help=f"the API flavour (default: {DEFAULT_FLAVOUR})"
    )
    args = parser.parse_args(argv)
    with open(args.template, encoding="utf-8") as source:
        template = load(source.read())
    os.makedirs(args.output_dir, exist_ok=True)
    target = os.path.join(args.output_dir, "template.yaml")
    with open(target, "w", encoding="utf-8") as sink:
        sink.write(dump(build(template, args.api)))
    with open(os.path.join(args.output_dir, FLAVOUR_FILE), "w", encoding="utf-8") as sink:
        sink.write(args.api + "\n")
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
