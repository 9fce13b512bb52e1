"""Seeded random walks of a support team's day, and shrinking a failing one.

A walk is a list of :class:`Step`: an operation by name and a few small
numbers that pick among whatever is there when the step runs (a conversation,
an agent, a group) and set its flags. Drawn from a seeded
:class:`random.Random` with the weights of :data:`OPERATIONS`, a walk is the
same every time for the same seed; it is run against a fresh
:class:`tests.model.harness.Team` with the deployment's invariants checked
after every step that did something. A failing walk is shrunk by delta
debugging: chunks of steps, then single steps, are left out as long as the
walk still fails, within a time budget; the shortest failing walk is printed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatd.client import ChatClient
from tests.model.harness import GRACE_SECONDS, OFFER_SECONDS, PRESENCE_SECONDS, Deployment, Person, Team, gather, wait

__all__ = ["OPERATIONS", "Step", "WalkFailed", "generate", "run_walk", "shrink"]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    which: int = 0  # picks one of the candidates when the step runs
    to: int = 0  # picks a target (an agent, a group, a node)
    flag: bool = False

    def __str__(self) -> str:
        return f"{self.name}(which={self.which}, to={self.to}, flag={self.flag})"


class WalkFailed(AssertionError):
    def __init__(self, at: int, walk: list[Step], problem: str) -> None:
        super().__init__(problem)
        self.at = at
        self.walk = walk
        self.problem = problem


def pick(index: int, choices: list[str]) -> str | None:
    return sorted(choices)[index % len(choices)] if choices else None


async def _states(team: Team) -> dict[str, dict[str, object]]:
    return await team.states()


async def _owned(team: Team, state: str) -> dict[str, str]:
    """Conversations in ``state`` held by one of the team's connected agents -> that agent."""
    return {cid: str(s["agent_id"]) for cid, s in (await _states(team)).items()
            if s["state"] == state and s["agent_id"] in team.agents and team.agents[str(s["agent_id"])].connected}


def _live(team: Team) -> list[str]:
    return [cid for cid, closed in team.model.closed.items() if not closed]


def _closed(team: Team) -> list[str]:
    return [cid for cid, closed in team.model.closed.items() if closed]


async def _close(team: Team, cid: str, person: Person) -> bool:
    await person.client.send_frame({"type": "close", "conversation_id": cid})
    for _ in range(100):
        if (await team.conversation(cid))["state"] == "closed":
            team.model.closed[cid] = True
            return True
        await wait(0.1)
    team.model.violations.append(f"{cid} did not close")
    return True


# --- the operations: each returns whether it did something ------------------------------

async def a_visitor_starts_a_chat(team: Team, deployment: Deployment, step: Step) -> bool:
    """In the first line (offers to accept, ``flag``) or the second (assigned at once)."""
    await team.new_visitor(team.first_line if step.flag else team.second_line)
    return True


async def a_visitor_starts_twice_at_once_from_two_tabs(team: Team, deployment: Deployment, step: Step) -> bool:
    first = ChatClient(team.ws_url(), "visitor", keep_frames=True)
    await first.connect()
    second = ChatClient(team.ws_url(), "visitor", token=first.token)
    await second.connect()
    one, two = await asyncio.gather(first.start(skill=team.second_line), second.start(skill=team.second_line))
    if one["conversation_id"] != two["conversation_id"]:
        team.model.violations.append(f"two starts gave {one['conversation_id']} and {two['conversation_id']}")
    await second.close()
    team.visitors[one["conversation_id"]] = Person("visitor (two tabs)", "visitor", first)
    team.model.closed[one["conversation_id"]] = False
    return True


async def the_visitor_writes(team: Team, deployment: Deployment, step: Step) -> bool:
    cid = pick(step.which, _live(team))
    if cid is None:
        return False
    refused = await team.send(team.visitors[cid], cid, f"visitor line {step.to}")
    if refused is not None:
        team.model.violations.append(f"the visitor of {cid} was refused: {refused}")
    return True


async def the_visitor_leaves(team: Team, deployment: Deployment, step: Step) -> bool:
    cid = pick(step.which, _live(team))
    return cid is not None and await _close(team, cid, team.visitors[cid])


async def the_visitor_rates(team: Team, deployment: Deployment, step: Step) -> bool:
    cid = pick(step.which, _closed(team))
    if cid is None:
        return False
    client = team.visitors[cid].client
    score = 1 + step.to % 5
    await client.send_frame({"type": "rate", "conversation_id": cid, "score": score, "ref": "r"})
    answer = await client.expect("rated", timeout=10, where=lambda f: f.get("conversation_id") == cid)
    if answer["score"] != score:
        team.model.violations.append(f"rating {score} of {cid} came back as {answer['score']}")
    return True


