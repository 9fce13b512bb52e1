"""A deployment as an operator runs it: the first admin from the command line,
no demo data unless asked, logins throttled, half-open connections closed,
readiness failing before a drain closes anything, and logs that say what
they are about without saying anyone's token."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.support import REPO, ChatdProcess, agent_and_visitor, require_redis

LOGIN = "/api/v1/auth/login"


def _cli(server: ChatdProcess, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatd.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**server.environment(), **(env or {})}, timeout=60)


def test_a_deployment_starts_empty_and_its_first_admin_is_made_on_the_command_line() -> None:
    require_redis()
    server = ChatdProcess("redis", env={"CHATD_DEMO": "false"})
    try:
        upgraded = _cli(server, "db", "upgrade")  # a deployment's first step, and every upgrade's
        assert upgraded.returncode == 0 and "record store at" in upgraded.stdout, upgraded.stderr
        made = _cli(server, "admin", "create", "--id", "root", "--name", "Root 管理员")
        assert made.returncode == 0, made.stderr
        password = re.search(r"password \(shown once\): (\S+)", made.stdout).group(1)  # type: ignore[union-attr]
        again = _cli(server, "admin", "create", "--id", "root")
        assert again.returncode == 1 and "exists already" in again.stderr
        bad = _cli(server, "admin", "create", "--id", "Root!")
        assert bad.returncode == 1 and "the id must be" in bad.stderr
        memory = _cli(server, "admin", "create", "--id", "x", env={"CHATD_ENGINE": "memory"})
        assert memory.returncode == 2 and "CHATD_ENGINE=redis" in memory.stderr

        server.start()
        assert "demo" not in "".join(server.output) and not server.passwords
        token = httpx.post(server.url + LOGIN, json={"agent_id": "root", "password": password}).json()["token"]
        me = httpx.get(server.url + "/api/v1/me", headers={"authorization": f"Bearer {token}"}).json()
        assert (me["agent_id"], me["role"], me["name"]) == ("root", "admin", "Root 管理员")
        sites = httpx.get(server.url + "/api/v1/sites", headers={"authorization": f"Bearer {token}"}).json()
        assert sites["sites"] == []  # no demo site, so no identity secret anyone knows
        assert httpx.get(server.url + "/demo/customer-info").status_code in (404, 405)
    finally:
        server.cleanup()


def test_serve_refuses_a_deployment_without_a_real_secret() -> None:
    server = ChatdProcess("memory", env={"CHATD_DEMO": "false"}, secret="")
    refused = _cli(server, "serve")
    assert refused.returncode == 2 and "CHATD_SECRET" in refused.stderr
    short = _cli(server, "serve", env={"CHATD_SECRET": "changeme"})
    assert short.returncode == 2 and "at least 32" in short.stderr
    typo = _cli(server, "serve", env={"CHATD_WORKER": "2", "CHATD_PORT": "eighty"})
    assert typo.returncode == 2 and "CHATD_WORKER is not a chatd setting" in typo.stderr and "CHATD_PORT" in typo.stderr


def _login(server: ChatdProcess, agent_id: str, password: str, address: str = "10.0.0.1") -> tuple[int, str]:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS), as from a proxy
    answer = httpx.post(server.url + LOGIN, json={"agent_id": agent_id, "password": password},
                        headers={"x-forwarded-for": address}, timeout=10)
    return answer.status_code, answer.json().get("error", {}).get("code", "ok")


def test_logins_are_throttled_per_account() -> None:
    attempts, lockout = 3, 4.0
    env = {"CHATD_LOGIN_ATTEMPTS": str(attempts), "CHATD_LOGIN_LOCKOUT_SECONDS": str(lockout)}
    with ChatdProcess("memory", env=env) as server:
        ana = server.passwords["ana"]
        # An attacker guessing one account: 40 guesses as fast as answers come.
        started = time.monotonic()
        outcomes = [_login(server, "ana", f"guess-{i}") for i in range(40)]
        assert time.monotonic() - started < lockout, "too slow a machine: the window ended during the guesses"
        assert sum(1 for status, _ in outcomes if status == 401) == attempts, outcomes
        assert all(code == "too_many_attempts" for _, code in outcomes[attempts:])
        # The owner is locked out too, until the window the server names ends; others are not.
        refused = httpx.post(server.url + LOGIN, json={"agent_id": "ana", "password": ana},
                             headers={"x-forwarded-for": "10.0.0.1"}, timeout=10)
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "too_many_attempts")
        wait = int(re.search(r"try again in (\d+) s", refused.json()["error"]["message"]).group(1))  # type: ignore[union-attr]
        assert 0 < wait <= lockout
        assert _login(server, "bo", server.passwords["bo"])[0] == 200
        time.sleep(wait + 0.2)
        assert _login(server, "ana", ana)[0] == 200


def test_logins_are_throttled_per_address() -> None:
    attempts = 3
    env = {"CHATD_LOGIN_ATTEMPTS": str(attempts), "CHATD_LOGIN_LOCKOUT_SECONDS": "120"}
    with ChatdProcess("memory", env=env) as server:
        # One address trying many accounts: 4x the per-account limit, then refused for every account.
        outcomes = [_login(server, f"user{i}", "guess", address="10.0.0.9") for i in range(4 * attempts + 5)]
        assert sum(1 for status, _ in outcomes if status == 401) == 4 * attempts
        assert _login(server, "sam", server.passwords["sam"], address="10.0.0.9") == (429, "too_many_attempts")
        assert _login(server, "sam", server.passwords["sam"], address="10.0.0.10")[0] == 200


async def test_half_open_http_connections_are_closed_after_the_header_timeout() -> None:
    connections = 300
    with ChatdProcess("memory", env={"CHATD_HEADER_TIMEOUT_SECONDS": "1"}) as server:
        loop = asyncio.get_running_loop()
        socks = []
        for i in range(connections):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setblocking(False)
            # Slowloris: a request line and part of the headers, then one header byte now and then.
            start = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GET /ws/visitor HTTP/1.1\r\nUpgrade: "
            await loop.sock_sendall(sock, start)
            socks.append(sock)
        opened = time.monotonic()

        async def closed_by_server(sock: socket.socket) -> float:
            while True:
                try:
                    await loop.sock_sendall(sock, b"X")
                    data = await asyncio.wait_for(loop.sock_recv(sock, 1024), 0.3)
                except TimeoutError:
                    continue
                except OSError:
                    return time.monotonic() - opened
                if data == b"":
                    return time.monotonic() - opened

        # Meanwhile the server answers real requests.
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.url + "/healthz")).status_code == 200
        waits = await asyncio.wait_for(asyncio.gather(*(closed_by_server(s) for s in socks)), 15)
        for sock in socks:
            sock.close()
        assert len(waits) == connections and max(waits) < 5, sorted(waits)[-5:]


async def test_readiness_fails_for_the_drain_delay_while_the_node_still_serves() -> None:
    require_redis()
    server = ChatdProcess("redis", env={"CHATD_DRAIN_DELAY_SECONDS": "2", "CHATD_DRAIN_SECONDS": "5"}).start()
    try:
        agent, visitor, cid = await agent_and_visitor(server)
        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        async with httpx.AsyncClient() as http:
            ready = await http.get(server.url + "/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "draining"
            # Still serving: a message goes through and is answered.
            await visitor.send(cid, "still there?")
            await agent.expect("message", timeout=5)
            assert visitor.ws is not None and visitor.ws.close_code is None
            assert time.monotonic() - signalled < 2
        await visitor.expect("_closed", timeout=10)
        assert time.monotonic() - signalled >= 1.9
        assert visitor.ws is not None and visitor.ws.close_code == 1012
        assert server.proc is not None and server.proc.wait(10) == 0
    finally:
        server.cleanup()


def test_json_logs_carry_levels_request_ids_and_no_tokens() -> None:
    env = {"CHATD_LOG_FORMAT": "json", "CHATD_LOG_LEVEL": "info", "CHATD_ACCESS_LOG": "true"}
    with ChatdProcess("memory", env=env) as server:
        token = httpx.post(server.url + LOGIN, json={"agent_id": "ana", "password": server.passwords["ana"]}).json()
        answer = httpx.get(server.url + f"/api/v1/me?token={token['token']}",
                           headers={"x-request-id": "req-4821", "authorization": f"Bearer {token['token']}"})
        assert answer.headers["x-request-id"] == "req-4821"
        assert httpx.get(server.url + "/healthz").headers["x-request-id"]  # made up when not given
        httpx.get(server.url + "/api/v1/conversations/c_4821/messages",
                  headers={"authorization": f"Bearer {token['token']}"})
        time.sleep(0.3)
        output = "".join(server.output)
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert records, output
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "chatd" and r["level"] == "info" and "ready" in r["message"] for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access" and "/api/v1/me" in r["message"]]
    assert access and access[0]["request_id"] == "req-4821" and "token=***" in access[0]["message"]
    about = [r for r in records if r["logger"] == "uvicorn.access" and "c_4821" in r["message"]]
    assert about and about[0]["conversation_id"] == "c_4821"
    assert token["token"] not in output


def test_text_logs_have_time_level_and_logger() -> None:
    with ChatdProcess("memory", env={"CHATD_LOG_LEVEL": "info"}) as server:
        time.sleep(0.3)
        output = "".join(server.output)
    ready = [line for line in output.splitlines() if "ready" in line and " chatd " in line]
    assert ready and re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO chatd ", ready[0]), output
