"""Fixtures for the real-server tier: chatd subprocesses per engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ChatdProcess, require_redis

# Tests that push hundreds of frames at once raise the per-connection limits.
BURSTY = {"CHATD_RATE_LIMIT_PER_SECOND": "5000", "CHATD_RATE_LIMIT_BURST": "5000"}


@pytest.fixture(params=["memory", "redis"])
def chatd(request: pytest.FixtureRequest) -> Iterator[ChatdProcess]:
    """A running chatd with demo data, once per engine."""
    if request.param == "redis":
        require_redis()
    with ChatdProcess(request.param, env=BURSTY) as server:
        yield server


@pytest.fixture
def chatd_memory() -> Iterator[ChatdProcess]:
    with ChatdProcess("memory") as server:
        yield server
