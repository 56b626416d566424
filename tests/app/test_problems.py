"""What a handler's failure becomes: an AppError its own documented problem; a storage outcome that escapes
a service (errors.StoreOutcome) is a bug, answered as a logged 500, never a status docs/API.md does not list."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TypeVar

import pytest

from chalicelib import errors
from chalicelib.protocol import context
from chalicelib.protocol import problems
from chalicelib.web.responses import endpoint

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
T = TypeVar("T")


def _subclasses(cls: type[T]) -> list[type[T]]:
    return [cls] + [sub for direct in cls.__subclasses__() for sub in _subclasses(direct)]


@pytest.mark.parametrize(
    "outcome",
    [
        errors.ConditionFailed(existing=None, index=1),
        errors.TransactionConflict("another request is changing the same records"),
    ],
    ids=["condition-failed", "transaction-conflict"],
)
def test_a_storage_outcome_escaping_a_service_is_an_unhandled_500_logged_once(outcome, caplog):
    context.begin("escape-1")

    @endpoint
    def view():
        raise outcome

    with caplog.at_level(logging.INFO):
        response = view()

    assert response.status_code == 500 and response.headers["Content-Type"] == problems.PROBLEM_JSON
    body = json.loads(response.body)
    assert (body["code"], body["request_id"]) == ("internal_error", "escape-1")
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.error == "unhandled" and error.exc_info[1] is outcome


def test_every_status_a_problem_can_have_is_documented():
    documented = set(re.findall(r"`([1-5][0-9][0-9])[` ]", API_DOC.read_text()))
    statuses = {str(cls.status) for cls in _subclasses(errors.AppError)}
    assert statuses <= documented, statuses - documented
