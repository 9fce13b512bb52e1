"""``python -m bench.archive_memory``, small: its checks must hold (every
live conversation kept, every closed one archived once and none left live).
The figures themselves are recorded in bench/README.md, not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import REPO


def test_archive_memory_bench_runs_and_its_checks_hold(tmp_path: Path) -> None:
    out = tmp_path / "archive.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.archive_memory", "--live", "40", "--archived", "300", "--control", "60",
         "--messages", "4", "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["checks"] == {"live_kept": True, "closed_left_live": 0, "archived_once": True}
    assert report["redis_bytes_per_live_before"] > 0 and report["redis_bytes_per_closed_unforgotten"] > 0
