"""``python -m bench.router_assign`` end to end, small: two worker processes
drain a real Redis prefix of their own; the report's checks must hold and
the prefix must be gone afterwards. The rate is not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis

from tests.support import REDIS_URL, REPO, require_redis


def test_router_assign_drains_every_conversation_once(tmp_path: Path) -> None:
    require_redis()
    out = tmp_path / "assign.json"
    before = set(redis.Redis.from_url(REDIS_URL).scan_iter(match="chatd-bench-assign-*", count=1000))
    done = subprocess.run(
        [sys.executable, "-m", "bench.router_assign", "--redis-url", REDIS_URL, "--agents", "30",
         "--capacity", "4", "--conversations", "100", "--workers", "2", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["assigned"] == 100 and report["unassigned"] == 0
    assert report["over_capacity"] == [] and report["load_mismatch"] == []
    assert sum(worker["assigned"] for worker in report["per_worker"]) == 100
    assert report["assignments_per_second"] > 0 and report["redis_cpu_seconds"] >= 0
    after = set(redis.Redis.from_url(REDIS_URL).scan_iter(match="chatd-bench-assign-*", count=1000))
    assert after <= before  # the bench deleted its prefix
