"""deploy/: the compose file names only real settings and wires the nodes
alike; its Prometheus configuration passes promtool. (The containers
themselves are not started here: the test machine runs no Docker daemon.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chatd.settings import load_settings, unknown_variables

DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())


def test_the_compose_nodes_share_store_and_secret_and_use_only_known_settings(tmp_path: Path) -> None:
    services = _compose()["services"]
    nodes = {name: service for name, service in services.items() if name.startswith("chatd-")}
    assert len(nodes) == 2 and {"redis", "postgres", "migrate", "nginx", "prometheus"} <= set(services)
    envs = [{k: str(v) for k, v in node["environment"].items()} for node in nodes.values()]
    for env in envs:
        assert unknown_variables(env) == [], env
        secret = tmp_path / "secret"
        secret.write_text("x" * 48)
        settings = load_settings({**env, "CHATD_SECRET_FILE": str(secret)})  # every value valid
        assert settings.engine == "redis" and settings.redis_url.startswith("redis://redis:")
    assert all("/readyz" in " ".join(node["healthcheck"]["test"]) for node in nodes.values())
    shared = ("CHATD_REDIS_URL", "CHATD_REDIS_PREFIX", "CHATD_SECRET_FILE", "CHATD_DATABASE_URL")
    assert len({tuple(env[name] for name in shared) for env in envs}) == 1
    assert all(settings_url.startswith("postgresql+asyncpg://") and "@postgres:" in settings_url
               for settings_url in (env["CHATD_DATABASE_URL"] for env in envs))
    # the schema is migrated once, with the nodes' own store settings, before any node starts
    migrate = services["migrate"]
    assert migrate["command"] == ["chatd", "db", "upgrade"]
    assert {k: migrate["environment"][k] for k in ("CHATD_REDIS_URL", "CHATD_REDIS_PREFIX", "CHATD_DATABASE_URL")} \
        == {k: envs[0][k] for k in ("CHATD_REDIS_URL", "CHATD_REDIS_PREFIX", "CHATD_DATABASE_URL")}
    assert unknown_variables({k: str(v) for k, v in migrate["environment"].items()}) == []
    assert all(node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
               for node in nodes.values())
    assert len({env["CHATD_NODE_ID"] for env in envs}) == 2
    assert "--appendonly" in services["redis"]["command"]


def test_nginx_passes_websocket_upgrades_and_client_addresses() -> None:
    conf = (DEPLOY / "compose" / "nginx.conf").read_text()
    for line in ("proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;",
                 "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;", "proxy_http_version 1.1;"):
        assert line in conf
    nodes = [name for name in _compose()["services"] if name.startswith("chatd-")]
    assert all(f"server {name}:8080" in conf for name in nodes)


def test_the_prometheus_configuration_passes_promtool(tmp_path: Path) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("these tests need promtool (Debian package prometheus; .ci/setup test installs it)")
    config = (DEPLOY / "compose" / "prometheus.yml").read_text()
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/alerts.yml", "alerts.yml"))
    checked = subprocess.run([tool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    targets = yaml.safe_load(config)["scrape_configs"][0]["static_configs"][0]["targets"]
    port = _compose()["x-chatd"]["environment"]["CHATD_METRICS_PORT"]
    assert targets == [f"chatd-1:{port}", f"chatd-2:{port}"]
