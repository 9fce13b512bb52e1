"""What the bot does with each visitor message. Pure: state in, turn and new state out.

For every message the bot either

- **answers** from the knowledge base (answer text plus related questions as buttons),
- is **not sure** (says so, offers close questions and a "human" button),
- **hands off** when the visitor asks for a person (转人工, 人工, 人工客服, "human",
  "agent", "talk to a person", or the handoff button), with a :class:`HandoffContext`
  for the router and the agent: what was asked, the entries matched, the guessed
  intent and skill group, or
- stays **silent** once a human agent has joined (:func:`human_joined`).

After a handoff the visitor keeps their place in the queue and the bot keeps answering
until the agent joins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from chatd.bot.kb import FaqEntry
from chatd.bot.search import KnowledgeBase
from chatd.bot.text import detect_locale, normalize

__all__ = [
    "DEFAULT_SKILL_BY_CATEGORY",
    "BotDialogue",
    "BotState",
    "BotTurn",
    "Button",
    "HandoffContext",
    "human_joined",
    "is_handoff_request",
]

# Knowledge-base category -> skill group the router should queue the chat in.
DEFAULT_SKILL_BY_CATEGORY: Mapping[str, str] = {
    "logistics": "logistics",
    "orders": "aftersales",
    "returns": "aftersales",
    "refunds": "aftersales",
    "invoices": "aftersales",
    "price_protection": "aftersales",
    "payment": "presales",
    "coupons": "presales",
    "membership": "presales",
    "account": "general",
    "service": "general",
}
_HISTORY = 5  # visitor messages kept for the handoff context

_ZH_HANDOFF = ("转人工", "人工客服", "人工服务", "找人工", "要人工", "接人工", "真人客服", "转接人工", "人工坐席")
_WHOLE_MESSAGE_HANDOFF = frozenset({"人工", "真人", "客服", "human", "agent", "operator", "person", "representative"})
_EN_HANDOFF = re.compile(
    r"\b(?:talk|speak|chat|connect\s+me)\s+(?:to|with)\s+(?:a|an|the|some|your)?\s*"
    r"(?:real\s+|live\s+)?(?:person|human|agent|someone|representative|operator|people)\b"
    r"|\b(?:real|live)\s+(?:person|human|agent)\b|\bhuman\s+(?:agent|support|please)\b"
)
_PUNCTUATION = re.compile(r"[\s\W_]+")


def is_handoff_request(text: str) -> bool:
    """True when the visitor asks for a human (转人工, "talk to a person", ...)."""
    norm = normalize(text)
    compact = _PUNCTUATION.sub("", norm)
    if compact in _WHOLE_MESSAGE_HANDOFF or any(phrase in compact for phrase in _ZH_HANDOFF):
        return True
    words = _PUNCTUATION.sub(" ", norm).split()
    # A short message naming a human is a request ("agent pls"); a long one may not be.
    if len(words) <= 4 and {"human", "agent", "person", "operator"} & set(words):
        return True
    return _EN_HANDOFF.search(norm) is not None


def _without_handoff_words(text: str) -> str:
    """The message with the request for a human removed (what is left is the topic)."""
    rest = _EN_HANDOFF.sub(" ", normalize(text))
    for phrase in (*_ZH_HANDOFF, "人工"):
        rest = rest.replace(phrase, " ")
    words = [w for w in _PUNCTUATION.sub(" ", rest).split() if w not in _WHOLE_MESSAGE_HANDOFF]
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class Button:
    """A quick-reply button: ``kind`` 'question' (answer ``entry_id``) or 'handoff'."""

    kind: str
    label: str
    entry_id: str | None = None


@dataclass(frozen=True, slots=True)
class BotState:
    """The bot's memory of one conversation. Immutable; each turn returns a new one."""

    human_joined: bool = False
    handed_off: bool = False
    asked: tuple[str, ...] = ()
    matched_ids: tuple[str, ...] = ()  # answered entries, oldest first
    candidate_ids: tuple[str, ...] = ()  # best guesses when not sure, oldest first
    unsure_turns: int = 0


@dataclass(frozen=True, slots=True)
class HandoffContext:
    """What the router and the agent learn when the bot hands the chat over."""

    reason: str  # 'visitor_asked' or 'button'
    asked: tuple[str, ...]
    matched_entry_ids: tuple[str, ...]
    intent: str | None  # knowledge-base category of the latest match
    skill_group: str
    locale: str


@dataclass(frozen=True, slots=True)
class BotTurn:
    """The bot's move: ``action`` is 'answer', 'not_sure', 'handoff' or 'silent'."""

    action: str
    text: str = ""
    buttons: tuple[Button, ...] = ()
    entry_id: str | None = None
    confidence: float = 0.0
    handoff: HandoffContext | None = None
    corrections: tuple[tuple[str, str], ...] = field(default=())


