"""Metrics counted through their helpers end up in the rendered text."""

from __future__ import annotations

from chatd.metrics import Metrics


def test_stored_messages_are_counted_by_role() -> None:
    metrics = Metrics()
    for role in ("visitor", "visitor", "agent", "bot"):
        metrics.message_stored(role)
    text = metrics.render().decode()
    assert 'chatd_messages_total{role="visitor"} 2.0' in text
    assert 'chatd_messages_total{role="agent"} 1.0' in text
    assert 'chatd_messages_total{role="bot"} 1.0' in text
