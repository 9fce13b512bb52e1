"""Best-effort signals leave a node in batches, in order, one publish at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from chatd import hub as hub_module
from chatd.hub import Hub
from chatd.metrics import Metrics
from chatd.settings import Settings
from chatd.store import open_engine
from chatd.store.base import Engine, unpack_publication

pytestmark = pytest.mark.asyncio


class SlowBroker:
    """Records each publish_many call; each takes until ``release`` is set; ``fail`` makes it raise."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail = False

    async def publish_many(self, publications: Sequence[tuple[str, bytes]]) -> None:
        self.batches.append([unpack_publication(p)["frame"]["n"] for _, p in publications])
        await self.release.wait()
        if self.fail:
            raise ConnectionError("redis is down")


def _hub(broker: SlowBroker) -> tuple[Hub, Metrics]:
    store = open_engine(Settings(engine="memory")).store
    metrics = Metrics()
    return Hub(Settings(engine="memory"), Engine("test", store, broker), lambda: 0.0, metrics), metrics  # type: ignore[arg-type]


def _lost(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("chatd_signals_lost_total") or 0.0


async def test_signals_go_in_order_batched_while_one_publish_is_in_flight() -> None:
    broker = SlowBroker()
    hub, metrics = _hub(broker)
    for n in range(3):
        hub.publish_signal_soon("conv:c1", {"type": "typing", "n": n})
    await asyncio.sleep(0)
    assert broker.batches == [[0, 1, 2]]  # queued in one tick: one round trip
    for n in range(3, 7):
        hub.publish_signal_soon("conv:c1", {"type": "typing", "n": n})
    await asyncio.sleep(0.01)
    assert broker.batches == [[0, 1, 2]]  # the next waits for the one in flight
    broker.release.set()
    await asyncio.sleep(0.01)
    assert broker.batches == [[0, 1, 2], [3, 4, 5, 6]] and _lost(metrics) == 0
    hub.publish_signal_soon("conv:c1", {"type": "typing", "n": 7})  # idle again: goes at once
    await asyncio.sleep(0.01)
    assert broker.batches[-1] == [7]


async def test_failed_and_overflowing_signals_are_counted_as_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "SIGNALS_PENDING", 5)
    broker = SlowBroker()
    hub, metrics = _hub(broker)
    hub.publish_signal_soon("conv:c1", {"type": "read", "n": 0})
    await asyncio.sleep(0)
    for n in range(1, 8):  # 5 wait, 2 are dropped
        hub.publish_signal_soon("conv:c1", {"type": "read", "n": n})
    assert _lost(metrics) == 2
    broker.fail = True
    broker.release.set()
    await asyncio.sleep(0.01)
    assert broker.batches == [[0], [1, 2, 3, 4, 5]] and _lost(metrics) == 2 + 1 + 5
