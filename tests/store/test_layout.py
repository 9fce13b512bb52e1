"""Static checks on the Redis engine's scripts and key registry."""

from __future__ import annotations

from pathlib import Path

from chatd.store.keys import Keys

LUA = Path(__file__).parents[2] / "chatd" / "store" / "lua"


def test_every_script_opens_with_its_keys_and_arguments() -> None:
    scripts = sorted(LUA.glob("*.lua"))
    assert scripts
    for script in scripts:
        text = script.read_text()
        assert text.startswith("-- "), script.name
        assert "-- KEYS[1] = " in text or "-- KEYS: none" in text, script.name
        assert "-- ARGV[1] = " in text or "-- ARGV: none" in text, script.name


def test_conversation_keys_share_one_slot_and_routing_keys_another() -> None:
    keys = Keys("chatd")
    per_conversation = [keys.seq("abc"), keys.log("abc"), keys.dedupe("abc"), keys.mirror("abc")]
    assert all("{c:abc}" in key and key.startswith("chatd:") for key in per_conversation)
    routing = [keys.conversation("abc"), keys.queue("general"), keys.active("ann"), keys.agents, keys.presence,
               keys.sites, keys.revoked("t"), keys.visitor("s", "v"), keys.routing_records("abc"),
               keys.state_index("open"), keys.pending_events("abc"), keys.queued_skills]
    assert all(key.startswith("chatd:{rt}:") for key in routing)
    assert keys.channel("conv:abc") == "chatd:conv:abc"