_TEXTS = {
    "zh-CN": {
        "human": "转人工",
        "unsure": "抱歉，这个问题我还不太确定。您可以换个说法，或者点击「转人工」联系人工客服。",
        "unsure_options": "抱歉，这个问题我还不太确定，您是不是想问下面这些？也可以点击「转人工」。",
        "handoff": "正在为您转接人工客服，请稍候，排队期间您仍可以继续向我提问。",
        "queued": "您已在人工客服队列中，请稍候，客服接入后会第一时间回复您。",
    },
    "en": {
        "human": "Talk to a person",
        "unsure": "Sorry, I'm not sure about that one. Try asking another way, or tap \"Talk to a person\".",
        "unsure_options": "Sorry, I'm not sure. Did you mean one of these? You can also talk to a person.",
        "handoff": "Connecting you to an agent. You can keep asking me questions while you wait.",
        "queued": "You're already in the queue for an agent; they'll reply as soon as they join.",
    },
}


def human_joined(state: BotState) -> BotState:
    """The state after a human agent joined: the bot stays silent from now on."""
    return replace(state, human_joined=True)


class BotDialogue:
    """The bot's dialogue policy over a knowledge base. Stateless itself; thread-safe."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        skill_by_category: Mapping[str, str] = DEFAULT_SKILL_BY_CATEGORY,
        default_skill: str = "general",
        suggestion_floor: float = 0.2,
    ) -> None:
        self._kb = kb
        self._skills = dict(skill_by_category)
        self._default_skill = default_skill
        self._floor = suggestion_floor

    def respond(self, state: BotState, text: str, *, locale: str | None = None) -> tuple[BotTurn, BotState]:
        """React to a visitor message. Empty messages and messages after a human joined
        get a 'silent' turn and leave the state unchanged."""
        if state.human_joined or not text.strip():
            return BotTurn("silent"), state
        lang = locale or detect_locale(text)
        asked = (*state.asked, text.strip())[-_HISTORY:]
        if is_handoff_request(text):
            return self._handoff(replace(state, asked=asked), "visitor_asked", lang, text)
        answer = self._kb.answer(text)
        if answer is not None:
            buttons = tuple(Button("question", e.question, e.id) for e in answer.related)
            new_state = replace(state, asked=asked, matched_ids=(*state.matched_ids, answer.entry.id), unsure_turns=0)
            turn = BotTurn(
                "answer", answer.entry.answer, buttons, answer.entry.id, answer.confidence, None, answer.corrections
            )
            return turn, new_state
        close = [m for m in self._kb.search(text, limit=3) if m.confidence >= self._floor]
        texts = _TEXTS[lang if lang in _TEXTS else "zh-CN"]
        buttons = tuple(Button("question", m.entry.question, m.entry.id) for m in close)
        buttons += (Button("handoff", texts["human"]),)
        candidates = (*state.candidate_ids, close[0].entry.id) if close else state.candidate_ids
        new_state = replace(state, asked=asked, candidate_ids=candidates, unsure_turns=state.unsure_turns + 1)
        message = texts["unsure_options"] if close else texts["unsure"]
        confidence = close[0].confidence if close else 0.0
        return BotTurn("not_sure", message, buttons, None, confidence), new_state

    def press(self, state: BotState, button: Button, *, locale: str = "zh-CN") -> tuple[BotTurn, BotState]:
        """React to a tapped button: answer its entry, or hand off."""
        if state.human_joined:
            return BotTurn("silent"), state
        if button.kind == "handoff":
            return self._handoff(state, "button", locale, "")
        entry = self._kb.get(button.entry_id or "")
        if entry is None:
            return self.respond(state, button.label, locale=locale)
        related = tuple(
            Button("question", e.question, e.id) for e in (self._kb.get(r) for r in entry.related) if e is not None
        )
        asked = (*state.asked, entry.question)[-_HISTORY:]
        new_state = replace(state, asked=asked, matched_ids=(*state.matched_ids, entry.id), unsure_turns=0)
        return BotTurn("answer", entry.answer, related, entry.id, 1.0), new_state

    def _intent(self, state: BotState, text: str) -> FaqEntry | None:
        """The entry that best says what the visitor wants, for routing."""
        topic = _without_handoff_words(text)
        if topic:
            # "物流一直不更新，转人工": the request itself may carry the topic.
            matches = self._kb.search(topic, limit=1)
            if matches and matches[0].confidence >= self._floor:
                return matches[0].entry
        for entry_id in (*state.candidate_ids[-1:], *state.matched_ids[-1:])[::-1]:
            entry = self._kb.get(entry_id)
            if entry is not None:
                return entry
        return None

    def _handoff(self, state: BotState, reason: str, lang: str, text: str) -> tuple[BotTurn, BotState]:
        texts = _TEXTS[lang if lang in _TEXTS else "zh-CN"]
        entry = self._intent(state, text)
        intent = entry.category if entry is not None else None
        context = HandoffContext(
            reason=reason,
            asked=state.asked,
            matched_entry_ids=tuple(dict.fromkeys(state.matched_ids)),
            intent=intent,
            skill_group=self._skills.get(intent or "", self._default_skill),
            locale=lang,
        )
        message = texts["queued"] if state.handed_off else texts["handoff"]
        return BotTurn("handoff", message, (), None, 0.0, context), replace(state, handed_off=True)
