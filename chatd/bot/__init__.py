"""The bot: knowledge base, suggestions, dialogue, agents' quick replies, overflow rules.

Everything here is pure (no I/O beyond reading the bundled data files): the store keeps
entries and replies, and the hub drives :class:`BotDialogue` with each message.
"""

from __future__ import annotations

from pathlib import Path

from chatd.bot.dialogue import BotDialogue, BotState, BotTurn, Button, HandoffContext, human_joined
from chatd.bot.kb import FaqEntry, KnowledgeBaseError, load_entries
from chatd.bot.overflow import OverflowDecision, OverflowRule, QueueSnapshot, decide
from chatd.bot.quick_replies import QuickReply, QuickReplyBook, render
from chatd.bot.search import Answer, KnowledgeBase, Match
from chatd.bot.suggest import Suggester, Suggestion

__all__ = [
    "DATA_DIR",
    "Answer",
    "BotDialogue",
    "BotState",
    "BotTurn",
    "Button",
    "FaqEntry",
    "HandoffContext",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Match",
    "OverflowDecision",
    "OverflowRule",
    "QueueSnapshot",
    "QuickReply",
    "QuickReplyBook",
    "Suggester",
    "Suggestion",
    "decide",
    "human_joined",
    "load_entries",
    "render",
]

# Bundled demo knowledge base, quick replies and the segmentation dictionary.
DATA_DIR = Path(__file__).with_name("data")
