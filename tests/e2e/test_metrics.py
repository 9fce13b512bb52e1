"""/metrics of a node with several workers reports the whole node on every
scrape, whichever worker answers, and carries the process, queue, agent,
store-latency and webhook families; the Grafana dashboard and the alert
rules in deploy/ are valid for Prometheus's own checker."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import httpx
import pytest

from chatd.metrics import Metrics
from tests.support import REPO, ChatdProcess, agent_and_visitor, eventually, free_port, require_redis

DEPLOY = REPO / "deploy"


def _value(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    assert found is not None, f"{sample} is missing"
    return float(found.group(1))


async def test_every_scrape_of_a_multi_worker_node_reports_all_its_workers() -> None:
    require_redis()
    server = ChatdProcess("redis", env={"CHATD_WORKERS": "2", "CHATD_LOG_LEVEL": "info"}).start()
    try:
        # Several connections, so both workers serve some of them.
        pairs = [await agent_and_visitor(server, agent_id) for agent_id in ("ana", "bo")]
        for agent, visitor, cid in pairs:
            for i in range(5):
                await visitor.send(cid, f"m{i}")
            await agent.send(cid, "answer")
        for agent, visitor, _cid in pairs:
            await eventually(lambda v=visitor: len(v.acks) == 5)
            await eventually(lambda a=agent: len(a.acks) == 1)

        def scrape() -> str:
            # A new connection each time: the kernel hands it to either worker.
            return httpx.get(server.url + "/metrics", headers={"connection": "close"}, timeout=5).text

        scrapes = [scrape() for _ in range(12)]
        visitor_messages = {_value(text, 'chatd_messages_total{role="visitor"}') for text in scrapes}
        agent_messages = {_value(text, 'chatd_messages_total{role="agent"}') for text in scrapes}
        assert (visitor_messages, agent_messages) == ({10.0}, {2.0})
        assert {_value(text, 'chatd_connections{role="visitor"}') for text in scrapes} == {2.0}
        assert {_value(text, 'chatd_connections{role="agent"}') for text in scrapes} == {2.0}
        text = scrapes[-1]
        pids = set(re.findall(r'^process_cpu_seconds_total\{pid="(\d+)"\}', text, re.M))
        assert len(pids) == 2, text
        assert _value(text, 'chatd_queue_wait_seconds_count{skill="general"}') == 2
        assert _value(text, 'chatd_store_call_seconds_count{op="append"}') >= 12
        # Sampled every few seconds: the store-wide gauges, and whether a worker routes
        # (one of the two holds the lease).
        assert await eventually(lambda: 'chatd_agents_online{status="online"} 2.0' in scrape(), timeout=12)
        assert await eventually(lambda: "chatd_routing_leader 1.0" in scrape(), timeout=12)
        for agent, visitor, _cid in pairs:
            await agent.close()
            await visitor.close()
    except BaseException:
        print("".join(server.output))
        raise
    finally:
        server.cleanup()


def test_the_metrics_port_serves_the_whole_node_and_the_main_port_does_not() -> None:
    require_redis()
    port = free_port()
    server = ChatdProcess("redis", env={"CHATD_WORKERS": "2", "CHATD_METRICS_PORT": str(port)}).start()
    try:
        assert httpx.get(server.url + "/metrics").status_code == 404
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert len(set(re.findall(r'^process_resident_memory_bytes\{pid="(\d+)"\}', text, re.M))) == 2
        assert "python_info" in text and "chatd_connections" in text
    finally:
        server.cleanup()


def test_one_process_reports_process_python_and_webhook_families() -> None:
    metrics = Metrics()
    metrics.webhooks.labels("bot", "reply").inc()
    metrics.store_call("append", 0.0004)
    metrics.placed("general", 12.5)
    metrics.store_wide({"general": (3, 42.0)}, {"online": 2, "away": 1})
    metrics.store_wide({}, {"online": 1})  # a queue emptied, an agent left
    text = metrics.render().decode()
    for sample in ("process_cpu_seconds_total", "python_info", "python_gc_objects_collected_total",
                   'chatd_webhook_deliveries_total{hook="bot",outcome="reply"} 1.0',
                   'chatd_store_call_seconds_count{op="append"} 1.0',
                   'chatd_queue_wait_seconds_bucket{le="20.0",skill="general"} 1.0',
                   'chatd_queue_length{skill="general"} 0.0', 'chatd_queue_oldest_wait_seconds{skill="general"} 0.0',
                   'chatd_agents_online{status="online"} 1.0', 'chatd_agents_online{status="away"} 0.0'):
        assert sample in text, sample


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("these tests need promtool (Debian package prometheus; .ci/setup test installs it)")
    return tool


def test_alert_rules_pass_promtool_and_name_only_real_metrics() -> None:
    rules = DEPLOY / "prometheus" / "alerts.yml"
    checked = subprocess.run([_promtool(), "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([_promtool(), "test", "rules", str(DEPLOY / "prometheus" / "alerts_test.yml")],
                            capture_output=True, text=True, cwd=DEPLOY / "prometheus")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    _only_real_metrics(rules.read_text())


def test_the_dashboard_is_grafana_json_over_real_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "chatd.json").read_text())
    assert dashboard["title"] and dashboard["panels"]
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(expressions) >= 8
    _only_real_metrics("\n".join(expressions))


def _only_real_metrics(text: str) -> None:
    rendered = Metrics().render().decode()
    families = set(re.findall(r"^# TYPE (\S+) ", rendered, re.M))
    names = set(re.findall(r"\b((?:chatd|process)_[a-z_]+)", text))
    unknown = {name for name in names
               if name not in families and re.sub(r"_(bucket|count|sum)$", "", name) not in families}
    assert not unknown, unknown
