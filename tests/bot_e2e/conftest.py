"""Real chatd processes for the bot's end-to-end tests: one per engine, shared by the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ChatdProcess, require_redis


@pytest.fixture(scope="module", params=["memory", "redis"])
def chatd(request: pytest.FixtureRequest) -> Iterator[ChatdProcess]:
    if request.param == "redis":
        require_redis()
    with ChatdProcess(request.param) as server:
        yield server


@pytest.fixture(scope="module")
def chatd_memory() -> Iterator[ChatdProcess]:
    with ChatdProcess("memory") as server:
        yield server
