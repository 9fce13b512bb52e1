"""A Redis server of one's own, for fault runs: restart it, kill it, or bring
it back from an older copy of its append-only file (a host crash).

:class:`RedisServer` runs Debian's ``redis-server`` on a free loopback port
with AOF persistence in a directory it owns. The fault benchmark
(``python -m bench faults``) and the model-based tests drive it; neither
touches the machine's shared Redis.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

__all__ = ["RedisServer"]

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

    def __init__(self, directory: Path, *, appendfsync: str = "everysec", port: int = 0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.appendfsync = appendfsync
        self.port = port or _free_port()
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
             "--logfile", str(self.directory / "redis.log")],
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
        shutil.rmtree(self.directory / "appendonlydir")
        shutil.copytree(copy, self.directory / "appendonlydir")
        self.start()
