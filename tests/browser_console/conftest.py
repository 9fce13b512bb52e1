"""Browser tier for the agent console: one real ``chatd serve`` per module
(memory engine, the customer-info webhook pointed at its own demo orders
provider over HTTP) and Debian's headless Chromium. Screenshots go to
``artifacts/`` (a failing test saves one per page)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.browsers import ARTIFACTS, chromium, pytest_runtest_makereport  # noqa: F401 (a hook)
from tests.support import ChatdProcess, free_port

# The browser's own network reports (a socket refused while offline) are not script errors.
NETWORK_NOISE = re.compile(r"Failed to load resource|WebSocket connection to '[^']*' failed")


@pytest.fixture(scope="module")
def server() -> Iterator[ChatdProcess]:
    port = free_port()
    env = {"CHATD_CUSTOMER_INFO_URL": f"http://127.0.0.1:{port}/demo/customer-info",
           "CHATD_CUSTOMER_INFO_TIMEOUT_SECONDS": "2"}
    with ChatdProcess("memory", port=port, env=env) as chatd:
        yield chatd


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched



ConsoleFactory = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture
async def console(request: pytest.FixtureRequest, browser: Browser, server: ChatdProcess,
                  artifacts: Path) -> AsyncIterator[ConsoleFactory]:
    """``await console("ana")``: a fresh browser context logged in to /console
    as that demo agent. Fails the test on script errors."""
    pages: list[Page] = []
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not NETWORK_NOISE.search(message.text):
            errors.append(f"console: {message.text}")

    async def open_(agent_id: str, init_script: str = "", **context_options: Any) -> Page:
        context_options.setdefault("viewport", {"width": 1366, "height": 800})
        context = await browser.new_context(**context_options)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
        page.on("console", on_console)
        pages.append(page)
        await page.goto(server.url + "/console/")
        await page.get_by_test_id("login-id").fill(agent_id)
        await page.get_by_test_id("login-password").fill(server.passwords[agent_id])
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "online", timeout=10_000)
        return page

    yield open_
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for index, page in enumerate(pages, start=1):
        if failed and not page.is_closed():
            try:
                await page.screenshot(path=str(ARTIFACTS / f"{name}-failure-{index}.png"))
            except Exception as exc:  # the screenshot must not hide the failure
                print(f"no failure screenshot: {exc}")
        await page.context.close()
    if errors and not failed:
        pytest.fail("script errors in the console:\n" + "\n".join(errors))
