"""Pin the public names so that changes to the bot's API are deliberate."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import chatd.bot

MODULES = ("confidence", "dialogue", "evaluate", "index", "kb", "overflow", "quick_replies", "search", "spelling",
           "suggest", "text")


def test_package_exports() -> None:
    assert sorted(chatd.bot.__all__) == sorted([
        "DATA_DIR", "Answer", "BotDialogue", "BotState", "BotTurn", "Button", "FaqEntry", "HandoffContext",
        "KnowledgeBase", "KnowledgeBaseError", "Match", "OverflowDecision", "OverflowRule", "QueueSnapshot",
        "QuickReply", "QuickReplyBook", "Suggester", "Suggestion", "decide", "human_joined", "load_entries", "render",
    ])


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(f"chatd.bot.{name}")
    assert module.__all__
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.{exported}"


def test_modules_stay_pure() -> None:
    for name in MODULES:
        source = Path(importlib.import_module(f"chatd.bot.{name}").__file__ or "").read_text(encoding="utf-8")
        for banned in ("asyncio", "redis", "starlette"):
            assert f"import {banned}" not in source and f"from {banned}" not in source, (name, banned)