async def the_agent_writes(team: Team, deployment: Deployment, step: Step) -> bool:
    owned = await _owned(team, "assigned")
    cid = pick(step.which, list(owned))
    if cid is None:
        return False
    agent = team.agents[owned[cid]]
    refused = await team.send(agent, cid, f"agent line {step.to}")
    if refused is not None and (await _owned(team, "assigned")).get(cid) == agent.name:
        team.model.violations.append(f"{agent.name} owns {cid} and was refused: {refused}")
    return True


async def the_agent_answers_an_offer(team: Team, deployment: Deployment, step: Step) -> bool:
    """Accept (``flag``) or decline."""
    offered = await _owned(team, "offered")
    cid = pick(step.which, list(offered))
    if cid is None:
        return False
    await team.agents[offered[cid]].client.send_frame({"type": "accept" if step.flag else "decline",
                                                       "conversation_id": cid})
    await wait(0.3)
    return True


async def offers_lapse(team: Team, deployment: Deployment, step: Step) -> bool:
    """Nobody answers for two offer timeouts: offers lapse and go on (round again)."""
    await wait(2 * OFFER_SECONDS + 1)
    return True


async def the_agent_transfers(team: Team, deployment: Deployment, step: Step) -> bool:
    """To another group (``flag``) or to an agent."""
    owned = await _owned(team, "assigned")
    cid = pick(step.which, list(owned))
    if cid is None:
        return False
    frame = {"type": "transfer", "conversation_id": cid, "note": "over to you"}
    if step.flag:
        frame["to_skill"] = pick(step.to, [team.first_line, team.second_line]) or ""
    else:
        frame["to_agent"] = pick(step.to, list(team.agents)) or ""
    await team.agents[owned[cid]].client.send_frame(frame)
    await wait(0.3)
    return True


async def a_supervisor_reassigns(team: Team, deployment: Deployment, step: Step) -> bool:
    cid = pick(step.which, _live(team))
    if cid is None:
        return False
    assert team.supervisor is not None
    await team._call(team.supervisor.post, f"/api/v1/conversations/{cid}/reassign",
                     json={"to_agent": pick(step.to, list(team.agents)), "note": "supervisor"})
    return True


async def a_chat_is_handed_on_and_back(team: Team, deployment: Deployment, step: Step) -> bool:
    """A chat goes to a colleague and comes back: by transfers, or by a
    supervisor's two reassigns (``flag``)."""
    owned = await _owned(team, "assigned")
    cid = pick(step.which, list(owned))
    if cid is None:
        return False
    first = owned[cid]
    colleague = pick(step.to, [a for a in team.agents if a != first]) or first

    async def hand(holder: str, to: str) -> None:
        if step.flag:
            assert team.supervisor is not None
            await team._call(team.supervisor.post, f"/api/v1/conversations/{cid}/reassign", json={"to_agent": to})
        else:
            await team.agents[holder].client.send_frame({"type": "transfer", "conversation_id": cid,
                                                         "to_agent": to, "note": "and back"})
        for _ in range(50):  # until it is the new holder's (or the move was refused)
            if (await team.conversation(cid))["agent_id"] == to:
                return
            await wait(0.1)

    await hand(first, colleague)
    await hand(colleague, first)
    return True


async def the_agent_closes(team: Team, deployment: Deployment, step: Step) -> bool:
    owned = await _owned(team, "assigned")
    cid = pick(step.which, list(owned))
    return cid is not None and await _close(team, cid, team.agents[owned[cid]])


async def a_supervisor_reopens(team: Team, deployment: Deployment, step: Step) -> bool:
    cid = pick(step.which, _closed(team))
    if cid is None:
        return False
    assert team.supervisor is not None
    answer = await team._call(team.supervisor.post, f"/api/v1/conversations/{cid}/reopen")
    if answer.status_code == 200:
        team.model.closed[cid] = False
    elif answer.json()["error"]["code"] != "bad_state":  # the visitor has another chat open
        team.model.violations.append(f"reopen of {cid}: {answer.text}")
    return True


async def an_agent_drops_and_comes_back(team: Team, deployment: Deployment, step: Step) -> bool:
    """Back within the grace period, or past it (``flag``)."""
    agent = team.agents[pick(step.which, list(team.agents)) or ""]
    await agent.client.drop()
    agent.connected = False
    await wait(GRACE_SECONDS + PRESENCE_SECONDS + 1.5 if step.flag else 0.3)
    await team.reconnect(agent)
    return True


