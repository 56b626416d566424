"""Run in a fresh interpreter with Lambda's environment: (optionally) install a stand-in for the Lambda
runtime's own root log handler, import the app, invoke ``app.app`` (or the spec's ``handler``, e.g. a
consumer's ``on_table_change``) once per event of the spec, and print
each invocation's output between markers, then what got imported."""

import json
import logging
import os
import sys

MARK = "=== "


class LambdaContext:
    def __init__(self, n: int) -> None:
        self.aws_request_id = f"lambda-request-{n}"
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "fn")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = "512"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class RuntimeHandler(logging.Handler):
    """What awslambdaric puts on the root logger: "[LEVEL]\\ttimestamp\\trequest id\\tmessage"."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(f"[{record.levelname}]\t-\t-\t{record.getMessage()}\n")


def main() -> None:
    with open(sys.argv[1]) as spec_file:
        spec = json.load(spec_file)
    sys.path.insert(0, spec["project"])
    if spec.get("runtime_handler"):
        logging.getLogger().addHandler(RuntimeHandler())
    import app

    handler = getattr(app, spec.get("handler") or "app")
    for n, event in enumerate(spec["events"]):
        print(f"{MARK}invocation {n}", flush=True)
        response = handler(event, LambdaContext(n))
        print(f"{MARK}response {json.dumps(response)}", flush=True)
    patched = []
    if "aws_xray_sdk.core.patcher" in sys.modules:
        patched = sorted(sys.modules["aws_xray_sdk.core.patcher"]._PATCHED_MODULES)
    loaded = sorted(
        name
        for name in sys.modules
        if name.startswith(("aws_xray_sdk", "chalicelib.observability", "chalicelib.faults"))
    )
    print(f"{MARK}result {json.dumps({'loaded': loaded, 'patched': patched})}", flush=True)


main()
