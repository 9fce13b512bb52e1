"""The widget end to end: a visitor in headless Chromium, agents driven over
the protocol (chatd.client.ChatClient), and a real ``chatd serve``.

Every element is found by its data-testid inside the widget's open shadow
root (widget/README.md, "Hooks for browser tests"). One chatd on Redis serves
the module; the crash test comes last, as it leaves dead presences behind
until they expire.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import WebSocketRoute, expect

from chatd.auth import sign_identity
from chatd.client import ChatClient
from chatd.demo import demo_site_secret
from chatd.records import open_records
from tests.browser.conftest import AgentFactory, PageFactory, ShopSite, WidgetPage
from tests.support import ChatdProcess, alogin, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

XSS = '<img src=x onerror="window.__xss=1">'


async def history(server: ChatdProcess, cid: str) -> list[dict[str, Any]]:
    """The conversation's log as stored, read over HTTP by its agent."""
    token = await alogin(server.url, "ana", server.passwords["ana"])
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.url}/api/v1/conversations/{cid}/messages?after=0&limit=500",
                                  headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()["entries"]


async def start_chat(visitor: WidgetPage, agent: ChatClient, text: str) -> str:
    """Open the panel, send ``text``; returns the conversation id once the agent has the message."""
    await visitor.by("chatd-launcher").click()
    await expect(visitor.by("chatd-input")).to_be_visible()
    await visitor.send(text)
    cid = await visitor.conversation_id()
    await agent.expect("message", timeout=10, where=lambda f: f["body"] == text)
    return cid


# --- 1. hostile host page, queue, agent, messages and receipts ------------------------

