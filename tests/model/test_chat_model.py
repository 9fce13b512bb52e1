"""Model-based test: real chatd nodes through random sequences of real operations.

Seeded random walks (:mod:`tests.model.walk`) of what a support team and its
customers do: start (also twice at once, from two tabs), messages both ways,
accept, decline and let offers lapse, transfers to an agent and to another
group, chats handed on and back, a supervisor's reassign, agents dropping and
coming back within and past the grace period, close, reopen, rate; and with
the Redis engine, faults: kill -9 of a node, every node's pub/sub connection
cut while the agents reconnect, Redis restarted by SIGTERM or SIGKILL. After
every step that did something, :meth:`tests.model.harness.Team.settle_and_check`
checks the deployment against the model (which includes: no client is ever
sent an entry it already has, within one log epoch). A failing walk is
shrunk and printed, with the seed that replays it.

Two deployments are driven: one node on the memory engine, and two nodes on a
Redis server of the test's own. ``make test`` runs a fixed small budget (the
same walks every time); longer runs::

    CHATD_MODEL_WALKS=30 CHATD_MODEL_STEPS=40 CHATD_MODEL_SEED=7 .venv/bin/python -m pytest tests/model
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.model.harness import Deployment, Loop
from tests.model.walk import Step, WalkFailed, generate, run_walk, shrink
from tests.support import require_redis

WALKS = int(os.environ.get("CHATD_MODEL_WALKS", "3"))
STEPS = int(os.environ.get("CHATD_MODEL_STEPS", "14"))
SEED = int(os.environ.get("CHATD_MODEL_SEED", "2026"))
SHRINK_SECONDS = float(os.environ.get("CHATD_MODEL_SHRINK_SECONDS", "300"))
VERBOSE = os.environ.get("CHATD_MODEL_VERBOSE") == "1"


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


def _print_step(at: int, step: Step, seconds: float) -> None:
    if VERBOSE:
        print(f"  {at:3d} {step} {seconds:.1f}s", flush=True)


@pytest.mark.parametrize("engine", ["memory", "redis"])
def test_a_support_team_at_work(engine: str, loop: Loop, tmp_path: Path) -> None:
    if engine == "redis":
        require_redis()  # the walk runs its own Redis; a machine without the shared one is broken
    deployment = Deployment(engine, tmp_path)
    try:
        for walk_number in range(WALKS):
            seed = SEED * 1000 + walk_number
            walk = generate(random.Random(seed), STEPS, faults=deployment.faults)
            try:
                loop.run(run_walk(deployment, walk, seed, _print_step), timeout=3600)
            except WalkFailed as failed:
                shrunk = loop.run(shrink(deployment, failed, seed, SHRINK_SECONDS), timeout=SHRINK_SECONDS + 600)
                steps = "\n".join(f"  {n:3d} {s}" for n, s in enumerate(shrunk.walk))
                pytest.fail(f"walk {walk_number} (seed {seed}, engine {engine}) failed at step {failed.at}: "
                            f"{failed.problem}\nshrunk to {len(shrunk.walk)} steps, failing with "
                            f"{shrunk.problem}:\n{steps}", pytrace=False)
    finally:
        deployment.close()
