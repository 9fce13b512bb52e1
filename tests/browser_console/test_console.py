"""The agent console end to end in headless Chromium against a real chatd:
agents and a supervisor in their own browser contexts, visitors and agents
driven over the protocol (chatd.client.ChatClient)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from playwright.async_api import Locator, Page, expect

from chatd.client import ChatClient
from chatd.demo_orders import demo_orders
from tests.browser_console.conftest import ConsoleFactory
from tests.support import ChatdProcess, alogin, free_port


async def _api(server: ChatdProcess, agent_id: str) -> httpx.AsyncClient:
    token = await alogin(server.url, agent_id, server.passwords[agent_id])
    return httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=10)


def _log(page: Page, cid: str) -> Locator:
    return page.locator(f'[data-testid=conversation][data-cid="{cid}"] [data-testid=log]')


async def _log_bodies(page: Page, cid: str) -> list[tuple[int, str, str]]:
    return await _log(page, cid).evaluate("""log => [...log.querySelectorAll('li[data-seq]')]
        .filter(el => el.dataset.role !== undefined)
        .map(el => [Number(el.dataset.seq), el.dataset.role,
                    el.querySelector('[data-testid=message-body]').textContent])""")


async def test_agent_workspace_supervisor_and_reconnect(server: ChatdProcess, console: ConsoleFactory,
                                                        artifacts: Path) -> None:
    admin, sam_api = await _api(server, "admin"), await _api(server, "sam")
    # Offers must be accepted in this group; a team quick reply with a variable.
    answer = await admin.put("/api/v1/skill-groups/general", json={"auto_accept": False, "offer_timeout_seconds": 120})
    assert answer.status_code == 200, answer.text
    answer = await sam_api.post("/api/v1/quick-replies", json={
        "shortcut": "/parcel", "title": "包裹 parcel", "category": "logistics", "scope": "team",
        "text": "{visitor.name}，您的包裹已在路上 / your parcel is on its way"})
    assert answer.status_code == 201, answer.text

    supervisor = await console("sam")
    await supervisor.get_by_test_id("nav-supervisor").click()
    queue = supervisor.locator('[data-testid=queue-row][data-skill="general"] [data-testid=queue-length]')
    await expect(queue).to_have_text("0")
    ana = await console("ana")
    await ana.get_by_test_id("status-select").select_option("away")
    ana_row = supervisor.locator('[data-testid=agent-row][data-agent="ana"]')
    await expect(ana_row).to_have_attribute("data-status", "away")

    visitor = ChatClient(server.ws_url, "visitor", name="Li Lei")
    await visitor.connect()
    conversation = await visitor.start(attributes={"page_url": "https://shop.example.com/cart"})
    cid = conversation["conversation_id"]
    await expect(queue).to_have_text("1")  # the supervisor sees the queue grow live

    # Ana goes online: the router offers her the chat, with a countdown; she accepts.
    await ana.get_by_test_id("status-select").select_option("online")
    offer = ana.get_by_test_id("inbox").get_by_test_id("offer")
    await expect(offer.get_by_test_id("offer-countdown")).to_have_text(re.compile(r"\d+"))
    await offer.get_by_test_id("offer-accept").click()
    await expect(ana.get_by_test_id("conversation-state")).to_contain_text("assigned")
    await expect(queue).to_have_text("0")
    await expect(ana_row.get_by_test_id("agent-load")).to_have_text("1/3")

    # The visitor writes; Ana answers with the quick reply, filled in for this visitor.
    await visitor.send(cid, "我的快递到哪了？")
    await expect(_log(ana, cid).get_by_text("我的快递到哪了？")).to_be_visible()
    composer = ana.get_by_test_id("composer")
    await composer.fill("/par")
    await expect(ana.locator('[data-testid=quick-reply-item][data-shortcut="/parcel"]')).to_be_visible()
    await composer.press("Enter")
    await expect(composer).to_have_value("Li Lei，您的包裹已在路上 / your parcel is on its way")
    await composer.press("Enter")
    reply = await visitor.expect("message", timeout=10, where=lambda f: f["from"]["role"] == "agent")
    assert reply["body"] == "Li Lei，您的包裹已在路上 / your parcel is on its way"

    # The customer panel: profile, current page, and orders from the demo provider (over HTTP).
    panel = ana.get_by_test_id("customer-panel")
    await expect(panel.get_by_test_id("customer-name")).to_have_text("Li Lei")
    await expect(panel.get_by_test_id("customer-page")).to_have_text("https://shop.example.com/cart")
    expected_orders = [order["order_id"] for order in demo_orders(conversation["visitor_id"], 0)]
    await expect(panel.get_by_test_id("order-item")).to_have_count(len(expected_orders))
    shown = await panel.get_by_test_id("order-item").evaluate_all("items => items.map(el => el.dataset.orderId)")
    assert shown == expected_orders

    # An internal note and a ticket from the conversation.
    await ana.get_by_test_id("note-toggle").check()
    await composer.fill("VIP? check the refund policy")
    await composer.press("Enter")
    await expect(_log(ana, cid).get_by_test_id("note")).to_contain_text("check the refund policy")
    await ana.get_by_test_id("note-toggle").uncheck()
    await ana.get_by_test_id("ticket-button").click()
    await ana.get_by_test_id("ticket-message").fill("parcel lost, second line please")
    await ana.get_by_test_id("dialog-confirm").click()
    await expect(ana.get_by_test_id("ticket-created")).to_be_visible()

    # Transfer to Bo with a note; Bo (in Chinese, at tablet width) sees the chat and the note.
    bo = await console("bo", locale="zh-CN", viewport={"width": 1024, "height": 768})
    await expect(bo.get_by_test_id("nav-workspace")).to_have_text("工作台")
    await ana.get_by_test_id("transfer-button").click()
    await ana.get_by_test_id("transfer-agent").select_option("bo")
    await ana.get_by_test_id("transfer-note-input").fill("客户要退款，请跟进 refund please")
    await ana.get_by_test_id("dialog-confirm").click()
    await expect(bo.locator(f'[data-testid=inbox-item][data-cid="{cid}"]')).to_be_visible()
    await expect(_log(bo, cid).get_by_test_id("transfer-note")).to_contain_text("refund please")
    await expect(_log(bo, cid).get_by_text("我的快递到哪了？")).to_be_visible()
    bo_row = supervisor.locator('[data-testid=agent-row][data-agent="bo"]')
    await expect(bo_row.get_by_test_id("agent-load")).to_have_text("1/3")
    await expect(ana_row.get_by_test_id("agent-load")).to_have_text("0/3")
    await expect(ana.get_by_test_id("composer")).to_be_hidden()
    await ana.get_by_test_id("dismiss").click()  # Ana puts away the chat she handed on
    await expect(ana.locator(f'[data-testid=inbox-item][data-cid="{cid}"]')).to_have_count(0)

    # The supervisor reads the routing explanation, then reassigns the chat back to Ana.
    chat_row = bo_row.locator(f'[data-testid=agent-chat][data-cid="{cid}"]')
    await chat_row.get_by_test_id("routing").click()
    await expect(supervisor.get_by_test_id("routing-decision").first).to_be_visible()
    await supervisor.get_by_test_id("dialog-cancel").click()
    await chat_row.get_by_test_id("reassign").click()
    await supervisor.get_by_test_id("reassign-agent").select_option("ana")
    await supervisor.get_by_test_id("reassign-note").fill("back to Ana, she knows the order")
    await supervisor.get_by_test_id("dialog-confirm").click()
    await expect(ana_row.get_by_test_id("agent-load")).to_have_text("1/3")
    await expect(_log(ana, cid).get_by_test_id("transfer-note").last).to_contain_text("she knows the order")
    await expect(ana.get_by_test_id("composer")).to_be_visible()
    await expect(_log(ana, cid).get_by_text("我的快递到哪了？")).to_be_visible()  # its history is back too

    # Ana's network drops: the visitor keeps writing, Ana writes too; nothing is lost or doubled.
    await ana.context.set_offline(True)
    await ana.evaluate("window.__chatdConsole.socket.drop()")
    await expect(ana.get_by_test_id("connection")).not_to_have_attribute("data-status", "online")
    for index in range(1, 4):
        await visitor.send(cid, f"still there? {index}")
    await composer.fill("yes, checking now")
    await composer.press("Enter")
    await expect(_log(ana, cid).get_by_test_id("pending-message")).to_be_visible()
    await asyncio.sleep(1.0)
    assert visitor.messages(cid)[-1]["body"] == "still there? 3"  # Ana's reply is still in her outbox
    await ana.context.set_offline(False)
    await expect(ana.get_by_test_id("connection")).to_have_attribute("data-status", "online", timeout=20_000)
    await expect(_log(ana, cid).get_by_text("yes, checking now")).to_be_visible()
    await expect(_log(ana, cid).get_by_test_id("pending-message")).to_have_count(0)
    await visitor.expect("message", timeout=10, where=lambda f: f["body"] == "yes, checking now")
    entries = await _log_bodies(ana, cid)
    seqs = [seq for seq, _, _ in entries]
    assert seqs == sorted(set(seqs)), "every entry once, in seq order"
    bodies = [body for _, _, body in entries]
    for text in ("still there? 1", "still there? 2", "still there? 3", "yes, checking now"):
        assert bodies.count(text) == 1, (text, bodies)
    assert [m["body"] for m in visitor.messages(cid)].count("yes, checking now") == 1
    assert visitor.duplicates == 0

    await ana.get_by_test_id("status-select").focus()  # no focus ring over the log in the screenshot
    await ana.screenshot(path=str(artifacts / "console-workspace.png"))
    await supervisor.screenshot(path=str(artifacts / "console-supervisor.png"), full_page=True)

    # Close with a disposition: the visitor is told, the supervisor counts it for today.
    await ana.get_by_test_id("close-button").click()
    await ana.get_by_test_id("disposition").select_option("resolved")
    await ana.get_by_test_id("dialog-confirm").click()
    closed = await visitor.expect("event", timeout=10, where=lambda f: f["event"] == "closed")
    assert closed["data"]["disposition"] == "resolved"
    await expect(ana_row.get_by_test_id("agent-today")).to_have_text("1")
    await visitor.close()
    for client in (admin, sam_api):
        await client.aclose()


async def test_agents_only_see_their_own_chats_and_no_admin(server: ChatdProcess, console: ConsoleFactory) -> None:
    bo_socket = ChatClient(server.ws_url, "agent", token=await alogin(server.url, "bo", server.passwords["bo"]))
    await bo_socket.connect(status="online")
    visitor = ChatClient(server.ws_url, "visitor", name="Han Meimei")
    await visitor.connect()
    cid = (await visitor.start(skill="billing"))["conversation_id"]  # only Bo has the billing skill
    await bo_socket.expect("conversation", timeout=10, where=lambda f: f["conversation"]["conversation_id"] == cid)

    ana = await _api(server, "ana")
    for method, path in [("GET", f"/api/v1/conversations/{cid}"), ("GET", f"/api/v1/conversations/{cid}/messages"),
                         ("GET", f"/api/v1/conversations/{cid}/customer"),
                         ("GET", f"/api/v1/conversations/{cid}/routing"),
                         ("POST", f"/api/v1/conversations/{cid}/reassign"), ("GET", "/api/v1/floor"),
                         ("GET", "/api/v1/agents"), ("POST", "/api/v1/agents"), ("GET", "/api/v1/sites"),
                         ("PUT", "/api/v1/skill-groups/billing"), ("GET", "/api/v1/schedules")]:
        answer = await ana.request(method, path, json={"to_agent": "ana"} if method != "GET" else None)
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden"), (method, path)
    assert cid not in {c["conversation_id"] for c in (await ana.get("/api/v1/conversations")).json()["conversations"]}

    ana_socket = ChatClient(server.ws_url, "agent", token=await alogin(server.url, "ana", server.passwords["ana"]))
    await ana_socket.connect(status="away")
    for frame in ({"type": "send", "conversation_id": cid, "client_msg_id": "x-1", "body": "hi", "ref": "r1"},
                  {"type": "typing", "conversation_id": cid, "active": True, "ref": "r2"},
                  {"type": "close", "conversation_id": cid, "ref": "r3"},
                  {"type": "transfer", "conversation_id": cid, "to_agent": "ana", "ref": "r4"},
                  {"type": "watch", "conversation_id": cid, "ref": "r5"}):
        await ana_socket.send_frame(frame)
        error = await ana_socket.expect("error", timeout=5, where=lambda f, ref=frame["ref"]: f.get("ref") == ref)
        assert error["code"] == "forbidden", (frame, error)
    assert [m["body"] for m in visitor.messages(cid)] == []

    # In the browser: an agent has no supervisor or admin pages; an admin has both.
    page = await console("ana")
    await expect(page.get_by_test_id("nav-workspace")).to_be_visible()
    await expect(page.get_by_test_id("nav-supervisor")).to_have_count(0)
    await expect(page.get_by_test_id("nav-admin")).to_have_count(0)
    await expect(page.locator(f'[data-testid=inbox-item][data-cid="{cid}"]')).to_have_count(0)
    root = await console("admin")
    await root.get_by_test_id("nav-admin").click()
    await expect(root.locator('[data-testid=admin-row][data-key="ana"]')).to_be_visible()
    await root.get_by_test_id("admin-tab-skill_groups").click()
    await expect(root.locator('[data-testid=admin-row][data-key="general"]')).to_be_visible()
    # The knowledge-base and overflow pages save their templates through the API as they are.
    await root.get_by_test_id("admin-tab-kb").click()
    await expect(root.get_by_test_id("admin-editor")).to_have_value(re.compile("多久发货"))
    await root.get_by_test_id("admin-save").click()
    await expect(root.get_by_test_id("admin-row").filter(has_text="多久发货？")).to_have_count(1)
    await root.get_by_test_id("admin-tab-overflow").click()
    await expect(root.get_by_test_id("admin-editor")).to_have_value(re.compile("max_queue"))
    await root.get_by_test_id("admin-save").click()
    saved = root.locator('[data-testid=admin-row][data-key="general"]')
    await expect(saved).to_contain_text("Asia/Shanghai")
    await expect(saved.locator("td").nth(1)).to_have_text("10")
    await saved.locator("button.danger").click()  # later chats on this server route as before
    await expect(saved).to_have_count(0)
    for client in (ana_socket, bo_socket, visitor):
        await client.close()
    await ana.aclose()


# The tab is in the background; notifications are allowed; sounds and
# notifications are recorded instead of played or shown.
BACKGROUND_TAB = """
Object.defineProperty(document, 'hidden', { get: () => true });
window.__alerts = { notifications: [], beeps: 0 };
window.Notification = class {
  static permission = 'granted';
  static requestPermission() { return Promise.resolve('granted'); }
  constructor(title, options) { window.__alerts.notifications.push([title, options.body]); }
};
window.AudioContext = class {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createGain() { return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect: (d) => d }; }
  createOscillator() {
    return { frequency: {}, connect: (g) => g, start: () => { window.__alerts.beeps += 1; }, stop() {} };
  }
};
"""


async def test_a_new_chat_notifies_beeps_and_blinks_the_title_of_a_background_tab(
        server: ChatdProcess, console: ConsoleFactory) -> None:
    bo = await console("bo", init_script=BACKGROUND_TAB)
    title = await bo.title()
    visitor = ChatClient(server.ws_url, "visitor", name="Han Meimei")
    await visitor.connect()
    cid = (await visitor.start(skill="billing"))["conversation_id"]
    await expect(bo.locator(f'[data-testid=inbox-item][data-cid="{cid}"]')).to_be_visible(timeout=10_000)
    alerts = await bo.evaluate("window.__alerts")
    assert alerts["beeps"] == 1 and len(alerts["notifications"]) == 1
    assert alerts["notifications"][0][1] == "Han Meimei"
    await expect(bo).to_have_title(re.compile("^● "), timeout=3_000)  # blinking
    await expect(bo).to_have_title(title, timeout=3_000)
    await visitor.send_frame({"type": "close", "conversation_id": cid})
    await visitor.close()


async def test_admins_make_api_keys_and_read_a_sites_event_deliveries(server: ChatdProcess,
                                                                      console: ConsoleFactory) -> None:
    admin_token = await alogin(server.url, "admin", server.passwords["admin"])
    dead = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens: every delivery fails and is retried
    async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {admin_token}"}) as http:
        assert (await http.post("/api/v1/sites", json={"site_key": "hooks", "name": "Hooks shop",
                                                       "events_url": dead,
                                                       "events": ["conversation.created"]})).status_code == 201
        root = await console("admin")
        await root.get_by_test_id("nav-admin").click()
        # An API key: made from the template, its token shown once, revoked.
        await root.get_by_test_id("admin-tab-api_keys").click()
        await expect(root.get_by_test_id("admin-editor")).to_have_value(re.compile("conversations:write"))
        await root.get_by_test_id("admin-save").click()
        await expect(root.get_by_test_id("admin-token")).to_contain_text("chatd_")
        token = re.search(r"chatd_\S+", await root.get_by_test_id("admin-token").inner_text()).group(0)  # type: ignore[union-attr]
        row = root.get_by_test_id("admin-row").filter(has_text="orders backend")
        await expect(row).to_have_count(1)
        # The key works: a backend starts a conversation on the hooks site, whose webhook is down.
        started = await http.post("/api/v1/conversations", json={"site_key": "hooks", "customer_id": "9"},
                                  headers={"authorization": f"Bearer {token}"})
        assert started.status_code == 201, started.text
        await row.locator("button.danger").click()  # revoke
        await expect(row.locator("td").nth(4)).not_to_have_text("")
        revoked = await http.get("/api/v1/conversations", headers={"authorization": f"Bearer {token}"})
        assert revoked.status_code == 401
        # The site's delivery log shows the failed attempt and when it is tried again.
        await root.get_by_test_id("admin-tab-sites").click()
        hooks = root.locator('[data-testid=admin-row][data-key="hooks"]')
        for _ in range(20):
            await hooks.get_by_test_id("admin-deliveries-open").click()
            if await root.get_by_test_id("delivery-row").count():
                break
            await asyncio.sleep(0.5)
        first = root.get_by_test_id("delivery-row").first
        await expect(first).to_contain_text("conversation.created")
        await expect(first).to_contain_text("unreachable")
        await expect(root.get_by_test_id("admin-deliveries")).to_contain_text("Event deliveries of hooks")


async def test_history_search_finds_an_archived_chat_and_marks_the_words(server: ChatdProcess,
                                                                         console: ConsoleFactory) -> None:
    ana_socket = ChatClient(server.ws_url, "agent", token=await alogin(server.url, "ana", server.passwords["ana"]))
    await ana_socket.connect(status="online")
    visitor = ChatClient(server.ws_url, "visitor", name="Wei Wei")
    await visitor.connect()
    cid = (await visitor.start(skill="general"))["conversation_id"]
    await ana_socket.expect("conversation", timeout=10, where=lambda f: f["conversation"]["conversation_id"] == cid)
    await visitor.send(cid, "我的扫地机器人物流到哪了？订单 778899")
    await ana_socket.send(cid, "您好，订单 778899 的物流显示明天送达")
    await ana_socket.send_frame({"type": "close", "conversation_id": cid})
    await visitor.expect("event", timeout=10, where=lambda f: f["event"] == "closed")
    sam = await _api(server, "sam")

    async def archived() -> bool:
        found = (await sam.get("/api/v1/history", params={"q": "778899"})).json()
        return any(hit["conversation"]["conversation_id"] == cid for hit in found.get("hits", []))
    for _ in range(100):  # the archive pass runs every few seconds
        if await archived():
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the chat was not archived")
    await sam.aclose()

    page = await console("sam")
    await page.get_by_test_id("nav-history").click()
    await page.get_by_test_id("history-q").fill("扫地机器人 物流")
    await page.get_by_test_id("history-submit").click()
    row = page.locator(f'[data-testid=history-row][data-conversation="{cid}"]')
    await expect(row).to_have_count(1)  # one message holds both words
    marks = await row.locator("mark").all_text_contents()
    assert sorted(marks) == ["扫地机器人", "物流"], marks
    await row.get_by_test_id("history-open").click()
    lines = page.get_by_test_id("history-line")
    await expect(lines).to_have_count(2)
    await expect(lines.first).to_contain_text("我的扫地机器人物流到哪了")
    # Filters narrow it: another agent's conversations do not hold it.
    await page.get_by_test_id("history-agent").fill("bo")
    await page.get_by_test_id("history-submit").click()
    await expect(page.get_by_test_id("history-empty")).to_be_visible()

    # The agent who served it finds it too; the agent filter is hers and fixed.
    agent_page = await console("ana")
    await agent_page.get_by_test_id("nav-history").click()
    await expect(agent_page.get_by_test_id("history-agent")).to_be_disabled()
    await expect(agent_page.locator(f'[data-testid=history-row][data-conversation="{cid}"]')).to_have_count(1)
    await agent_page.get_by_test_id("history-q").fill("778899")
    await agent_page.get_by_test_id("history-submit").click()
    await expect(agent_page.locator(f'[data-testid=history-row][data-conversation="{cid}"]')).to_have_count(2)
    await agent_page.locator(f'[data-testid=history-row][data-conversation="{cid}"]').first \
        .get_by_test_id("history-open").click()
    await expect(agent_page.get_by_test_id("history-line")).to_have_count(2)
    await ana_socket.close()
    await visitor.close()