async def a_node_is_killed(team: Team, deployment: Deployment, step: Step) -> bool:
    await asyncio.get_running_loop().run_in_executor(None, deployment.kill_node, step.to % len(deployment.nodes))
    return True


async def subscriptions_drop_as_agents_reconnect(team: Team, deployment: Deployment, step: Step) -> bool:
    """Every node loses its pub/sub connection while the agents come back
    from a network drop: publications are lost and caught up from the logs,
    in the middle of the agents' hellos."""
    agents = list(team.agents.values())
    for agent in agents:
        await agent.client.drop()
        agent.connected = False

    async def cut() -> None:
        await wait((step.to % 80) / 1000)
        await asyncio.get_running_loop().run_in_executor(None, deployment.cut_subscriptions)

    await gather(cut(), *(team.reconnect(agent) for agent in agents))
    return True


async def redis_restarts(team: Team, deployment: Deployment, step: Step) -> bool:
    """SIGKILL (``flag``) or SIGTERM, then started again."""
    await asyncio.get_running_loop().run_in_executor(None, deployment.restart_redis, step.flag)
    return True


Operation = Callable[[Team, Deployment, Step], Awaitable[bool]]
# name -> (operation, weight, needs a deployment that takes faults)
OPERATIONS: dict[str, tuple[Operation, float, bool]] = {
    "a_visitor_starts_a_chat": (a_visitor_starts_a_chat, 3, False),
    "a_visitor_starts_twice_at_once_from_two_tabs": (a_visitor_starts_twice_at_once_from_two_tabs, 1, False),
    "the_visitor_writes": (the_visitor_writes, 2, False),
    "the_visitor_leaves": (the_visitor_leaves, 1, False),
    "the_visitor_rates": (the_visitor_rates, 0.5, False),
    "the_agent_writes": (the_agent_writes, 2, False),
    "the_agent_answers_an_offer": (the_agent_answers_an_offer, 2, False),
    "offers_lapse": (offers_lapse, 0.7, False),
    "the_agent_transfers": (the_agent_transfers, 1.5, False),
    "a_supervisor_reassigns": (a_supervisor_reassigns, 1, False),
    "a_chat_is_handed_on_and_back": (a_chat_is_handed_on_and_back, 1.5, False),
    "the_agent_closes": (the_agent_closes, 1, False),
    "a_supervisor_reopens": (a_supervisor_reopens, 0.7, False),
    "an_agent_drops_and_comes_back": (an_agent_drops_and_comes_back, 1, False),
    "a_node_is_killed": (a_node_is_killed, 0.6, True),
    "subscriptions_drop_as_agents_reconnect": (subscriptions_drop_as_agents_reconnect, 0.6, True),
    "redis_restarts": (redis_restarts, 0.6, True),
}


def generate(rng: random.Random, steps: int, faults: bool) -> list[Step]:
    names = [name for name, (_, _, needs) in OPERATIONS.items() if faults or not needs]
    weights = [OPERATIONS[name][1] for name in names]
    return [Step(rng.choices(names, weights)[0], rng.randrange(2**16), rng.randrange(2**16), rng.random() < 0.5)
            for _ in range(steps)]


async def run_walk(deployment: Deployment, walk: list[Step], seed: int,
                   on_step: Callable[[int, Step, float], None] | None = None) -> None:
    """Run ``walk`` against a fresh team; raises :class:`WalkFailed` at the first step after which
    the deployment disagrees with the model."""
    team = Team(deployment, random.Random(seed))
    await team.setup()
    try:
        for at, step in enumerate(walk):
            began = time.monotonic()
            acted = await OPERATIONS[step.name][0](team, deployment, step)
            if acted:
                try:
                    await team.settle_and_check()
                except AssertionError as exc:
                    raise WalkFailed(at, walk[:at + 1], str(exc)) from exc
            if on_step is not None:
                on_step(at, step, time.monotonic() - began)
    finally:
        await team.teardown()


async def shrink(deployment: Deployment, failed: WalkFailed, seed: int, budget_seconds: float) -> WalkFailed:
    """The shortest walk found (within the budget) that still fails, by
    leaving out chunks of steps, halves first, then smaller ones."""
    best = failed
    deadline = time.monotonic() + budget_seconds
    chunk = max(1, len(best.walk) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        start = 0
        shrunk = False
        while start < len(best.walk) and time.monotonic() < deadline:
            candidate = best.walk[:start] + best.walk[start + chunk:]
            if candidate:
                try:
                    await run_walk(deployment, candidate, seed)
                except WalkFailed as again:
                    best, shrunk = again, True
                    continue  # the same start again, on the shorter walk
            start += chunk
        if not shrunk:
            chunk //= 2
    return best
