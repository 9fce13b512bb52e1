"""Every scenario end to end, small and short: ``python -m bench <scenario>``
starts a real chatd (Redis engine, its own key prefix in the test database)
and, for chat, the python-socketio baseline; the test checks the shape of
``result.json`` and that nothing was lost or duplicated. The figures
themselves are not asserted: performance is measured, never timed in tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support import REDIS_URL, REPO, ChatdProcess, login, require_redis

LATENCY_KEYS = {"count", "p50", "p90", "p99", "p99_9", "max"}
STEP_KEYS = {"offered_msgs_per_s", "sent", "acked", "delivered", "delivered_msgs_per_s", "lost", "unacked",
             "refused", "duplicated", "stored_twice", "out_of_order", "latency_ms", "ack_latency_ms", "typing", "read",
             "server", "redis", "loadgen", "machine", "connection_events"}
# Small runs on a shared machine: p99 is not what these tests are about.
LOOSE = ["--p99-target", "60000"]


def run_bench(tmp_path: Path, *args: str, timeout: float = 150) -> dict[str, Any]:
    require_redis()
    command = [sys.executable, "-m", "bench", *args, "--out", str(tmp_path), "--quiet", "--procs", "1",
               "--redis-url", REDIS_URL, "--max-seconds", str(timeout - 20)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    results = sorted(tmp_path.glob("*/result.json"))
    assert results, f"no result.json\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"
    result = json.loads(results[-1].read_text())
    assert "error" not in result, result.get("traceback") or result["error"]
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert result["scenario"] == args[0]
    assert result["command"].startswith("python -m bench " + args[0])
    assert {"cpus", "loadavg", "loadavg_end"} <= set(result["machine"])
    for plot in result["plots"]:
        assert (results[-1].parent / plot).read_bytes().startswith(b"\x89PNG")
    _no_keys_left(result["run_id"])
    return result


def _no_keys_left(run_id: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert not list(client.scan_iter(match=f"chatdbench:{run_id}*", count=1000))
    finally:
        client.close()


def _clean(step: dict[str, Any]) -> None:
    assert STEP_KEYS <= set(step)
    for direction in ("visitor_to_agent", "agent_to_visitor", "all"):
        assert set(step["latency_ms"][direction]) == LATENCY_KEYS
    assert step["delivered"] > 0
    assert (step["lost"], step["unacked"], step["refused"], step["duplicated"], step["out_of_order"]) == (0,) * 5
    assert step["delivered"] == step["acked"] == step["sent"]
    assert step["typing"]["sent"] > 0 and step["read"]["sent"] > 0
    assert step["server"]["cpu_percent"] is not None
    assert len(step["loadgen"]["cpu_percent"]) == step["loadgen"]["processes"] == 1


def test_chat_against_chatd_and_the_baseline(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "chat", "--conversations", "6", "--per-agent", "3", "--rate", "60",
                       "--duration", "1.5", "--warmup", "0.5", *LOOSE)
    for name in ("chatd", "baseline"):
        _clean(result[name])
        target = result[name]["target"]
        assert target["no_loss"] and target["no_duplicates"] and target["in_order"]
        assert set(target) >= {"p99_ms", "p99_within_target", "rate_reached", "met"}
    assert result["chatd"]["setup"]["agents"] == 2
    assert result["chatd"]["deployment"]["engine"] == "redis"
    assert result["chatd"]["redis"]["cpu_percent"] is not None
    assert set(result["ratio_chatd_to_baseline"]) >= {"p50_latency", "p99_latency", "delivered_msgs_per_s"}
    assert result["plots"] == ["latency.png"]
    assert any("p99_ms" in entry for entry in result["timeline"])


def test_idle(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "idle", "--connections", "60", "--hold", "0.5")
    figures = result["chatd"]
    assert (figures["open_after_hold"], figures["failed"]) == (60, 0)
    assert figures["connect_rate_per_s"] > 0
    assert figures["connect_ms"]["count"] == 60
    assert figures["server"]["rss_after_mib"] > 0
    assert "rss_per_connection_kib" in figures["server"]
    assert "file_limit" in figures
    baseline = result["baseline"]
    assert (baseline["open_after_hold"], baseline["failed"]) == (60, 0)
    assert baseline["server"]["rss_after_mib"] > 0
    assert set(result["ratio_chatd_to_baseline"]) == {"rss_per_connection", "connect_rate", "cpu_percent_holding"}
    assert result["plots"] == ["idle.png"]


def test_ramp_stops_at_the_step_limit(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "ramp", "--conversations", "4", "--per-agent", "2", "--start-rate", "20",
                       "--factor", "2", "--max-steps", "2", "--step-seconds", "1", "--warmup", "0",
                       "--no-baseline", *LOOSE)
    steps = result["chatd"]["steps"]
    assert [s["offered_msgs_per_s"] for s in steps] == [20, 40]
    for step in steps:
        _clean(step)
    assert result["chatd"]["highest_held_msgs_per_s"] == 40
    assert result["plots"] == ["ramp.png", "latency.png"]


def test_storm_kill_and_restart_resumes_everyone_without_loss(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "storm", "--clients", "30", "--conversations", "4", "--per-agent", "2",
                       "--rate", "20", "--before", "1", "--after", "0.5", "--mode", "kill")
    figures = result["chatd"]
    assert figures["clients"] == 30
    assert figures["resumed"] == 30 and figures["all_resumed"]
    assert figures["server_restart_seconds"] > 0
    assert figures["resyncs"] == 0  # Redis kept its history: no log was sent again
    messages = figures["messages"]
    assert messages["delivered"] > 0
    assert (messages["lost"], messages["unacked"], messages["duplicated"]) == (0, 0, 0)
    assert len(result["resume_seconds"]) == 30
    assert result["plots"] == ["storm.png"]


def test_multinode(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "multinode", "--nodes", "2", "--conversations", "4", "--per-agent", "2",
                       "--rate", "20", "--duration", "1", "--warmup", "0", *LOOSE)
    chatd = result["chatd"]
    _clean(chatd)
    assert chatd["deployment"]["nodes"] == 2
    assert len(chatd["per_node"]) == 2
    assert chatd["server"]["processes"] == 2


def test_scenarios_are_listed(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    for name in ("idle", "chat", "ramp", "storm", "multinode"):
        assert name in done.stdout


@pytest.mark.parametrize("args", [["storm", "--mode", "kill", "--url", "ws://127.0.0.1:9"],
                                  ["multinode", "--engine", "memory"]])
def test_impossible_combinations_are_refused(tmp_path: Path, args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", *args, "--out", str(tmp_path), "--quiet"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "error" in done.stderr.lower() or "needs" in (done.stdout + done.stderr)


def test_remote_deployment_chat_and_client_storm_leave_no_agents_behind(tmp_path: Path) -> None:
    """``--url``: nothing is started; the bench's agents are deleted and its conversations closed."""
    require_redis()
    limits = {"CHATD_RATE_LIMIT_PER_SECOND": "1000", "CHATD_RATE_LIMIT_BURST": "1000"}
    with ChatdProcess("redis", env=limits) as server:
        remote = ["--url", server.ws_url, "--admin-password", server.passwords["admin"],
                  "--server-pid", str(server.proc.pid)]
        chat = run_bench(tmp_path / "chat", "chat", *remote, "--conversations", "4", "--per-agent", "2",
                         "--rate", "20", "--duration", "1", "--warmup", "0", *LOOSE)
        _clean(chat["chatd"])
        assert chat["chatd"]["deployment"]["started_by_bench"] is False
        assert "baseline" not in chat  # the baseline needs a local server
        storm = run_bench(tmp_path / "storm", "storm", *remote, "--mode", "client", "--clients", "12",
                          "--conversations", "2", "--per-agent", "2", "--rate", "10", "--before", "0.5",
                          "--after", "0.3")
        assert storm["chatd"]["resumed"] == 12
        assert storm["chatd"]["messages"]["lost"] == 0
        token = login(server.url, "admin", server.passwords["admin"])
        agents = httpx.get(server.url + "/api/v1/agents", headers={"Authorization": f"Bearer {token}"},
                           timeout=10).json()
        listed = agents if isinstance(agents, list) else agents.get("agents", [])
        assert {a["agent_id"] for a in listed} == {"ana", "bo", "sam", "admin"}
