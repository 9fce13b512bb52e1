"""What one running chatd process holds, built once by :func:`chatd.app.create_app`
and handed to endpoints through ``app.state.chatd``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chatd.admission import Admission
from chatd.archiving import Archiver
from chatd.auth import TokenSigner
from chatd.hub import Hub
from chatd.metrics import Metrics
from chatd.ratelimit import KeyedLimiter
from chatd.records.base import Records
from chatd.routing import Routing
from chatd.service import ChatService
from chatd.settings import Settings
from chatd.store.base import Engine, Store
from chatd.webhooks import WebhookDispatcher

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    settings: Settings
    engine: Engine
    records: Records
    hub: Hub
    router: Routing
    service: ChatService
    admission: Admission
    signer: TokenSigner
    metrics: Metrics
    clock: Callable[[], float]
    webhooks: WebhookDispatcher
    archiver: Archiver
    leaving: bool = False  # SIGTERM came: readiness answers 503 while connections are still served
    # offline messages per client address: a burst of 5, then one every 10 s
    leave_messages: KeyedLimiter = field(default_factory=lambda: KeyedLimiter(rate=0.1, burst=5))

    @property
    def store(self) -> Store:
        return self.engine.store