async def test_hostile_page_queue_then_agent_messages_and_receipts(
        chatd: ChatdProcess, agents: AgentFactory, open_page: PageFactory, artifacts: Path) -> None:
    # Bo is connected but away: someone is on duty (no leave-a-message form),
    # yet nobody can take the chat, so the visitor waits in the queue.
    await agents(chatd, "bo", status="away")
    visitor = await open_page(chatd.url + "/demo/hostile")
    page = visitor.page

    launcher = visitor.by("chatd-launcher")
    await expect(launcher).to_be_visible()
    box = await launcher.bounding_box()
    assert box is not None and 48 <= box["width"] <= 64 and 48 <= box["height"] <= 64
    # The widget is what a click at the launcher's centre hits, above the page's
    # fixed full-screen cover and its top z-index divs.
    hit = await page.evaluate("""([x, y]) => {
        const top = document.elementFromPoint(x, y);
        const inner = top && top.shadowRoot ? top.shadowRoot.elementFromPoint(x, y) : null;
        return [top && top.tagName, inner && inner.closest('[data-testid]').getAttribute('data-testid')];
    }""", [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert hit == ["CHATD-WIDGET", "chatd-launcher"]
    await launcher.click()

    panel = visitor.by("chatd-panel")
    await expect(panel).to_be_visible()
    await expect(visitor.by("chatd-input")).to_be_visible()
    styles = await panel.evaluate("""el => {
        const s = getComputedStyle(el), r = el.getBoundingClientRect();
        const title = getComputedStyle(el.querySelector('h2'));
        return {position: s.position, display: s.display, background: s.backgroundColor, direction: s.direction,
                font: title.fontFamily, transform: title.textTransform, spacing: title.letterSpacing,
                size: title.fontSize, x: r.x, y: r.y, width: r.width, height: r.height};
    }""")
    assert styles["position"] == "fixed" and styles["display"] == "flex"
    assert styles["background"] == "rgb(255, 255, 255)" and styles["direction"] == "ltr"
    assert 360 <= styles["width"] <= 400 and 400 <= styles["height"] <= 660
    assert styles["x"] + styles["width"] <= 1280 and styles["y"] >= 0 and styles["y"] + styles["height"] <= 720
    assert "fantasy" not in styles["font"] and "Comic" not in styles["font"]
    assert styles["transform"] == "none" and styles["spacing"] == "normal" and styles["size"] == "15px"
    send = visitor.by("chatd-send")
    await expect(send).to_be_visible()
    await expect(send).to_have_text("Send")
    button = await send.evaluate("""el => {
        const s = getComputedStyle(el), r = el.getBoundingClientRect();
        return {display: s.display, background: s.backgroundColor, width: r.width, height: r.height};
    }""")
    assert button["display"] != "none" and button["width"] >= 40 and button["height"] >= 30
    assert button["background"] == "rgb(10, 125, 50)"  # the page's theme colour #0a7d32
    host = await visitor.by("chatd-host").evaluate(
        "el => { const s = getComputedStyle(el); return [s.position, s.zIndex]; }")
    assert host == ["fixed", "2147483647"]

    # Nobody can take the chat yet: the visitor sees the queue, not an agent.
    await visitor.send("Hello, where is my parcel?")
    queue = visitor.by("chatd-queue")
    await expect(queue).to_be_visible(timeout=10_000)
    await expect(queue).to_contain_text("You are next")
    await expect(visitor.by("chatd-agent-name")).to_be_hidden()
    pending_first = (await visitor.transcript())[0]
    assert pending_first["body"] == "Hello, where is my parcel?"

    ana = await agents(chatd, "ana")
    offered = await ana.expect("conversation", timeout=10)
    cid = offered["conversation"]["conversation_id"]
    first = await ana.expect("message", where=lambda f: f["body"] == "Hello, where is my parcel?")
    # The assignment carries the agent's display name, which the header and the messages show.
    await expect(visitor.by("chatd-agent-name")).to_have_text("Agent Ana 安娜")
    await expect(queue).to_be_hidden()
    await expect(visitor.by("chatd-event").filter(has_text="Ana 安娜 joined the chat")).to_be_visible()

    # Read receipt of the visitor's message: "Sent" until the agent reads it.
    mine = visitor.by("chatd-message").filter(has_text="Hello, where is my parcel?")
    receipt = mine.get_by_test_id("chatd-read-receipt")
    await expect(receipt).to_have_attribute("data-read", "false")
    await expect(mine).to_have_attribute("data-seq", str(first["seq"]))
    await ana.send_frame({"type": "read", "conversation_id": cid, "seq": first["seq"]})
    await expect(receipt).to_have_attribute("data-read", "true")
    await expect(receipt).to_have_text("Read")

    # The agent types and answers; the open panel reads it and says so.
    await ana.send_frame({"type": "typing", "conversation_id": cid, "active": True})
    await expect(visitor.by("chatd-typing")).to_be_visible()
    await ana.send(cid, "Hi! It leaves the warehouse today.")
    answer = visitor.by("chatd-message").filter(has_text="It leaves the warehouse today.")
    await expect(answer).to_have_attribute("data-role", "agent")
    await expect(answer.get_by_test_id("chatd-sender")).to_have_text("Ana 安娜")
    await expect(visitor.by("chatd-typing")).to_be_hidden()
    agent_seq = int(await answer.get_attribute("data-seq") or 0)
    read = await ana.expect("read", where=lambda f: f["from"]["role"] == "visitor")
    assert read["seq"] >= agent_seq

    # The visitor types (the agent sees it) and answers.
    await visitor.by("chatd-input").press_sequentially("Gre")
    typing = await ana.expect("typing", where=lambda f: f["from"]["role"] == "visitor")
    assert typing["active"] is True
    await visitor.by("chatd-input").fill("Great, thank you!")
    await visitor.by("chatd-send").click()
    second = await ana.expect("message", where=lambda f: f["body"] == "Great, thank you!")
    await expect(visitor.by("chatd-message").filter(has_text="Great, thank you!")).to_have_attribute(
        "data-seq", str(second["seq"]))
    await expect(visitor.by("chatd-input")).to_have_value("")

    transcript = await visitor.transcript()
    assert [(m["role"], m["body"]) for m in transcript] == [
        ("visitor", "Hello, where is my parcel?"),
        ("agent", "Hi! It leaves the warehouse today."),
        ("visitor", "Great, thank you!"),
    ]
    assert all(m["pending"] is None for m in transcript)
    assert ana.duplicates == 0
    await visitor.screenshot(artifacts / "widget-hostile-page.png")


# --- 3. messages are text, never HTML --------------------------------------------------

async def test_agent_html_renders_as_text(chatd: ChatdProcess, agents: AgentFactory,
                                          open_page: PageFactory) -> None:
    ana = await agents(chatd, "ana")
    visitor = await open_page(chatd.url + "/demo?locale=en")
    cid = await start_chat(visitor, ana, "hi")
    await ana.send(cid, XSS)
    links = "<b>track</b> at https://example.com/track?id=42, not javascript:window.__xss=2"
    await ana.send(cid, links)

    bodies = visitor.page.locator("[data-testid=chatd-message][data-role=agent] [data-testid=chatd-message-body]")
    await expect(bodies).to_have_count(2)
    assert await bodies.nth(0).evaluate("el => el.textContent") == XSS
    assert await bodies.nth(1).evaluate("el => el.textContent") == links
    await asyncio.sleep(0.5)  # an <img src=x> would have failed to load and run onerror by now
    found = await visitor.by("chatd-host").evaluate("""host => ({
        shadowImages: host.shadowRoot.querySelectorAll('img').length,
        pageImages: document.querySelectorAll('img').length,
        xss: typeof window.__xss,
        links: [...host.shadowRoot.querySelectorAll('[data-testid=chatd-message-body] a')].map(
            a => [a.getAttribute('href'), a.target, a.rel, a.textContent]),
    })""")
    assert found["shadowImages"] == 0 and found["pageImages"] == 0
    assert found["xss"] == "undefined"
    # Only the http(s) URL became a link, opened safely; javascript: stayed text.
    assert found["links"] == [["https://example.com/track?id=42", "_blank", "noopener noreferrer",
                               "https://example.com/track?id=42"]]


# --- bot suggestions while the visitor types ------------------------------------------

async def test_suggestions_while_typing_from_the_knowledge_base(
        chatd: ChatdProcess, agents: AgentFactory, open_page: PageFactory) -> None:
    ana = await agents(chatd, "ana")
    visitor = await open_page(chatd.url + "/demo?locale=zh-CN")
    await visitor.by("chatd-launcher").click()
    await visitor.by("chatd-input").press_sequentially("物流")
    asked = await visitor.frame("suggest", sent=True)
    assert asked == {"type": "suggest", "text": "物流"}
    answer = await visitor.frame("suggestions", lambda f: f["text"] == "物流")
    assert answer["items"], "the demo knowledge base suggests nothing for 物流"
    chips = visitor.by("chatd-suggestion")
    await expect(chips).to_have_count(min(len(answer["items"]), 8))
    texts = await chips.all_inner_texts()
    assert texts == [item["text"] for item in answer["items"]][:8]
    assert all("物流" in text for text in texts), texts

    # A tap asks that question; the suggestions go away.
    await chips.first.click()
    await ana.expect("message", timeout=10, where=lambda f: f["body"] == texts[0])
    await expect(visitor.by("chatd-suggestions")).to_be_hidden()
    await expect(visitor.by("chatd-message").filter(has_text=texts[0])).to_have_attribute("data-role", "visitor")


# --- 4. satisfaction rating after the agent closes ------------------------------------

async def stored_rating(server: ChatdProcess, cid: str) -> dict[str, Any] | None:
    """The rating in the server's record store (read there directly: the
    conversation's HTTP reading has it too, but only for its participants)."""
    records = open_records(server.database_url)
    try:
        return await records.ratings.get(cid)
    finally:
        await records.database.close()


async def test_csat_after_close_is_submitted_and_stored(
        chatd: ChatdProcess, agents: AgentFactory, open_page: PageFactory) -> None:
    server = chatd
    ana = await agents(server, "ana")
    visitor = await open_page(server.url + "/demo?locale=en")
    cid = await start_chat(visitor, ana, "Can I change my address?")
    await ana.send(cid, "Done, it is changed.")
    await expect(visitor.by("chatd-message").filter(has_text="Done, it is changed.")).to_be_visible()
    rating = visitor.by("chatd-rating")
    await expect(rating).to_be_hidden()

    await ana.send_frame({"type": "close", "conversation_id": cid})
    await expect(rating).to_be_visible()
    await expect(visitor.by("chatd-event").filter(has_text="The chat has ended")).to_be_visible()
    submit = visitor.by("chatd-rating-submit")
    await expect(submit).to_be_disabled()
    stars = visitor.by("chatd-rating-star")
    await expect(stars).to_have_count(5)
    await stars.and_(visitor.page.locator("[data-score='4']")).click()
    await expect(visitor.page.locator("[data-testid=chatd-rating-star][aria-pressed=true]")).to_have_attribute(
        "data-score", "4")
    await visitor.by("chatd-rating-comment").fill("Quick and friendly, thanks")
    await submit.click()

    thanks = visitor.by("chatd-rating-thanks")
    await expect(thanks).to_be_visible()
    await expect(thanks).to_have_text("Thank you for your feedback!")
    rate = await visitor.frame("rate", sent=True)
    assert rate == {"type": "rate", "conversation_id": cid, "score": 4, "comment": "Quick and friendly, thanks",
                    "ref": rate["ref"]}
    rated = await visitor.frame("rated")
    assert rated["conversation_id"] == cid and rated["score"] == 4 and rated.get("ref") == rate["ref"]

    record = await stored_rating(server, cid)
    assert record is not None, "the rating was not stored"
    assert (record["conversation_id"], record["score"], record["comment"]) == (cid, 4, "Quick and friendly, thanks")

    # A reload does not ask again for the same conversation.
    await visitor.page.reload()
    await visitor.by("chatd-launcher").click()
    await expect(visitor.by("chatd-event").filter(has_text="The chat has ended")).to_be_visible()
    await expect(rating).to_be_hidden()
    await expect(visitor.by("chatd-input")).to_be_visible()


async def test_csat_thanks_only_after_the_server_confirms_and_can_be_retried(
        chatd: ChatdProcess, agents: AgentFactory, open_page: PageFactory) -> None:
    # Between the page and chatd: the first `rate` is refused as a server
    # would (an error echoing its ref), and `rated` answers are held back.
    refuse = ["bad_state"]
    held: list[str] = []
    pages: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        pages.append(ws)
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("type") == "rate" and refuse:
                ws.send(json.dumps({"type": "error", "code": refuse.pop(), "ref": frame["ref"],
                                    "conversation_id": frame["conversation_id"],
                                    "message": "the rating could not be saved"}))
                return
            server.send(message)

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str) and json.loads(message).get("type") == "rated":
                held.append(message)
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    ana = await agents(chatd, "ana")
    visitor = await open_page()
    await visitor.page.route_web_socket(re.compile(r"/ws/visitor"), route)
    await visitor.page.goto(chatd.url + "/demo?locale=en")
    cid = await start_chat(visitor, ana, "Is it in stock?")
    await ana.send_frame({"type": "close", "conversation_id": cid})
    rating = visitor.by("chatd-rating")
    await expect(rating).to_be_visible()
    submit = visitor.by("chatd-rating-submit")
    thanks = visitor.by("chatd-rating-thanks")
    alert = rating.get_by_role("alert")

    await visitor.page.locator("[data-testid=chatd-rating-star][data-score='2']").click()
    await visitor.by("chatd-rating-comment").fill("Slow answer")
    await submit.click()
    # Refused: the form stays, says why, and can be sent again.
    await expect(alert).to_have_text("Could not send your rating, please try again")
    await expect(thanks).to_be_hidden()
    await expect(submit).to_be_enabled()

    await submit.click()
    await eventually(lambda: held)  # chatd stored it; its confirmation is held back
    await asyncio.sleep(0.3)
    await expect(thanks).to_be_hidden()  # no thanks before the server confirmed
    await expect(submit).to_be_disabled()  # and no second submission meanwhile
    await expect(alert).to_have_text("")
    assert json.loads(held[0])["score"] == 2

    # The socket dies before the confirmation: the form can be sent again
    # (the server keeps the last rating), and the new connection confirms.
    held.clear()
    await pages[-1].close()
    await expect(submit).to_be_enabled()
    await expect(thanks).to_be_hidden()
    await visitor.page.locator("[data-testid=chatd-rating-star][data-score='3']").click()
    await eventually(lambda: len(pages) == 2)  # reconnected
    await submit.click()
    await eventually(lambda: held)
    assert json.loads(held[0])["score"] == 3
    pages[-1].send(held[0])
    await expect(thanks).to_be_visible()
    await expect(rating.get_by_test_id("chatd-rating-comment")).to_be_hidden()


# --- 5. leave a message when nobody is on duty ----------------------------------------

def embed_page(loader_url: str, boot: str, before: str = "") -> str:
    """A customer's page with the documented embed snippet."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title></head>
<body><h1>A customer's shop</h1>
<script>
  window.chatd = window.chatd || function () {{ (chatd.q = chatd.q || []).push(arguments); }};
  {before}
  chatd('boot', {boot});
</script>
<script async src="{loader_url}"></script>
</body></html>"""


async def test_prechat_form_then_unread_badge_over_msgpack(chatd: ChatdProcess, agents: AgentFactory,
                                                           shop: ShopSite, open_page: PageFactory) -> None:
    ana = await agents(chatd, "ana")
    shop.pages["/prechat/"] = embed_page(chatd.url + "/widget/loader.js", """{ site: 'demo', locale: 'en',
        codec: 'msgpack', prechat: { fields: ['name', 'phone', 'email'], required: ['name'] } }""")
    visitor = await open_page(shop.url + "/prechat/")
    await visitor.by("chatd-launcher").click()

    # The pre-chat form comes first; its name is required and the email must look like one.
    form = visitor.by("chatd-prechat")
    await expect(form).to_be_visible()
    await expect(visitor.by("chatd-composer")).to_be_hidden()
    await visitor.by("chatd-prechat-email").fill("not an email")
    await visitor.by("chatd-prechat-submit").click()
    await expect(visitor.by("chatd-prechat-name")).to_have_attribute("aria-invalid", "true")
    await expect(visitor.by("chatd-prechat-email")).to_have_attribute("aria-invalid", "true")
    await expect(visitor.by("chatd-prechat-name")).to_be_focused()
    await visitor.by("chatd-prechat-name").fill("Han Meimei")
    await visitor.by("chatd-prechat-email").fill("han@example.com")
    await visitor.by("chatd-prechat-submit").click()
    await expect(form).to_be_hidden()
    await expect(visitor.by("chatd-input")).to_be_focused()

    # Every frame went as msgpack; the answers reached the server with the new conversation.
    start = await visitor.frame("start", sent=True)
    assert start["attributes"] == {"name": "Han Meimei", "email": "han@example.com"}
    offered = await ana.expect("conversation", timeout=10, where=lambda f: f["conversation"].get(
        "visitor_name") == "Han Meimei")
    cid = offered["conversation"]["conversation_id"]
    await visitor.send("Where is my parcel?")
    await ana.expect("message", timeout=10, where=lambda f: f["body"] == "Where is my parcel?")
    assert visitor.binary_frames > 0 and all(isinstance(f, dict) for f in visitor.received)

    # Answers that arrive while the panel is closed are counted on the launcher.
    await visitor.by("chatd-close").click()
    await expect(visitor.by("chatd-panel")).to_be_hidden()
    badge = visitor.by("chatd-badge")
    await expect(badge).to_be_hidden()
    for text in ("Let me check", "It left the warehouse today"):
        await ana.send(cid, text)
    await expect(badge).to_have_text("2")
    await expect(visitor.by("chatd-launcher")).to_have_attribute("aria-label", "Open chat, 2 unread")
    await visitor.by("chatd-launcher").click()
    await expect(visitor.by("chatd-message").filter(has_text="It left the warehouse today")).to_be_visible()
    await expect(badge).to_be_hidden()
    await expect(visitor.by("chatd-launcher")).to_have_attribute("aria-label", "Close chat")
    assert not visitor.errors, visitor.errors


async def test_leave_a_message_when_no_agent_is_online(chatd: ChatdProcess, shop: ShopSite,
                                                      open_page: PageFactory) -> None:
    # The shop is another origin than chatd (another port), as on a real
    # customer's site: the form's POST is cross-origin, with a preflight.
    shop.pages["/shop/"] = embed_page(chatd.url + "/widget/loader.js", "{ site: 'demo', locale: 'en' }")
    page_url = shop.url + "/shop/"
    visitor = await open_page(page_url)
    await visitor.by("chatd-launcher").click()
    welcome = await visitor.frame("welcome")
    assert welcome["on_duty"] is False, "an agent of an earlier test is still connected"

    form = visitor.by("chatd-leave-form")
    await expect(form).to_be_visible()
    await expect(visitor.by("chatd-leave-title")).to_have_text(
        "Nobody is available right now. Leave a message and we will get back to you.")
    await expect(visitor.by("chatd-composer")).to_be_hidden()
    await expect(visitor.by("chatd-leave-back")).to_be_hidden()  # there is no chat to go back to

    # Nothing to reach the visitor by: refused in the page, nothing is posted.
    await visitor.by("chatd-leave-body").fill("Do you ship to Macau?")
    await visitor.by("chatd-leave-submit").click()
    await expect(form).to_contain_text("Please give a phone number or an email address")
    await expect(visitor.by("chatd-leave-status")).not_to_have_attribute("data-state", re.compile("."))

    await visitor.by("chatd-leave-name").fill("Li Lei")
    await visitor.by("chatd-leave-email").fill("li.lei@example.com")
    async with visitor.page.expect_request(
            lambda r: r.url == chatd.url + "/api/v1/leave-message" and r.method == "POST") as posted:
        await visitor.by("chatd-leave-submit").click()
    request = await posted.value
    assert request.post_data_json == {
        "site": "demo", "name": "Li Lei", "phone": "", "email": "li.lei@example.com",
        "body": "Do you ship to Macau?", "locale": "en", "page_url": page_url, "attributes": {},
    }
    assert (await request.all_headers())["authorization"] == f"Bearer {welcome['token']}"
    status = visitor.by("chatd-leave-status")
    await expect(status).to_have_attribute("data-state", re.compile("sent|failed"))
    response = await request.response()
    detail = f"{response.status} {await response.text()}" if response else f"no response: {request.failure}"
    assert response is not None and 200 <= response.status < 300, f"POST /api/v1/leave-message: {detail}"
    await expect(status).to_have_attribute("data-state", "sent")
    await expect(status).to_have_text("Thank you, we will get back to you soon")
    await expect(visitor.by("chatd-leave-body")).to_be_hidden()
    created = (await response.json())["ticket"]

    # The message is a ticket that agents find in the open tickets.
    token = await alogin(chatd.url, "ana", chatd.passwords["ana"])
    async with httpx.AsyncClient() as http:
        listed = await http.get(f"{chatd.url}/api/v1/tickets?status=open",
                                headers={"authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    tickets = [t for t in listed.json()["tickets"] if t["ticket_id"] == created["ticket_id"]]
    assert len(tickets) == 1, listed.json()
    ticket = tickets[0]
    assert ticket["site_key"] == "demo" and ticket["status"] == "open"
    assert ticket["message"] == "Do you ship to Macau?"
    assert ticket["contact"]["name"] == "Li Lei" and ticket["contact"]["email"] == "li.lei@example.com"
    assert ticket["visitor_id"] == welcome["visitor_id"]


async def test_leave_a_message_when_the_server_answers_start_with_leave_message(
        chatd: ChatdProcess, agents: AgentFactory, open_page: PageFactory) -> None:
    # Overflow rules (outside the shift schedule, say) answer `start` with
    # mode leave_message (docs/protocol.md); the answer is rewritten here so
    # that no rule of the demo data has to change.
    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("type") == "conversation" and "ref" in frame:
                frame["mode"] = "leave_message"
                message = json.dumps(frame)
            ws.send(message)

        server.on_message(from_server)

    await agents(chatd, "ana")  # on duty, so the widget starts a chat
    visitor = await open_page()
    await visitor.page.route_web_socket(re.compile(r"/ws/visitor"), route)
    await visitor.page.goto(chatd.url + "/demo?locale=en")
    await visitor.by("chatd-launcher").click()
    await visitor.send("Can I return a gift without the receipt?")
    cid = await visitor.conversation_id()

    form = visitor.by("chatd-leave-form")
    await expect(form).to_be_visible()
    await expect(visitor.by("chatd-leave-title")).to_have_text(
        "Nobody is available right now. Leave a message and we will get back to you.")
    await expect(visitor.by("chatd-leave-body")).to_have_value("Can I return a gift without the receipt?")
    await visitor.by("chatd-leave-phone").fill("13800138000")
    async with visitor.page.expect_response(lambda r: r.url.endswith("/api/v1/leave-message")) as answered:
        await visitor.by("chatd-leave-submit").click()
    response = await answered.value
    assert response.status == 201, await response.text()
    ticket = (await response.json())["ticket"]
    assert (ticket["conversation_id"], ticket["message"]) == (cid, "Can I return a gift without the receipt?")
    assert ticket["contact"]["phone"] == "13800138000"
    await expect(visitor.by("chatd-leave-status")).to_have_attribute("data-state", "sent")

    # Back to the chat, where the message is, sent once.
    await visitor.by("chatd-leave-back").click()
    await expect(visitor.by("chatd-input")).to_be_visible()
    mine = visitor.by("chatd-message").filter(has_text="Can I return a gift without the receipt?")
    await expect(mine).to_have_count(1)
    await expect(mine).to_have_attribute("data-seq", re.compile(r"^\d+$"))


# --- 6. the open panel on a phone ------------------------------------------------------

async def test_mobile_panel_fills_the_screen_screenshot(
        chatd: ChatdProcess, agents: AgentFactory, open_page: PageFactory, artifacts: Path) -> None:
    ana = await agents(chatd, "ana")
    visitor = await open_page(chatd.url + "/demo?locale=en", viewport={"width": 390, "height": 844},
                              device_scale_factor=1, is_mobile=True, has_touch=True)
    # Many shops' pages are wider than a phone; mobile browsers then widen the
    # layout viewport that fixed elements fill, but the panel must fit the screen.
    await visitor.page.evaluate("""() => {
        const wide = document.createElement('div');
        wide.style.cssText = 'width: 1200px; height: 10px';
        document.body.append(wide);
    }""")
    launcher = await visitor.by("chatd-launcher").bounding_box()
    assert launcher is not None, "no launcher"
    assert (launcher["x"] + launcher["width"], launcher["y"] + launcher["height"]) == (370, 824), launcher
    cid = await start_chat(visitor, ana, "Hi, where is my parcel? Order 20240611")
    await ana.send(cid, "Hello! It left our warehouse this morning and should arrive tomorrow.")
    await expect(visitor.by("chatd-message").filter(has_text="should arrive tomorrow")).to_be_visible()
    await visitor.send("Great, thank you!")
    thanks = await ana.expect("message", where=lambda f: f["body"] == "Great, thank you!")
    await ana.send_frame({"type": "read", "conversation_id": cid, "seq": thanks["seq"]})
    last = visitor.by("chatd-message").filter(has_text="Great, thank you!")
    await expect(last.get_by_test_id("chatd-read-receipt")).to_have_attribute("data-read", "true")
    await visitor.by("chatd-input").blur()

    # On a phone the open panel is the whole screen, the composer within it.
    assert await visitor.page.evaluate("document.documentElement.scrollWidth") >= 1200
    panel = await visitor.by("chatd-panel").bounding_box()
    assert panel == {"x": 0, "y": 0, "width": 390, "height": 844}, panel
    composer = await visitor.by("chatd-composer").bounding_box()
    assert composer is not None and composer["y"] + composer["height"] <= 844
    await expect(visitor.by("chatd-launcher")).to_be_hidden()

    shot = await visitor.screenshot(artifacts / "widget-mobile.png")
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # the PNG's IHDR
    assert (width, height) == (390, 844)


# --- full-page chat for app web views, with a server-signed identity ------------------

async def test_full_page_chat_with_a_signed_identity(chatd: ChatdProcess, agents: AgentFactory,
                                                    open_page: PageFactory) -> None:
    # What the shop's backend does for a logged-in customer (chatd.auth.sign_identity).
    identity = sign_identity(demo_site_secret(chatd.secret), "shop-user-42", time.time(), ttl=600, site="demo",
                             name="Li Lei")
    ana = await agents(chatd, "ana")
    visitor = await open_page(f"{chatd.url}/chat?site=demo&locale=en#identity={identity}",
                              viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    hello = await visitor.frame("hello", sent=True)
    assert hello["identity"] == identity
    welcome = await visitor.frame("welcome")
    assert welcome["visitor_id"] == "u:shop-user-42"
    assert "identity" not in visitor.page.url  # the token left the address bar
    # The page is the chat: no launcher, the panel fills the screen.
    await expect(visitor.by("chatd-launcher")).to_have_count(0)
    await expect(visitor.by("chatd-input")).to_be_visible()
    assert await visitor.by("chatd-panel").bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}

    await visitor.send("Is my order on its way?")
    offered = await ana.expect("conversation", timeout=10)
    assert offered["conversation"]["visitor_id"] == "u:shop-user-42"
    assert offered["conversation"].get("visitor_name") == "Li Lei"


# --- 2. chatd killed and restarted mid-conversation -----------------------------------

async def test_widget_recovers_from_a_chatd_crash_without_loss_or_duplicates(
        chatd: ChatdProcess, agents: AgentFactory, open_page: PageFactory) -> None:
    server = chatd
    ana = await agents(server, "ana")
    visitor = await open_page(server.url + "/demo?locale=en")
    cid = await start_chat(visitor, ana, "before the crash")
    await ana.send(cid, "answer before the crash")
    await expect(visitor.by("chatd-message").filter(has_text="answer before the crash")).to_have_attribute(
        "data-role", "agent")

    server.kill()
    banner = visitor.by("chatd-connection")
    await expect(banner).to_be_visible(timeout=10_000)
    await expect(banner).to_contain_text("reconnecting")
    # Written while the server is down: shown as sending, kept in the outbox.
    await visitor.send("written while down 1")
    await visitor.send("written while down 2")
    pending = visitor.by("chatd-message").filter(has_text="written while down")
    await expect(pending).to_have_count(2)
    for item in await pending.all():
        await expect(item).to_have_attribute("data-pending", "sending")
    # The agent writes too: kept in the agent client's outbox, resent on reconnect.
    await ana.send(cid, "agent written while down")
    await asyncio.sleep(1.0)  # the widget keeps retrying against a dead port
    sockets_before = len(visitor.sockets)

    server.start()
    # The agent's console comes back too and answers at once; the widget
    # reconnects by itself (backoff with jitter) whenever its timer fires.
    await ana.connect()
    await ana.send(cid, "agent after restart 1")
    for body in ("written while down 1", "written while down 2"):
        await ana.expect("message", timeout=40, where=lambda f, body=body: f["body"] == body)
    await expect(banner).to_be_hidden()
    assert len(visitor.sockets) > sockets_before
    await ana.send(cid, "agent after restart 2")
    await expect(visitor.by("chatd-message").filter(has_text="agent after restart 2")).to_be_visible()

    transcript = await visitor.transcript()
    bodies = [m["body"] for m in transcript]
    expected = ["before the crash", "answer before the crash", "written while down 1", "written while down 2",
                "agent written while down", "agent after restart 1", "agent after restart 2"]
    assert sorted(bodies) == sorted(expected), bodies
    # Each side's messages in the order it wrote them.
    assert [m["body"] for m in transcript if m["role"] == "visitor"] == [
        "before the crash", "written while down 1", "written while down 2"]
    assert [m["body"] for m in transcript if m["role"] == "agent"] == [
        "answer before the crash", "agent written while down", "agent after restart 1", "agent after restart 2"]
    assert all(m["pending"] is None and m["seq"] is not None for m in transcript), transcript
    seqs = [m["seq"] for m in transcript]
    assert seqs == sorted(set(seqs)), seqs  # no duplicate, strictly increasing
    all_seqs = await visitor.log_seqs()
    assert all_seqs == sorted(set(all_seqs)), all_seqs
    # What the visitor sees is exactly what the server stored, in the same order.
    stored = [(e["seq"], e["body"]) for e in await history(server, cid) if e["kind"] == "message"]
    assert [(m["seq"], m["body"]) for m in transcript] == stored
    # And so does the agent, who got nothing twice.
    assert [(f["seq"], f["body"]) for f in ana.messages(cid)] == stored
    assert ana.duplicates == 0
    # The resent messages went out with their original client_msg_id.
    ids = [f["client_msg_id"] for f in visitor.sent if f.get("type") == "send" and "while down" in f["body"]]
    assert len(set(ids)) == 2
