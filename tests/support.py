"""Running real chatd processes for the top test tier.

:class:`ChatdProcess` starts ``chatd serve`` (uvicorn, uvloop, websockets) on
a free loopback port, waits until ``/readyz`` answers, and reads the demo
passwords it prints. Redis-backed processes get their own key prefix, and
:func:`delete_redis_prefix` removes it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from chatd.client import ChatClient

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("CHATD_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
RECORDS_DIR = Path(tempfile.gettempdir()) / f"chatd-test-records-{os.getuid()}"

__all__ = ["REDIS_URL", "REPO", "ChatdProcess", "delete_redis_prefix", "free_port", "login", "require_redis"]


POSTGRES_URL = os.environ.get("CHATD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _postgres_admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise AssertionError(f"these tests need PostgreSQL at {POSTGRES_URL}: {exc}") from None
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database of the caller's on the test server
    (fails, never skips, when none answers); its SQLAlchemy URL. Dropped afterwards."""
    name = f"chatd_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        yield f"{base}/{name}"
    finally:
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_redis() -> None:
    """Fail (never skip) when the test Redis is not there."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        raise AssertionError(f"these tests need Redis at {REDIS_URL}: {exc}") from None


def delete_redis_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start:start + 500])
    client.close()


class ChatdProcess:
    """One ``chatd serve`` subprocess. Use as a context manager or call
    :meth:`start` / :meth:`stop`; :meth:`kill` and :meth:`start` again
    restart it on the same port with the same store."""

    def __init__(self, engine: str = "memory", *, prefix: str = "", port: int = 0,
                 env: dict[str, str] | None = None, args: list[str] | None = None,
                 command: list[str] | None = None, secret: str = "test-secret-" + "0" * 32,
                 cwd: Path = REPO, database_url: str = "") -> None:
        self.engine = engine
        self.prefix = prefix or (f"chatdtest:{uuid.uuid4().hex[:12]}" if engine == "redis" else "")
        # A memory node keeps its records in memory too; nodes on one Redis prefix share an SQLite file.
        self.database_url = database_url or (
            "sqlite+aiosqlite:///" + str(RECORDS_DIR / (re.sub(r"\W", "_", self.prefix) + ".db"))
            if engine == "redis" else "sqlite+aiosqlite:///:memory:")
        self.port = port or free_port()
        self.extra_env = env or {}
        self.args = args or []
        self.command = command
        self.cwd = cwd
        self.secret = secret
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.passwords: dict[str, str] = {}
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
        env.update({"CHATD_PORT": str(self.port), "CHATD_HOST": "127.0.0.1", "CHATD_ENGINE": self.engine,
                    "CHATD_SECRET": self.secret, "CHATD_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1",
                    # test nodes start with the demo data and close at once on SIGTERM
                    "CHATD_DEMO": "true", "CHATD_DRAIN_DELAY_SECONDS": "0",
                    "CHATD_DATABASE_URL": self.database_url})
        if self.engine == "redis":
            env.update({"CHATD_REDIS_URL": REDIS_URL, "CHATD_REDIS_PREFIX": self.prefix})
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> ChatdProcess:
        self._release()
        command = self.command or [sys.executable, "-m", "chatd.cli", "serve", *self.args]
        self.proc = subprocess.Popen(command, cwd=self.cwd, env=self.environment(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("chatd exited at start:\n" + "".join(self.output))
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    self._read_passwords()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("chatd did not become ready:\n" + "".join(self.output))

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def _read_passwords(self) -> None:
        for _ in range(50):
            found = dict(re.findall(r"demo \w+\s+(\S+)\s+password (\S+)", "".join(self.output)))
            if found:
                self.passwords.update(found)
                return
            if self.passwords:
                return
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group, like a crashed host."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._release()

    def _release(self) -> None:
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def cleanup(self) -> None:
        self.stop()
        self._release()
        if self.engine == "redis":
            delete_redis_prefix(self.prefix)
        if self.database_url.startswith("sqlite+aiosqlite:///" + str(RECORDS_DIR)):
            for suffix in ("", "-wal", "-shm"):
                Path(self.database_url.split(":///", 1)[1] + suffix).unlink(missing_ok=True)

    def __enter__(self) -> ChatdProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()


def login(base_url: str, agent_id: str, password: str) -> str:
    response = httpx.post(base_url + "/api/v1/auth/login", json={"agent_id": agent_id, "password": password},
                          timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


async def alogin(base_url: str, agent_id: str, password: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(base_url + "/api/v1/auth/login",
                                     json={"agent_id": agent_id, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await ``check()`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def agent_and_visitor(server: ChatdProcess, agent_id: str = "ana") -> tuple[ChatClient, ChatClient, str]:
    """A demo agent and a visitor connected to ``server``, with a conversation
    the visitor started and the agent was given."""
    token = await alogin(server.url, agent_id, server.passwords[agent_id])
    agent = ChatClient(server.ws_url, "agent", token=token)
    visitor = ChatClient(server.ws_url, "visitor")
    await agent.connect()
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    await agent.expect("conversation")
    return agent, visitor, cid
