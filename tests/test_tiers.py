"""The fast tier (tests/support/tiers.py): what makes a test slow, the guard that fails a fast test which
starts a process anyway, and the one issuer key per run that keeps token-minting tests fast."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from tests.support import dynamodb_local
from tests.support import queues
from tests.support.tiers import Reach

pytest_plugins = ["pytester"]

SAMPLE = """
import json
import subprocess
from subprocess import run as run_it


def runs_a_child():
    subprocess.run(["true"])


def through_a_helper():
    return runs_a_child()


def through_an_alias():
    run_it(["true"])


class Server:
    def start(self):
        self.process = subprocess.Popen(["true"])


def through_a_method():
    Server().start()


def through_a_function_level_import():
    from tiers_sample_helpers import start

    return start()


def pure():
    return json.dumps({"a": 1})


def through_a_pure_helper():
    return pure()
"""


def test_code_that_can_reach_subprocess_through_helpers_classes_and_lazy_imports_is_slow(tmp_path, monkeypatch):
    (tmp_path / "tiers_sample_helpers.py").write_text("import os\n\n\ndef start():\n    os.system('true')\n")
    (tmp_path / "tiers_sample.py").write_text(SAMPLE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("tiers_sample", "tiers_sample_helpers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    sample = importlib.import_module("tiers_sample")
    importlib.import_module("tiers_sample_helpers")  # a lazy import is followed once its module is loaded
    reach = Reach(tmp_path)  # the sample stands for the repository's own code

    assert [
        name
        for name in (
            "runs_a_child",
            "through_a_helper",
            "through_an_alias",
            "through_a_method",
            "through_a_function_level_import",
        )
        if not reach.spawns(getattr(sample, name))
    ] == []
    assert not reach.spawns(sample.pure) and not reach.spawns(sample.through_a_pure_helper)
    assert not Reach().spawns(sample.runs_a_child)  # outside the repository: the guard's business, not the reader's


def test_the_dynamodb_local_helper_is_slow_and_the_recording_queue_is_not():
    reach = Reach()
    assert reach.spawns(dynamodb_local.running_dynamodb_local)
    assert not reach.spawns(queues.RecordingQueue)


INNER = """
import pytest


@pytest.fixture(params=["sqlite", "dynamodb"])
def adapter(request):
    return request.param


def test_plain():
    pass


def test_on_each(adapter):
    pass


@pytest.mark.parametrize("store", [object(), object()], ids=["sqlite", "dynamodb"])
def test_on_each_by_id(store):
    pass


@pytest.mark.e2e
def test_end_to_end():
    pass
"""


def test_the_fast_tier_leaves_out_e2e_tests_and_dynamodb_variants(pytester):
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess(
        "-p",
        "tests.support.tiers",
        "-p",
        "no:cacheprovider",
        "-m",
        "not slow",
        "-W",
        "ignore::pytest.PytestUnknownMarkWarning",
        "-v",
    )
    result.assert_outcomes(passed=3, deselected=3)
    result.stdout.fnmatch_lines(
        ["*test_plain PASSED*", "*test_on_each?sqlite? PASSED*", "*test_on_each_by_id?sqlite? PASSED*"]
    )


GUARDED = """
import subprocess
import sys

import pytest


def test_a_miss():
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    except Exception:
        pass  # what the code under test might do: the guard's failure is not an Exception


@pytest.mark.slow
def test_marked_slow():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


# Slow on purpose: in the fast tier this test's own guard would refuse the inner slow test's child too.
@pytest.mark.slow
def test_a_fast_test_that_starts_a_process_fails_and_a_slow_one_may(pytester):
    # Inner tests live outside the repository, so the classifier cannot see them: a miss, as the guard meets it.
    pytester.makepyfile(test_guarded=GUARDED)
    result = pytester.runpytest_inprocess("-p", "tests.support.tiers", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_a_miss FAILED*", "*test_marked_slow PASSED*", "*a fast-tier test started a process (subprocess.Popen)*"]
    )


def test_seeded_data_dirs_share_one_issuer_key_and_a_dir_with_a_key_keeps_it(tmp_path):
    from chalicelib.auth.local_issuer import ensure_keys
    from chalicelib.auth.local_issuer import issuer_dir
    from tests.support.issuer_key import seed_issuer_key

    first, second, own = (str(tmp_path / name) for name in ("first", "second", "own"))
    own_kid = ensure_keys(issuer_dir(own)).kid
    for data_dir in (first, second, own):
        seed_issuer_key(data_dir)

    kids = [ensure_keys(issuer_dir(data_dir)).kid for data_dir in (first, second, own)]
    assert kids[0] == kids[1] != kids[2] == own_kid
    assert os.stat(os.path.join(issuer_dir(first), "private_key.pem")).st_mode & 0o777 == 0o600
