"""Run in a fresh interpreter by the cold runner: import one handler module, answer one event, and
report monotonic timestamps (comparable with the parent's: CLOCK_MONOTONIC is system-wide)."""

import time

T_TOP = time.clock_gettime_ns(time.CLOCK_MONOTONIC)

import json  # noqa: E402  (after the first timestamp on purpose)
import sys  # noqa: E402

from lambda_context import LambdaContext  # noqa: E402  (this script's own folder, like the runtime's code)

# Loaded by the time the first response is out? Reported so a figure can say what its path paid for.
WATCHED = ("boto3", "botocore", "jwt", "cryptography", "msgspec", "sqlite3", "urllib.request")


# A copy of harness.peak_rss_kb on purpose: this child must not import the harness (its imports would
# count in the cold figures it measures).
def peak_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    with open(sys.argv[1]) as spec_file:
        spec = json.load(spec_file)
    # Like Lambda's task root: the app's folder first, and not this script's folder at all.
    sys.path[0] = spec["app_dir"]
    modules_before = len(sys.modules)
    t_ready = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    module = __import__(spec["module"])
    handler = getattr(module, spec.get("handler", "app"))
    t_import = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    response = handler(spec["event"], LambdaContext())
    t_first = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    result = {
        "t_top": T_TOP,
        "t_ready": t_ready,
        "t_import": t_import,
        "t_first": t_first,
        "status": response.get("statusCode"),
        "body": response.get("body", "")[:500],
        "modules": len(sys.modules) - modules_before,
        "loaded": [name for name in WATCHED if name in sys.modules],
        "peak_rss_kb": peak_rss_kb(),
    }
    with open(sys.argv[2], "w") as out:
        json.dump(result, out)


main()
