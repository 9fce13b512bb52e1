"""The bot at run time: the thin driver around the pure knowledge base, dialogue and
overflow rules, implementing :class:`chatd.bot.base.Bot` for the chat service.

- **Knowledge**: entries are ``kb_entry`` records; every edit writes a new
  ``kb_meta`` version. :class:`KnowledgeCache` compares the stored version before
  each use and rebuilds the index when it changed, so an edit on any node is live
  on every node at the next question or keystroke.
- **Start**: a new conversation's skill group may have an overflow rule; the rule
  is evaluated against the router's queue figures at the injected clock's time and
  the decision is recorded as an ``overflow`` routing record. Outside business
  hours the visitor gets the leave-a-message form; over a limit or in a peak window
  the bot answers first while the visitor keeps a queue place; otherwise a
  bot-first site's bot answers first, and other chats queue for a human.
- **Messages**: answered from the visitor's conversation task, never from the
  socket's: the bot's state per conversation is a ``bot_state`` record, so any
  node can answer the next message. Once an agent has joined, the bot is silent.
- **External bot**: a site with a webhook gets each event signed
  (:mod:`chatd.bot.webhook`); failures, timeouts and late replies fall back to
  the built-in bot or a human, never to silence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import httpx

from chatd.bot.base import BotStart
from chatd.bot.config import BotSettings, overflow_rule_from_record
from chatd.bot.dialogue import BotDialogue, BotState, BotTurn, Button, HandoffContext
from chatd.bot.kb import FaqEntry, entry_from_dict
from chatd.bot.overflow import OverflowDecision, QueueSnapshot, decide
from chatd.bot.search import KnowledgeBase
from chatd.bot.suggest import Suggester
from chatd.bot.webhook import ExternalReply, WebhookClient
from chatd.errors import ChatdError
from chatd.model import Conversation, Site
from chatd.records.base import KnowledgeBaseStore, Records
from chatd.routing import Routing
from chatd.store.base import Store

__all__ = ["BotRuntime", "KnowledgeCache", "new_kb_version", "seed_bot_demo"]

log = logging.getLogger("chatd.bot")

_TEXTS = {
    "zh-CN": {
        "greeting": "您好，我是智能客服小助手，请问有什么可以帮您？也可以随时输入「转人工」。",
        "overflow": "当前咨询人数较多，机器人先为您解答；您可以随时转人工，排队位置为您保留。",
        "leave_message": "当前不在人工服务时间，您可以留言，我们上班后第一时间联系您；也可以先问问机器人。",
        "nobody": "现在没有人工客服在线，请点击「留言」留下联系方式和问题，我们会尽快联系您。",
        "human": "转人工",
        "connecting": "正在为您转接人工客服，请稍候。",
    },
    "en": {
        "greeting": "Hi, I'm the shop's assistant. What can I do for you? Type \"human\" any time for a person.",
        "overflow": "Lots of chats right now: the assistant answers first. Ask for a person any time; "
                    "you keep your place in the queue.",
        "leave_message": "Our agents are off duty now. Leave a message and we'll get back to you, "
                         "or ask the assistant meanwhile.",
        "nobody": "No agent is on duty now. Please leave a message with your contact and we'll get back to you.",
        "human": "Talk to a person",
        "connecting": "Connecting you to an agent, one moment please.",
    },
}
_BOT_MODES = ("bot", "leave_message")
SILENT_REMEMBERED = 100_000  # conversations per node known to need no bot


def _texts(locale: str) -> dict[str, str]:
    return _TEXTS["en" if locale == "en" else "zh-CN"]


def new_kb_version() -> str:
    """A fresh knowledge-base version: stored with a change, it makes every
    node rebuild its index on next use."""
    return secrets.token_hex(8)


class KnowledgeCache:
    """The search index of the stored knowledge base, rebuilt when its version changes."""

    def __init__(self, knowledge_base: KnowledgeBaseStore) -> None:
        self._store = knowledge_base
        self._version: str | None = None
        self._kb = KnowledgeBase([])
        self._suggester = Suggester([])
        self._lock = asyncio.Lock()

    async def current(self) -> tuple[KnowledgeBase, Suggester]:
        version = await self._store.version()
        if version != self._version:
            async with self._lock:
                if version != self._version:
                    entries = await self.entries()
                    # Segmenting a large base takes a while: keep the event loop free.
                    self._kb, self._suggester = await asyncio.to_thread(_build, entries)
                    self._version = version
        return self._kb, self._suggester

    async def entries(self) -> list[FaqEntry]:
        found = []
        for record in await self._store.list():
            try:
                found.append(entry_from_dict(record, where=f"entry {record.get('id')!r}"))
            except ValueError:
                log.warning("skipping an invalid knowledge-base record %r", record.get("id"))
        return found


def _build(entries: list[FaqEntry]) -> tuple[KnowledgeBase, Suggester]:
    return KnowledgeBase(entries), Suggester(entries)


def _state_to_record(state: BotState) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(state).items()}


def _state_from_record(raw: dict[str, Any] | None) -> BotState:
    if not raw:
        return BotState()
    names = set(BotState.__slots__)
    return BotState(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names})


def _button_dict(button: Button) -> dict[str, Any]:
    return {"kind": button.kind, "label": button.label, "entry_id": button.entry_id}


class BotRuntime:
    """Implements :class:`chatd.bot.base.Bot`. Call :meth:`attach` with the chat
    service before use (the service and the bot refer to each other)."""

    def __init__(self, store: Store, records: Records, router: Routing, clock: Callable[[], float], *,
                 webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.store = store
        self.records = records
        self.router = router
        self.clock = clock
        self.knowledge = KnowledgeCache(records.knowledge_base)
        self.webhook = WebhookClient(clock, webhook_transport)
        self.service: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        # Conversations the bot is out of for good (human first, or a human
        # joined): their messages cost nothing more on this node.
        self._silent: OrderedDict[str, None] = OrderedDict()

    def attach(self, service: Any) -> None:
        self.service = service

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Nothing to load up front: the index is built on first use (a few seconds of
        CPU for the segmentation dictionary), so nodes that never meet the bot pay nothing."""
        return None

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.webhook.close()

    async def idle(self) -> None:
        """Wait until every answer in flight is done (tests, drain)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bot task failed", exc_info=task.exception())

    # --- records -----------------------------------------------------------------------
    async def site_settings(self, site_key: str) -> BotSettings:
        return BotSettings.from_record(site_key, await self.records.bot_settings.get(site_key))

    async def _state(self, conversation_id: str) -> dict[str, Any] | None:
        return await self.store.bot_state(conversation_id)

    async def _save(self, conversation_id: str, record: dict[str, Any]) -> None:
        record["updated_at"] = self.clock()
        await self.store.put_bot_state(conversation_id, record)

    # --- starting a conversation ----------------------------------------------------------
    async def queue_snapshot(self, skill: str) -> tuple[QueueSnapshot, dict[str, Any]]:
        """The skill group's queue as routing sees it now, and the raw figures."""
        floor = await self.router.floor([skill])
        stats = floor.queues[skill].to_dict()
        group = [a for a in floor.agents if skill in a.skills]
        on_shift: int | None = None
        if any(a.scheduled for a in group):
            # Shift schedules decide who is on duty; agents without one count while connected.
            on_shift = sum(1 for a in group if (a.on_shift if a.scheduled else a.status != "offline"))
        stats = {**stats, "agents_on_duty": on_shift}
        return QueueSnapshot(skill, int(stats["length"]), on_shift, stats.get("predicted_wait_seconds")), stats

    async def decide_overflow(self, skill: str) -> tuple[OverflowDecision, dict[str, Any]] | None:
        """The overflow rule's decision for ``skill`` now, or None without a rule."""
        record = await self.records.overflow_rules.get(skill)
        if record is None:
            return None
        snapshot, stats = await self.queue_snapshot(skill)
        now = datetime.fromtimestamp(self.clock(), UTC)
        return decide(overflow_rule_from_record(record), snapshot, now), stats

    async def plan_start(self, conversation: Conversation, site: Site | None) -> BotStart:
        settings = await self.site_settings(conversation.site_key)
        texts = _texts(settings.locale)
        decided = await self.decide_overflow(conversation.skill)
        start = BotStart(mode="bot", queue=False, reason="bot_first", message="") if settings.bot_first \
            else BotStart()
        if decided is not None:
            decision, stats = decided
            explanation = {
                "at": self.clock(), "kind": "overflow", "skill_group": conversation.skill,
                "action": decision.action, "reason": decision.reason, "explanation": decision.message,
                "explanation_zh": decision.message_zh, "details": dict(decision.details), "queue": stats,
                "bot_first_site": settings.bot_first}
            details = {"overflow": decision.reason, **dict(decision.details)}
            if decision.action == "leave_message":
                start = BotStart("leave_message", queue=False, reason=decision.reason,
                                 message=texts["leave_message"], details=details, explanation=explanation)
            elif decision.action == "bot_first":
                start = BotStart("bot", queue=True, reason=decision.reason, message=texts["overflow"],
                                 details=details, explanation=explanation)
            else:
                start = dataclasses.replace(start, explanation=explanation)
        return start

    async def started(self, conversation: Conversation, start: BotStart) -> None:
        if start.mode in _BOT_MODES:
            settings = await self.site_settings(conversation.site_key)
            await self._save(conversation.conversation_id, self._fresh_state(start.mode, start.queue, settings))
            self._spawn(self._greet(conversation, settings, start))

    @staticmethod
    def _fresh_state(mode: str, queued: bool, settings: BotSettings) -> dict[str, Any]:
        return {"mode": mode, "queued": queued, "locale": settings.locale,
                "dialogue": _state_to_record(BotState()), "buttons": [], "awaiting": ""}

    async def _greet(self, conversation: Conversation, settings: BotSettings, start: BotStart) -> None:
        texts = _texts(settings.locale)
        if settings.webhook_url and settings.webhook_secret:
            delivered = await self._ask_external(conversation, settings, "conversation_started", "")
            if delivered:
                return
        handoff = Button("handoff", texts["human"])
        data: dict[str, Any] = {"buttons": [_button_dict(handoff)], "bot": "builtin"}
        if start.mode == "leave_message":
            data["action"] = "leave_message"
        await self._reply(conversation.conversation_id, settings.greeting or texts["greeting"], data)

    # --- visitor messages -------------------------------------------------------------------
    def on_visitor_message(self, conversation_id: str, text: str) -> None:
        if conversation_id not in self._silent:
            self._spawn(self._serialised(conversation_id, text, None))

    def _stay_silent(self, conversation_id: str) -> None:
        self._silent[conversation_id] = None
        if len(self._silent) > SILENT_REMEMBERED:
            self._silent.popitem(last=False)

    def on_button(self, conversation_id: str, button: dict[str, Any]) -> None:
        pressed = Button(str(button.get("kind") or "question"), str(button.get("label") or ""),
                         button.get("entry_id"))
        self._spawn(self._serialised(conversation_id, pressed.label, pressed))

    def on_closed(self, conversation_id: str) -> None:
        self._silent.pop(conversation_id, None)
        self._spawn(self._forget(conversation_id))

    async def _forget(self, conversation_id: str) -> None:
        """Delete the conversation's state once any answer in flight is done (it
        may still write the state): closed conversations keep nothing here."""
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        try:
            async with lock:
                await self.store.drop_bot_state(conversation_id)
        finally:
            if not lock.locked() and self._locks.get(conversation_id) is lock:
                del self._locks[conversation_id]

    async def _serialised(self, conversation_id: str, text: str, button: Button | None) -> None:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        try:
            async with lock:
                await self._answer(conversation_id, text, button)
        finally:
            if not lock.locked() and self._locks.get(conversation_id) is lock:
                del self._locks[conversation_id]

    async def _answer(self, conversation_id: str, text: str, button: Button | None) -> None:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None or conversation.state == "closed":
            return
        record = await self._state(conversation_id)
        if record is None and conversation.mode in _BOT_MODES:
            # The bot's chat, whose state was never saved (its node stopped right
            # after the start): take it up afresh rather than leave it unanswered.
            record = self._fresh_state(conversation.mode, conversation.state != "open",
                                       await self.site_settings(conversation.site_key))
        if record is None or record.get("mode") not in _BOT_MODES:
            self._stay_silent(conversation_id)
            return  # a human-first chat: the bot is not part of it
        dialogue_state = _state_from_record(record.get("dialogue"))
        if dialogue_state.human_joined:
            self._stay_silent(conversation_id)
            return
        if conversation.state == "assigned" or conversation.accepted_at:
            # An agent joined: from now on the bot stays silent in this conversation.
            record["dialogue"] = {**record.get("dialogue", {}), "human_joined": True}
            await self._save(conversation_id, record)
            self._stay_silent(conversation_id)
            return
        settings = await self.site_settings(conversation.site_key)
        if settings.webhook_url and settings.webhook_secret:
            record["dialogue"] = _state_to_record(_remember(dialogue_state, text))
            await self._save(conversation_id, record)
            if await self._ask_external(conversation, settings, "message", text):
                return
            if settings.fallback == "human":
                await self._handoff_failed_external(conversation, record, settings)
                return
        await self._builtin(conversation, record, settings, text, button)

    async def _builtin(self, conversation: Conversation, record: dict[str, Any], settings: BotSettings,
                       text: str, button: Button | None) -> None:
        kb, _ = await self.knowledge.current()
        dialogue = BotDialogue(kb, skill_by_category=settings.skill_by_category, default_skill=conversation.skill)
        state = _state_from_record(record.get("dialogue"))
        if button is None:
            # The widget sends a tapped button's label as a message.
            wanted = text.strip().lower()
            button = next((Button(b["kind"], b["label"], b.get("entry_id")) for b in record.get("buttons") or ()
                           if str(b.get("label", "")).strip().lower() == wanted), None)
        if button is not None:
            turn, state = dialogue.press(state, button, locale=record.get("locale") or settings.locale)
        else:
            turn, state = dialogue.respond(state, text)
        record["dialogue"] = _state_to_record(state)
        record["buttons"] = [_button_dict(b) for b in turn.buttons]
        await self._save(conversation.conversation_id, record)
        await self._act(conversation, record, turn, kb)

    async def _act(self, conversation: Conversation, record: dict[str, Any], turn: BotTurn,
                   kb: KnowledgeBase) -> None:
        cid = conversation.conversation_id
        if turn.action == "silent":
            return
        if turn.action == "handoff" and turn.handoff is not None:
            if record.get("mode") == "leave_message":
                texts = _texts(turn.handoff.locale)
                await self._reply(cid, texts["nobody"], {"action": "leave_message", "buttons": [], "bot": "builtin"})
                return
            await self._reply(cid, turn.text, {"kind": "handoff", "buttons": [], "bot": "builtin"})
            await self.handoff(conversation, _context(turn.handoff, kb))
            return
        data = {"kind": turn.action, "buttons": [_button_dict(b) for b in turn.buttons], "entry_id": turn.entry_id,
                "confidence": round(turn.confidence, 3), "bot": "builtin"}
        await self._reply(cid, turn.text, data)

    async def _reply(self, conversation_id: str, text: str, data: dict[str, Any]) -> None:
        try:
            await self.service.bot_reply(conversation_id, text, data)
        except Exception as exc:  # closed meanwhile: nothing to say any more
            log.info("bot reply to %s dropped: %s", conversation_id, exc)

    async def handoff(self, conversation: Conversation, context: dict[str, Any]) -> None:
        """Queue the conversation for a human with the bot's context, and leave the
        agent an internal note saying what the visitor asked and what the bot matched."""
        cid = conversation.conversation_id
        try:
            await self.service.handoff(cid, context)
        except Exception as exc:
            log.warning("handoff of %s failed: %s", cid, exc)
            return
        try:
            await self.store.append(cid, kind="note", sender_role="bot", sender_id="bot", body=_note(context),
                                    client_msg_id="", now=self.clock(), data={"handoff": context})
        except ChatdError:
            pass

    # --- the external bot ----------------------------------------------------------------------
    async def _ask_external(self, conversation: Conversation, settings: BotSettings, kind: str, text: str) -> bool:
        """Deliver one event; True when the external bot answered or will answer in time."""
        cid = conversation.conversation_id
        event = {"type": kind, "event_id": secrets.token_hex(8), "at": self.clock(), "site": conversation.site_key,
                 "conversation_id": cid, "conversation": conversation.to_dict(), "text": text,
                 "reply_url": f"/api/v1/bot/conversations/{cid}/messages"}
        delivery = await self.webhook.deliver(settings, event)
        if delivery.outcome == "reply":
            await self.external_reply(conversation, delivery.reply)
            return True
        if delivery.outcome == "deferred":
            token = secrets.token_hex(6)
            record = await self._state(cid) or {}
            record["awaiting"] = token
            await self._save(cid, record)
            self._spawn(self._watch_deferred(cid, token, text, settings.webhook_reply_seconds))
            return True
        await self.store.add_routing_record(cid, {"at": self.clock(), "kind": "bot", "event": "webhook_failed",
                                                  "reason": delivery.reason, "fallback": settings.fallback})
        log.warning("external bot of site %s failed: %s", conversation.site_key, delivery.reason)
        return False

    async def _watch_deferred(self, conversation_id: str, token: str, text: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        async with self._locks.setdefault(conversation_id, asyncio.Lock()):
            record = await self._state(conversation_id)
            conversation = await self.store.get_conversation(conversation_id)
            if record is None or record.get("awaiting") != token or conversation is None:
                return  # answered in time
            record["awaiting"] = ""
            await self._save(conversation_id, record)
            await self.store.add_routing_record(conversation_id, {
                "at": self.clock(), "kind": "bot", "event": "webhook_reply_late", "waited_seconds": seconds})
            settings = await self.site_settings(conversation.site_key)
            if conversation.state in ("closed", "assigned"):
                return
            if settings.fallback == "human" or not text:
                if text:
                    await self._handoff_failed_external(conversation, record, settings)
                else:
                    await self._reply(conversation_id, settings.greeting or _texts(settings.locale)["greeting"],
                                      {"bot": "builtin", "buttons": []})
                return
            await self._builtin(conversation, record, settings, text, None)

    async def external_reply(self, conversation: Conversation, reply: ExternalReply) -> None:
        """Post an external bot's messages and hand off when it asks to."""
        cid = conversation.conversation_id
        record = await self._state(cid)
        if record is not None and record.get("awaiting"):
            record["awaiting"] = ""
            await self._save(cid, record)
        for message in reply.messages:
            await self._reply(cid, message.text, {"buttons": list(message.buttons), "bot": "external"})
        if reply.handoff is not None:
            state = _state_from_record((record or {}).get("dialogue"))
            context = {"reason": "external_bot", "asked": list(state.asked), "matched_entry_ids": [],
                       "matched_questions": [], "intent": reply.handoff.get("intent"),
                       "skill_group": reply.handoff.get("skill_group") or conversation.skill,
                       "note": reply.handoff.get("note", ""), "source": "external"}
            await self.handoff(conversation, context)

    async def _handoff_failed_external(self, conversation: Conversation, record: dict[str, Any],
                                       settings: BotSettings) -> None:
        texts = _texts(settings.locale)
        if record.get("mode") == "leave_message":
            await self._reply(conversation.conversation_id, texts["nobody"],
                              {"action": "leave_message", "buttons": [], "bot": "builtin"})
            return
        state = _state_from_record(record.get("dialogue"))
        await self._reply(conversation.conversation_id, texts["connecting"], {"kind": "handoff", "buttons": []})
        await self.handoff(conversation, {"reason": "external_bot_failed", "asked": list(state.asked),
                                          "matched_entry_ids": [], "matched_questions": [], "intent": None,
                                          "skill_group": conversation.skill, "source": "external"})

    # --- suggestions ---------------------------------------------------------------------------
    async def suggest(self, site_key: str, text: str, locale: str | None = None) -> list[dict[str, Any]]:
        _, suggester = await self.knowledge.current()
        return [{"entry_id": s.entry_id, "text": s.text, "locale": s.locale}
                for s in suggester.suggest(text, 5, locale=locale)]


def _remember(state: BotState, text: str) -> BotState:
    """Keep what was asked when an external bot answers (for a later handoff)."""
    from dataclasses import replace
    return replace(state, asked=(*state.asked, text.strip())[-5:]) if text.strip() else state


def _context(handoff: HandoffContext, kb: KnowledgeBase) -> dict[str, Any]:
    """The handoff context as stored data: what was asked, what matched, where it goes."""
    questions = [entry.question for entry in (kb.get(i) for i in handoff.matched_entry_ids) if entry is not None]
    return {"reason": handoff.reason, "asked": list(handoff.asked),
            "matched_entry_ids": list(handoff.matched_entry_ids), "matched_questions": questions,
            "intent": handoff.intent, "skill_group": handoff.skill_group, "locale": handoff.locale,
            "source": "builtin"}


def _note(context: dict[str, Any]) -> str:
    """The agent's internal note about a handoff, in both languages the console ships."""
    asked = " / ".join(context.get("asked") or ()) or "-"
    matched = " / ".join(context.get("matched_questions") or context.get("matched_entry_ids") or ()) or "-"
    lines = [f"机器人转人工 Bot handoff ({context.get('reason')})",
             f"访客问了 Asked: {asked}",
             f"机器人已答 Bot answered: {matched}",
             f"意图 Intent: {context.get('intent') or '-'}; 技能组 Skill group: {context.get('skill_group')}"]
    if context.get("note"):
        lines.append(f"备注 Note: {context['note']}")
    return "\n".join(lines)[:4000]


# Knowledge-base category -> demo skill group, for handoffs from the demo sites.
DEMO_SKILLS = {"logistics": "logistics", "orders": "after_sales", "returns": "after_sales",
               "refunds": "after_sales", "invoices": "billing", "price_protection": "after_sales",
               "payment": "billing", "coupons": "pre_sales", "membership": "pre_sales", "account": "general",
               "service": "general"}


async def seed_bot_demo(records: Records, sites: list[str], bot_first_site: str) -> None:
    """The demo's knowledge base, team quick replies, bot settings per site and an
    overflow rule for after-sales (queue over 5, wait over 5 minutes, evening and
    shopping-festival peaks). ``bot_first_site`` answers every new chat with the bot."""
    from chatd.bot import DATA_DIR
    from chatd.bot.config import validate_overflow_rule
    from chatd.bot.kb import entry_to_dict, load_entries
    from chatd.bot.quick_replies import quick_replies_from_json

    entries = {entry.id: entry_to_dict(entry) for entry in load_entries(DATA_DIR / "kb_demo.json")}
    await records.knowledge_base.replace(entries, (), new_kb_version())
    text = (DATA_DIR / "quick_replies_demo.json").read_text(encoding="utf-8")
    for reply in quick_replies_from_json(text):
        if reply.owner is None:
            await records.quick_replies.put({"id": reply.id, "shortcut": reply.shortcut, "title": reply.title,
                                             "text": reply.text, "category": reply.category, "owner": "team"})
    for site_key in sites:
        settings = BotSettings(site_key, bot_first=site_key == bot_first_site, skill_by_category=DEMO_SKILLS)
        await records.bot_settings.put(site_key, settings.to_record())
    rule = validate_overflow_rule("after_sales", {
        "max_queue": 5, "max_wait_seconds": 300,
        "peak": {"timezone": "Asia/Shanghai", "daily": ["20:00-22:00"], "dates": ["06-18", "11-11"]}})
    await records.overflow_rules.put(rule)
