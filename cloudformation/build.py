"""The post-processor: ``python -m cloudformation.build out/sam.yaml -o dist/`` turns the template
``chalice package`` wrote into the deployable ``dist/template.yaml``, through the pipeline below."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from cloudformation.template import Template
from cloudformation.template import dump
from cloudformation.template import load
from cloudformation.transforms import api
from cloudformation.transforms import cognito
from cloudformation.transforms import functions
from cloudformation.transforms import iam
from cloudformation.transforms import image
from cloudformation.transforms import observability
from cloudformation.transforms import queues
from cloudformation.transforms import stream
from cloudformation.transforms import streaming
from cloudformation.transforms import tables

# Read top to bottom: each step is a pure template -> template function (cloudformation/transforms/).
# Order matters where a step reads what an earlier one made: streaming copies the image settings;
# the settings, auth, table and queue steps set variables on every function, the streaming one too;
# the stream step overrides the queue settings of the forwarder, which exists only with the queue;
# iam grants each function its own log group, which observability creates.
PIPELINE: list[Callable[[Template], Template]] = [
    image.transform,  # PackageType: Image, ImageUri and Architecture parameters, handler as command
    streaming.transform,  # the streaming function and POST /assistant/stream with STREAM transfer mode
    functions.transform,  # every function's settings: stage, JSON logs, cursor key, assistant, CORS
    cognito.transform,  # user pool (created or existing), the authorizer's ARN and OAuth scope
    tables.transform,  # EnableTasksTable -> the single table, STORE and TABLE_NAME
    queues.transform,  # EnableSqsIntegration -> activity queue, DLQ, consumers with partial batches
    stream.transform,  # the table's stream -> the forwarder (filtered, bisect, retried), its failure queue
    observability.transform,  # log groups (30 days), metric filters, alarms, SNS topic, dashboard
    iam.transform,  # one least-privilege role per function instead of Chalice's DefaultRole
    api.transform,  # REGIONAL, throttling, tracing, access logs, tags, problem gateway responses
]


def build(template: Template) -> Template:
    for step in PIPELINE:
        template = step(template)
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudformation.build", description=__doc__)
    parser.add_argument("template", help="the sam.yaml (or sam.json) chalice package wrote")
    parser.add_argument("-o", "--output-dir", default="dist", help="where template.yaml goes (default: dist)")
    args = parser.parse_args(argv)
    with open(args.template, encoding="utf-8") as source:
        template = load(source.read())
    os.makedirs(args.output_dir, exist_ok=True)
    target = os.path.join(args.output_dir, "template.yaml")
    with open(target, "w", encoding="utf-8") as sink:
        sink.write(dump(build(template)))
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
