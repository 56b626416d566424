"""Fixtures for the streaming runtime: a stand-in assistant service installed in the composition root,
JSON logs and EMF metrics, the handler invoked on one event, and the fake Lambda Runtime API of
tests/support/runtime_api.py (a real HTTP server reading chunked bodies)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.output import Output
from tests.support.runtime_api import FakeRuntimeApi
from tests.support.runtime_api import Streamed
from tests.support.streaming import FakeAssistant
from tests.support.streaming import LambdaContext
from tests.support.streaming import Recorder


@pytest.fixture
def assistant(env) -> Callable[..., FakeAssistant]:
    """Call it to install a FakeAssistant as the app's assistant service."""

    def install(*args: Any, **kwargs: Any) -> FakeAssistant:
        fake = FakeAssistant(*args, **kwargs)
        env.install(assistant=fake)
        return fake

    return install


@pytest.fixture
def streaming(env):
    """JSON logs and EMF metrics, as deployed (outside Lambda: tokens are verified here)."""
    env(LOG_FORMAT="json", METRICS="emf")
    return env


@pytest.fixture
def invoke(capsys) -> Callable[..., tuple[Streamed, Output]]:
    """Run the handler on one event: (the response taken apart, what it logged)."""
    from chalicelib.streaming import handler

    def run(event: dict[str, Any], write: Recorder | None = None) -> tuple[Streamed, Output]:
        capsys.readouterr()
        write = write or Recorder()
        handler.handle(event, LambdaContext(), write)
        got = capsys.readouterr()
        return write.streamed(), Output.parse(got.out, got.err)

    return run


# --- a fake Lambda Runtime API (tests/support/runtime_api.py) ---------------------------------------


@pytest.fixture
def runtime_api() -> Iterator[FakeRuntimeApi]:
    with FakeRuntimeApi() as api:
        yield api
