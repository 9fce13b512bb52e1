"""What one running chatd process holds, built once by :func:`chatd.app.create_app`
and handed to endpoints through ``app.state.chatd``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatd.auth import TokenSigner
from chatd.hub import Hub
from chatd.metrics import Metrics
from chatd.service import ChatService
from chatd.settings import Settings
from chatd.store.base import Engine, Store
from router.base import Router

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    settings: Settings
    engine: Engine
    hub: Hub
    router: Router
    service: ChatService
    signer: TokenSigner
    metrics: Metrics
    clock: Callable[[], float]

    @property
    def store(self) -> Store:
        return self.engine.store
