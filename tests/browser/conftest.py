"""Browser tier: the widget in real headless Chromium against a real chatd.

One ``chatd serve`` on Redis (tests/support.py) and one Chromium (Debian's,
never a downloaded one) serve a whole test module; every test gets fresh
browser contexts, so each visitor has its own storage. Tests clean up after
themselves: the agents they connect close the chats they took part in and go
offline. The widget is rebuilt once per session. Pages record the widget's
WebSocket frames and their script errors; screenshots go to ``artifacts/`` at
the repository root (a failing test saves one per page).

Test modules here run on one event loop per module
(``pytestmark = pytest.mark.asyncio(loop_scope="module")``).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Locator, Page, WebSocket

from chatd.client import ChatClient
from tests.browsers import ARTIFACTS, chromium, pytest_runtest_makereport  # noqa: F401 (a hook)
from tests.support import REPO, ChatdProcess, alogin, free_port, require_redis

WIDGET = REPO / "widget"
NETWORK_NOISE = re.compile(r"Failed to load resource|WebSocket connection to '[^']*' failed")


# --- build, artifacts, servers ---------------------------------------------------------

@pytest.fixture(scope="session")
def widget_dist() -> Path:
    """widget/dist, built from the current sources (esbuild takes a second)."""
    npm = shutil.which("npm")
    assert npm, "npm is needed to build the widget"
    if not (WIDGET / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WIDGET, check=True)
    subprocess.run([npm, "run", "--silent", "build"], cwd=WIDGET, check=True, stdout=subprocess.DEVNULL)
    dist = WIDGET / "dist"
    assert all((dist / name).is_file() for name in ("loader.js", "panel.js")), "the widget build made no bundle"
    return dist


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def chatd_module(widget_dist: Path) -> Iterator[ChatdProcess]:
    require_redis()
    with ChatdProcess("redis") as server:
        yield server


@pytest.fixture
def chatd(chatd_module: ChatdProcess) -> ChatdProcess:
    """The module's chatd on Redis (its own key prefix in the test database):
    ``kill()`` and ``start()`` keep its state. Restarted here if an earlier
    test left it down."""
    if chatd_module.proc is None or chatd_module.proc.poll() is not None:
        chatd_module.start()
    return chatd_module


class ShopSite:
    """A customer's website on its own origin (another loopback port than
    chatd), serving the HTML pages a test puts in :attr:`pages`."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                html = site.pages.get(self.path.split("?", 1)[0])
                body = (html or "not found").encode()
                self.send_response(200 if html is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def shop() -> Iterator[ShopSite]:
    site = ShopSite()
    yield site
    site.close()


# --- agents driven over the protocol -------------------------------------------------

AgentFactory = Callable[..., Awaitable[ChatClient]]


@pytest_asyncio.fixture(loop_scope="module")
async def agents() -> AsyncIterator[AgentFactory]:
    """``await agents(server, "ana", status="online")``: a connected agent
    ChatClient. Afterwards each closes the chats it took part in (so none
    waits in the queue for the next test) and disconnects."""
    opened: list[ChatClient] = []

    async def connect(server: ChatdProcess, agent_id: str, status: str = "online") -> ChatClient:
        token = await alogin(server.url, agent_id, server.passwords[agent_id])
        client = ChatClient(server.ws_url, "agent", token=token)
        await client.connect(status=status)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        with contextlib.suppress(Exception):
            await close_conversations(client)
        await client.close()


async def close_conversations(agent: ChatClient) -> None:
    """Close every conversation the agent has seen that is not closed yet."""
    for conversation_id, entries in agent.entries.items():
        if any(e["type"] == "event" and e.get("event") == "closed" for e in entries):
            continue
        await agent.send_frame({"type": "close", "conversation_id": conversation_id})
        with contextlib.suppress(TimeoutError):
            await agent.expect("event", timeout=3, where=lambda f, cid=conversation_id: (
                f["conversation_id"] == cid and f.get("event") == "closed"))


# --- the browser ---------------------------------------------------------------------

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(widget_dist: Path) -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched



class WidgetPage:
    """A page with the widget: records the widget's WebSocket frames (as
    parsed JSON, both directions) and the page's script errors, and reads
    the widget's shadow DOM through its data-testid hooks."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.sockets: list[WebSocket] = []
        self.errors: list[str] = []
        self.binary_frames = 0
        page.on("websocket", self._on_socket)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        # The browser's own network reports (the page's missing favicon, a socket
        # refused while chatd is down) are not script errors; anything else is.
        if message.type == "error" and not NETWORK_NOISE.match(message.text):
            self.errors.append(f"console: {message.text}")

    def _on_socket(self, socket: WebSocket) -> None:
        if "/ws/visitor" not in socket.url:
            return
        self.sockets.append(socket)
        socket.on("framereceived", lambda payload: self._record(self.received, payload))
        socket.on("framesent", lambda payload: self._record(self.sent, payload))

    def _record(self, into: list[dict[str, Any]], payload: str | bytes) -> None:
        if isinstance(payload, str):
            into.append(json.loads(payload))
        else:  # the msgpack subprotocol
            self.binary_frames += 1
            into.append(msgpack.unpackb(payload, raw=False))

    def by(self, testid: str) -> Locator:
        """An element of the widget (locators reach into the open shadow root)."""
        return self.page.get_by_test_id(testid)

    async def frame(self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None, *,
                    sent: bool = False, timeout: float = 10.0) -> dict[str, Any]:
        """The first frame of ``kind`` the page received (or sent) that matches ``where``."""
        frames = self.sent if sent else self.received
        deadline = time.monotonic() + timeout
        while True:
            for frame in frames:
                if frame.get("type") == kind and (where is None or where(frame)):
                    return frame
            if time.monotonic() > deadline:
                seen = [f.get("type") for f in frames]
                direction = "sent" if sent else "received"
                raise AssertionError(f"no {direction} {kind!r} frame within {timeout}s; saw {seen}")
            await asyncio.sleep(0.05)

    async def conversation_id(self) -> str:
        return (await self.frame("conversation"))["conversation"]["conversation_id"]

    async def transcript(self) -> list[dict[str, Any]]:
        """The message list as the visitor sees it, in DOM order."""
        return await self.by("chatd-message").evaluate_all("""items => items.map(el => ({
            seq: el.hasAttribute('data-seq') ? Number(el.getAttribute('data-seq')) : null,
            role: el.getAttribute('data-role'),
            pending: el.getAttribute('data-pending'),
            clientMsgId: el.getAttribute('data-client-msg-id'),
            body: el.querySelector('[data-testid=chatd-message-body]').textContent,
        }))""")

    async def log_seqs(self) -> list[int]:
        """data-seq of every entry in the log (messages and events), in DOM order."""
        return await self.by("chatd-messages").evaluate(
            "log => [...log.querySelectorAll('[data-seq]')].map(el => Number(el.getAttribute('data-seq')))")

    async def send(self, text: str) -> None:
        """Type into the composer and press Enter, like a visitor."""
        box = self.by("chatd-input")
        await box.fill(text)
        await box.press("Enter")

    async def screenshot(self, path: Path) -> Path:
        await self.page.screenshot(path=str(path))
        print(f"screenshot: {path.relative_to(REPO)}")
        return path


PageFactory = Callable[..., Awaitable[WidgetPage]]


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(request: pytest.FixtureRequest, browser: Browser, artifacts: Path) -> AsyncIterator[PageFactory]:
    """``await open_page(url, **context_options)``: a fresh browser context
    (its own storage) with one page at ``url``. Fails the test on script
    errors; saves screenshots of every page when the test fails."""
    pages: list[WidgetPage] = []

    async def open_(url: str | None = None, **context_options: Any) -> WidgetPage:
        context_options.setdefault("viewport", {"width": 1280, "height": 720})
        context = await browser.new_context(**context_options)
        widget = WidgetPage(await context.new_page())
        pages.append(widget)
        if url is not None:
            await widget.page.goto(url)
        return widget

    yield open_
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for index, widget in enumerate(pages, start=1):
        if failed and not widget.page.is_closed():
            try:
                await widget.screenshot(ARTIFACTS / f"{name}-failure-{index}.png")
            except Exception as exc:  # the screenshot must not hide the failure
                print(f"no failure screenshot: {exc}")
        await widget.page.context.close()
    errors = [error for widget in pages for error in widget.errors]
    if errors and not failed:
        pytest.fail("script errors in the page:\n" + "\n".join(errors))
