"""The bench's scenarios, by name. Each module has ``HELP``,
``add_arguments(parser)``, ``run(ctx) -> dict``, ``plot(ctx, result) -> paths``
and ``headline(result) -> str``."""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import chat, faults, idle, multinode, ramp, storm

__all__ = ["SCENARIOS"]

SCENARIOS: dict[str, ModuleType] = {"idle": idle, "chat": chat, "ramp": ramp, "storm": storm, "multinode": multinode,
                                    "faults": faults}
