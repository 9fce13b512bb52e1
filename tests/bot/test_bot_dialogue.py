from __future__ import annotations

import pytest

from chatd.bot.dialogue import BotDialogue, BotState, Button, human_joined, is_handoff_request
from chatd.bot.search import KnowledgeBase


@pytest.fixture(scope="module")
def bot(kb: KnowledgeBase) -> BotDialogue:
    return BotDialogue(kb)


@pytest.mark.parametrize(
    "text",
    [
        "转人工",
        "人工",
        "人工客服",
        "我要转人工！",
        "human",
        "Agent",
        "talk to a person",
        "can I speak with a real person",
        "human please",
        "找人工客服谢谢",
    ],
)
def test_handoff_words(text: str) -> None:
    assert is_handoff_request(text)


@pytest.mark.parametrize("text", ["人工智能是什么", "how do I become a delivery agent for your shop", "退款多久到账"])
def test_not_handoff(text: str) -> None:
    assert not is_handoff_request(text)


def test_answer_with_related_buttons(bot: BotDialogue) -> None:
    turn, state = bot.respond(BotState(), "物流不更新怎么办")
    assert turn.action == "answer" and turn.entry_id == "logistics-not-updating"
    assert turn.text.startswith("物流信息停滞")
    assert [b.entry_id for b in turn.buttons][:1] == ["logistics-progress"]
    assert all(b.kind == "question" for b in turn.buttons)
    assert state.matched_ids == ("logistics-not-updating",) and state.asked == ("物流不更新怎么办",)


def test_not_sure_offers_a_human(bot: BotDialogue) -> None:
    turn, state = bot.respond(BotState(), "帮我退款到别人的卡")
    assert turn.action == "not_sure" and turn.entry_id is None
    assert turn.buttons[-1] == Button("handoff", "转人工")
    assert state.unsure_turns == 1
    english, _ = bot.respond(BotState(), "tell me about the weather on mars")
    assert english.action == "not_sure" and english.buttons[-1].label == "Talk to a person"


def test_handoff_carries_context_and_skill(bot: BotDialogue) -> None:
    _, state = bot.respond(BotState(), "物流三天没更新了")
    turn, state = bot.respond(state, "转人工")
    assert turn.action == "handoff" and state.handed_off
    context = turn.handoff
    assert context is not None
    assert context.reason == "visitor_asked" and context.skill_group == "logistics" and context.intent == "logistics"
    assert context.asked == ("物流三天没更新了", "转人工")
    assert context.matched_entry_ids == ("logistics-not-updating",)
    again, _ = bot.respond(state, "人工")
    assert again.action == "handoff" and "已在" in again.text  # keeps the place in the queue


def test_handoff_request_with_a_topic(bot: BotDialogue) -> None:
    turn, _ = bot.respond(BotState(), "发票开错了，转人工")
    assert turn.handoff is not None and turn.handoff.skill_group == "aftersales"


def test_handoff_button_and_default_skill(bot: BotDialogue) -> None:
    turn, _ = bot.press(BotState(), Button("handoff", "转人工"))
    assert turn.action == "handoff" and turn.handoff is not None
    assert turn.handoff.reason == "button" and turn.handoff.skill_group == "general" and turn.handoff.intent is None


def test_question_button_answers_its_entry(bot: BotDialogue) -> None:
    turn, state = bot.press(BotState(), Button("question", "物流进度怎么查？", "logistics-progress"))
    assert turn.action == "answer" and turn.entry_id == "logistics-progress" and turn.confidence == 1.0
    assert state.matched_ids == ("logistics-progress",)


def test_bot_is_silent_once_a_human_joins(bot: BotDialogue) -> None:
    _, state = bot.respond(BotState(), "转人工")
    state = human_joined(state)
    for text in ("退款多久到账", "转人工", "hello"):
        turn, after = bot.respond(state, text)
        assert turn.action == "silent" and after == state
    turn, _ = bot.press(state, Button("handoff", "转人工"))
    assert turn.action == "silent"


def test_empty_message_is_ignored(bot: BotDialogue) -> None:
    turn, state = bot.respond(BotState(), "   ")
    assert turn.action == "silent" and state == BotState()
