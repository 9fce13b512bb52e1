"""Metrics counted through their helpers end up in the rendered text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chatd.metrics import Metrics


def test_stored_messages_are_counted_by_role() -> None:
    metrics = Metrics()
    for role in ("visitor", "visitor", "agent", "bot"):
        metrics.message_stored(role)
    text = metrics.render().decode()
    assert 'chatd_messages_total{role="visitor"} 2.0' in text
    assert 'chatd_messages_total{role="agent"} 1.0' in text
    assert 'chatd_messages_total{role="bot"} 1.0' in text


_UNDER_COLLECTIONS = """
import gc
from chatd.metrics import Metrics
metrics = Metrics()
metrics.watch_gc()
gc.set_threshold(2, 1000, 1000)  # a young collection every few allocations, inside metric updates too
for i in range(20_000):
    metrics.message_stored("visitor")
    metrics.store_call("append", 0.001)
    metrics.placed("general", i % 30)
    junk = [[i] for _ in range(3)]
metrics.flush_gc()
print("done")
"""


def test_collections_inside_metric_updates_do_not_deadlock_in_multiprocess_mode(tmp_path: Path) -> None:
    # One lock guards every value in multiprocess mode; a collector pass that
    # starts under it must not touch a metric.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _UNDER_COLLECTIONS], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "done", done.stderr
