"""Shared fixtures: the demo knowledge base is built once per session (jieba loads once)."""

from __future__ import annotations

import pytest

from chatd.bot import DATA_DIR
from chatd.bot.kb import FaqEntry, load_entries
from chatd.bot.search import KnowledgeBase
from chatd.bot.suggest import Suggester


@pytest.fixture(scope="session")
def demo_entries() -> list[FaqEntry]:
    return load_entries(DATA_DIR / "kb_demo.json")


@pytest.fixture(scope="session")
def kb(demo_entries: list[FaqEntry]) -> KnowledgeBase:
    return KnowledgeBase(demo_entries)


@pytest.fixture(scope="session")
def suggester(demo_entries: list[FaqEntry]) -> Suggester:
    return Suggester(demo_entries)
