"""A Redis server of one's own, for fault runs: restart it, kill it, or bring
it back from an older copy of its append-only file (a host crash); and a
Sentinel group (a primary, a replica, three Sentinels) to fail over; and a
Redis Cluster of three primaries.

:class:`RedisServer` runs Debian's ``redis-server`` on a free loopback port
with AOF persistence in a directory it owns. The fault benchmark
(``python -m bench faults``) and the model-based tests drive it; neither
touches the machine's shared Redis.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

__all__ = ["ClusterGroup", "RedisServer", "SentinelGroup", "cluster_port"]

START_SECONDS = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` on 127.0.0.1, persisted to ``directory``.

    ``appendfsync`` is ``everysec`` (what production runs: a crash of Redis's
    host may lose up to a second of acknowledged writes) or ``always``.
    The port stays the same across restarts, so clients reconnect to it."""

    def __init__(self, directory: Path, *, appendfsync: str = "everysec", port: int = 0,
                 args: tuple[str, ...] = ()) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.appendfsync = appendfsync
        self.port = port or _free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def start(self) -> RedisServer:
        """Start (or restart) the server on its port and wait until it answers
        PING (the AOF is loaded by then)."""
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
             "--logfile", str(self.directory / "redis.log"), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except redis.RedisError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}; see "
                                       f"{self.directory / 'redis.log'}")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: Redis writes what it has and exits (nothing acknowledged is lost)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the process dies at once; with ``everysec`` the OS still
        holds what was written, so only a host crash loses the last second."""
        self._end(signal.SIGKILL)

    def _end(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def copy_aof(self, into: Path) -> Path:
        """Copy the append-only files as they are on disk now (what a host
        crash a moment later would leave, give or take the unsynced tail)."""
        target = Path(into)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.directory / "appendonlydir", target)
        return target

    def crash_back_to(self, copy: Path) -> None:
        """Emulate a crash of Redis's host: kill it, put back the older copy
        of the append-only files, start again (Redis loads the truncated tail)."""
        self.kill()
        self.restore(copy)

    def restore(self, copy: Path) -> None:
        """Start the (stopped) server again from an older copy of its append-only files."""
        shutil.rmtree(self.directory / "appendonlydir")
        shutil.copytree(copy, self.directory / "appendonlydir")
        self.start()


SERVICE = "chatd"


class SentinelGroup:
    """A primary, a replica of it and three Sentinels watching them (quorum
    2, a server is down after ``down_after_ms``), all on loopback ports in
    ``directory``. :attr:`url` is the ``redis+sentinel://`` URL for chatd."""

    def __init__(self, directory: Path, *, down_after_ms: int = 1000) -> None:
        self.directory = Path(directory)
        self.primary = RedisServer(self.directory / "a")
        self.replica = RedisServer(self.directory / "b", args=("--replicaof", "127.0.0.1", str(self.primary.port)))
        self.down_after_ms = down_after_ms
        self.sentinel_ports = [_free_port() for _ in range(3)]
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SentinelGroup:
        self.primary.start()
        self.replica.start()
        for n, port in enumerate(self.sentinel_ports):
            folder = self.directory / f"sentinel-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            config = folder / "sentinel.conf"
            config.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {folder}", f"logfile {folder / 'sentinel.log'}",
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2",
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}",
                f"sentinel failover-timeout {SERVICE} 10000", f"sentinel parallel-syncs {SERVICE} 1", ""]))
            self._sentinels.append(subprocess.Popen(["redis-server", str(config), "--sentinel"],
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                    start_new_session=True))
        self.wait_until(lambda: self.primary_port() == self.primary.port and self._replica_synced(),
                        "the Sentinels to see the primary and its replica")
        return self

    def primary_port(self) -> int | None:
        """The primary's port as the first answering Sentinel names it."""
        for port in self.sentinel_ports:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            try:
                found = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                if found:
                    return int(found[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        return None

    def _replica_synced(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.replica.port, socket_timeout=1)
        try:
            return client.info("replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False
        finally:
            client.close()

    def wait_until(self, check: object, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}; see {self.directory}")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self._sentinels:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self._sentinels = []
        self.primary.kill()
        self.replica.kill()


def cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too (both at most 65535)."""
    for _ in range(100):
        port = random.randint(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class ClusterGroup:
    """Three ``redis-server --cluster-enabled`` primaries joined into one
    cluster (the 16384 slots split between them) by ``redis-cli --cluster
    create``. :attr:`url` is the ``redis+cluster://`` URL for chatd."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        self.directory = Path(directory)
        self.servers = []
        for n in range(size):
            folder = self.directory / f"node-{n}"
            self.servers.append(RedisServer(folder, port=cluster_port(), args=(
                "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"))))

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{server.port}" for server in self.servers)

    def __enter__(self) -> ClusterGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ClusterGroup:
        for server in self.servers:
            server.start()
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{s.port}" for s in self.servers),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        for server in self.servers:
            client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=1)
            try:
                while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the cluster did not come up; see {self.directory}")
                    time.sleep(0.1)
            finally:
                client.close()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.kill()
