"""Demo data so a newcomer can try chatd at once: a site, two agents, a
supervisor and an admin. Seeded only with ``chatd serve --demo`` (``make
run``) and only into an empty store, with random passwords that are printed
at start and a site identity secret derived from the server's secret (never
fixed values a deployment could forget to change)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import secrets

from chatd.auth import hash_password_off_loop
from chatd.bot.runtime import seed_bot_demo
from chatd.model import Agent, Site
from chatd.records.base import Records
from chatd.settings import Settings
from chatd.store.base import Store

__all__ = ["DEMO_AGENTS", "DEMO_BOT_SITE", "DEMO_SITE", "demo_site_secret", "seed_demo"]

log = logging.getLogger("chatd.demo")

DEMO_SITE = Site(site_key="demo", name="Demo Shop 演示商城", allowed_origins=[], default_skill="general")
# The same shop with the bot answering first (bot-first is one setting: PUT /api/v1/sites/demo/bot).
DEMO_BOT_SITE = Site(site_key="demo-bot", name="Demo Shop 演示商城 (bot first)", allowed_origins=[],
                     default_skill="general")


def demo_site_secret(server_secret: str) -> str:
    """The demo sites' identity secret: a host backend signs its customers'
    identities with it (the tests do, knowing the server's secret)."""
    return hmac.new(server_secret.encode(), b"chatd-demo-site", hashlib.sha256).hexdigest()

# agent id, name, role, skills, capacity
DEMO_AGENTS = (
    ("ana", "Ana 安娜", "agent", {"general": 4, "logistics": 5, "pre_sales": 3}, 3),
    ("bo", "Bo 波", "agent", {"general": 3, "after_sales": 5, "billing": 4}, 3),
    ("sam", "Sam 萨姆", "supervisor", {"general": 3}, 2),
    ("admin", "Admin 管理员", "admin", {}, 1),
)


async def seed_demo(store: Store, records: Records, settings: Settings) -> dict[str, str]:
    """Create the demo site and agents when the store has no site yet.

    Returns the agent passwords it set (empty when the store was not empty)
    and prints them, since they are random per seeding."""
    if await store.list_sites():
        return {}
    site_secret = demo_site_secret(settings.secret) if settings.secret else secrets.token_urlsafe(24)
    for site in (DEMO_SITE, DEMO_BOT_SITE):
        await store.put_site(dataclasses.replace(Site.from_dict(site.to_dict()), secret=site_secret))
    await seed_bot_demo(records, [DEMO_SITE.site_key, DEMO_BOT_SITE.site_key], DEMO_BOT_SITE.site_key)
    passwords = {agent_id: secrets.token_urlsafe(9) for agent_id, *_ in DEMO_AGENTS}
    hashes = await asyncio.gather(*(hash_password_off_loop(passwords[agent_id]) for agent_id, *_ in DEMO_AGENTS))
    for (agent_id, name, role, skills, capacity), password_hash in zip(DEMO_AGENTS, hashes, strict=True):
        await store.put_agent(Agent(agent_id=agent_id, name=name, role=role, skills=dict(skills),
                                    capacity=capacity, password_hash=password_hash))
    lines = ["demo data loaded: sites 'demo' and 'demo-bot' (bot first), knowledge base, quick replies; "
             "log in to the console with"]
    lines += [f"  demo {role:<10} {agent_id:<6} password {passwords[agent_id]}"
              for agent_id, _name, role, _skills, _cap in DEMO_AGENTS]
    print("\n".join(lines), flush=True)
    return passwords
