"""Servers under test: starting and stopping chatd and the baseline relay,
and reading their CPU and memory from ``/proc`` (via psutil) and Redis's from
``INFO``.

A server the bench starts listens on loopback, logs into the results folder,
and (for the Redis engine) uses its own key prefix, deleted afterwards. Its
per-connection limits are raised so that the bench measures throughput, not
the rate limiter (see :data:`LOAD_LIMITS`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import redis

__all__ = [
    "LOAD_LIMITS",
    "BaselineServer",
    "ChatdServer",
    "MachineMeter",
    "ProcessMeter",
    "RedisMeter",
    "cpu_percent",
    "delete_redis_prefix",
    "free_port",
    "http_url",
]

# Per-connection limits for benchmark servers: an agent holding many chats
# sends far more than a browser's 20 frames/s, and a bench must not be cut off
# by the idle timeout while it waits between steps.
LOAD_LIMITS = {
    "CHATD_RATE_LIMIT_PER_SECOND": "100000",
    "CHATD_RATE_LIMIT_BURST": "100000",
    "CHATD_SEND_QUEUE_LIMIT": "20000",
    "CHATD_IDLE_TIMEOUT_SECONDS": "600",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_url(ws_url: str) -> str:
    return "http" + ws_url[2:] if ws_url.startswith("ws") else ws_url


def delete_redis_prefix(redis_url: str, prefix: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start:start + 500])
        return len(keys)
    finally:
        client.close()


class _Process:
    """A server subprocess in its own process group, logging to a file."""

    name = "server"

    def __init__(self, port: int, log_dir: Path) -> None:
        self.port = port or free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, timeout: float = 60.0, idle: Any = None) -> float:
        """Start and wait until ready; returns the seconds it took. ``idle(seconds)``
        (optional) is called between readiness checks instead of sleeping."""
        started = time.monotonic()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=Path(__file__).resolve().parent.parent)
        self.starts += 1
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log_path}:\n{self.tail()}")
            if self.ready():
                return time.monotonic() - started
            if idle is not None:
                idle(0.05)
            else:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f}s; see {self.log_path}")

    def ready(self) -> bool:
        raise NotImplementedError

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def pids(self) -> list[int]:
        """The server process and its worker processes."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid, *(c.pid for c in parent.children(recursive=True))]
        except psutil.Error:
            return []

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group, like a crashed host."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (chatd drains) and wait; SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def stop(self) -> None:
        self.terminate()


class ChatdServer(_Process):
    """``chatd serve`` with the given engine and workers."""

    def __init__(self, *, engine: str = "redis", port: int = 0, workers: int = 1, redis_url: str = "",
                 prefix: str = "", secret: str = "bench-secret-" + "0" * 32, log_dir: Path, name: str = "chatd",
                 env: dict[str, str] | None = None) -> None:
        super().__init__(port, log_dir)
        self.engine = engine
        self.workers = workers
        self.redis_url = redis_url
        self.prefix = prefix
        self.secret = secret
        self.name = name
        self.extra_env = env or {}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "chatd.cli", "serve"]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update({"CHATD_HOST": "127.0.0.1", "CHATD_PORT": str(self.port), "CHATD_ENGINE": self.engine,
                    "CHATD_SECRET": self.secret, "CHATD_LOG_LEVEL": "warning", "CHATD_WORKERS": str(self.workers),
                    "PYTHONUNBUFFERED": "1", "CHATD_DEMO": "true", "CHATD_DRAIN_DELAY_SECONDS": "0", **LOAD_LIMITS})
        if self.engine == "redis":
            env.update({"CHATD_REDIS_URL": self.redis_url, "CHATD_REDIS_PREFIX": self.prefix})
        env["CHATD_DATABASE_URL"] = self.database_url()
        env.update(self.extra_env)
        return env

    def database_url(self) -> str:
        """Nodes on one Redis prefix share an SQLite file; a memory node keeps its records in memory."""
        if self.engine != "redis":
            return "sqlite+aiosqlite:///:memory:"
        name = re.sub(r"\W", "_", self.prefix or self.name)
        return f"sqlite+aiosqlite:///{self.log_dir.resolve() / f'records-{name}.db'}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def passwords(self, timeout: float = 5.0) -> dict[str, str]:
        """The demo passwords chatd printed when it seeded an empty store."""
        deadline = time.monotonic() + timeout
        while True:
            found = dict(re.findall(r"demo \w+\s+(\S+)\s+password (\S+)",
                                    self.log_path.read_text(errors="replace")))
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


class BaselineServer(_Process):
    """The python-socketio relay of :mod:`bench.baseline_socketio`."""

    name = "baseline-socketio"

    def __init__(self, *, port: int = 0, redis_url: str, channel: str, log_dir: Path) -> None:
        super().__init__(port, log_dir)
        self.redis_url = redis_url
        self.channel = channel

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.baseline_socketio", "--port", str(self.port),
                "--redis-url", self.redis_url, "--channel", self.channel]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


class ProcessMeter:
    """CPU seconds and RSS of a changing set of processes (a server that
    restarts keeps being followed through ``pids_of``)."""

    def __init__(self, pids_of: Any) -> None:
        self.pids_of = pids_of
        self._procs: dict[int, psutil.Process] = {}

    def _processes(self) -> list[psutil.Process]:
        procs = []
        for pid in self.pids_of():
            proc = self._procs.get(pid)
            if proc is None:
                with contextlib.suppress(psutil.Error):
                    proc = self._procs[pid] = psutil.Process(pid)
            if proc is not None:
                procs.append(proc)
        return procs

    def sample(self) -> dict[str, Any]:
        """``{"cpu_s", "rss_bytes", "processes"}`` now (dead processes count as 0)."""
        cpu = 0.0
        rss = 0
        count = 0
        for proc in self._processes():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
                count += 1
        return {"cpu_s": cpu, "rss_bytes": rss, "processes": count, "wall": time.monotonic()}


def cpu_percent(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    wall = after["wall"] - before["wall"]
    if wall <= 0 or before.get("cpu_s") is None or after.get("cpu_s") is None:
        return None
    return round(max(0.0, after["cpu_s"] - before["cpu_s"]) / wall * 100, 1)


class MachineMeter:
    """CPU busy time of the whole machine (all processes, all cores), to
    show how much of it went to processes outside the bench (a shared box)."""

    def sample(self) -> dict[str, Any]:
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        return {"cpu_s": busy, "wall": time.monotonic()}


class RedisMeter:
    """Redis's own CPU (``INFO cpu``, so it works for a remote Redis too)."""

    def __init__(self, url: str) -> None:
        self.client: redis.Redis | None = redis.Redis.from_url(url, socket_timeout=2) if url else None

    def sample(self) -> dict[str, Any]:
        if self.client is None:
            return {"cpu_s": None, "wall": time.monotonic()}
        try:
            info = self.client.info("cpu")
            memory = self.client.info("memory")
        except (redis.RedisError, OSError):
            return {"cpu_s": None, "wall": time.monotonic()}
        return {"cpu_s": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
                "used_memory": int(memory["used_memory"]), "wall": time.monotonic()}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
