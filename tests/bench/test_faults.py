"""``python -m bench faults`` end to end, small and short: two chatd nodes on a
Redis server of the bench's own, a node killed, Redis killed, and a Redis host
crash (Redis started again from files a second old). The test checks what the
bench reports against the documented loss windows: nothing acknowledged lost
except what the host crash's last second held, nothing acknowledged left
undelivered, nothing stored twice or out of order, and clients resynced after
each Redis restart. Timings are measured by the bench, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench.test_scenarios import run_bench


def test_faults_lose_only_the_host_crash_window(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "faults", "--conversations", "6", "--rate", "30", "--duration", "12",
                       "--only", "node_kill", "--only", "redis_kill", "--only", "host_crash")
    assert result["ok"], result
    faults = {f["fault"]: f for f in result["per_fault"]}
    assert list(faults) == ["before any fault", "node_kill", "redis_kill", "host_crash"]
    assert result["acknowledged"] == result["sent"] > 0
    assert (result["acknowledged_but_undelivered"], result["stored_twice"],
            result["stored_out_of_order_for_a_sender"], result["delivered_out_of_order"]) == (0, 0, 0, 0)
    for name in ("before any fault", "node_kill", "redis_kill"):
        assert faults[name]["acknowledged_and_lost"] == 0, faults[name]
    crash = faults["host_crash"]
    assert crash["lost_within_documented_window"], crash
    assert faults["redis_kill"]["error_count"] == 0, faults["redis_kill"]
    for name in ("node_kill", "redis_kill", "host_crash"):
        assert faults[name]["recovery_seconds"] is not None, faults[name]  # every conversation delivers again
    # Redis came back twice under a new run id: every client was resynced, each time.
    assert result["resyncs"] >= 2 * 2 * result["conversations"]
