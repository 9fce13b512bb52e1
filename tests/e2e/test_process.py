"""A served chatd process keeps its start-up heap out of garbage collection
and reports the collector's pauses."""

from __future__ import annotations

import re

import httpx

from tests.support import ChatdProcess


def test_served_process_freezes_its_startup_heap_and_times_collections() -> None:
    with ChatdProcess("memory") as server:
        text = httpx.get(server.url + "/metrics", timeout=5).text
    frozen = float(re.search(r"^chatd_gc_frozen_objects (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert frozen > 10_000  # modules and the demo data
    assert 'chatd_gc_pause_seconds_bucket{generation="0",le="0.001"}' in text
    assert 'chatd_gc_pause_seconds_count{generation="2"}' in text
