"""The conversation lifecycle state machine, table-driven."""

from __future__ import annotations

import pytest

from chatd.conversation import ACTIONS, STATES, can, plan
from chatd.errors import ChatdError

# (state, action) -> resulting state, or the error code
EXPECTED: dict[tuple[str, str], str] = {
    ("open", "queue"): "queued", ("open", "assign"): "assigned", ("open", "close"): "closed",
    ("queued", "assign"): "assigned", ("queued", "close"): "closed", ("queued", "offer"): "offered",
    ("offered", "accept"): "assigned", ("offered", "lapse"): "queued", ("offered", "close"): "closed",
    ("offered", "transfer_to_agent"): "assigned", ("offered", "transfer_to_group"): "queued",
    ("queued", "transfer_to_group"): "queued",
    ("assigned", "transfer_to_agent"): "assigned", ("assigned", "transfer_to_group"): "queued",
    ("assigned", "requeue"): "queued", ("assigned", "close"): "closed",
    ("closed", "reopen"): "queued",
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_state_and_action(state: str, action: str) -> None:
    kwargs = {"agent_id": "bo", "current_agent": "ana", "skill": "billing"}
    expected = EXPECTED.get((state, action))
    if expected is None:
        with pytest.raises(ChatdError) as caught:
            plan(state, action, **kwargs)
        assert caught.value.code == ("conversation_closed" if state == "closed" else "bad_state")
        assert not can(state, action)
    else:
        change = plan(state, action, **kwargs)
        assert change.to_state == expected and state in change.allowed_from
        assert can(state, action)


def test_effects_of_each_action() -> None:
    assign = plan("queued", "assign", agent_id="ana")
    assert (assign.agent_id, assign.queue, assign.event) == ("ana", "remove", "assigned")
    to_agent = plan("assigned", "transfer_to_agent", current_agent="ana", agent_id="bo", note="VIP, be nice")
    assert to_agent.agent_id == "bo" and to_agent.data == {"note": "VIP, be nice", "from_agent": "ana",
                                                           "to_agent": "bo"}
    to_group = plan("assigned", "transfer_to_group", current_agent="ana", skill="second_line", note="refund")
    assert (to_group.agent_id, to_group.queue, to_group.skill) == ("", "add", "second_line")
    requeue = plan("assigned", "requeue", current_agent="ana")
    assert requeue.queue == "add" and requeue.agent_id == ""
    offer = plan("queued", "offer", agent_id="ana")
    assert (offer.agent_id, offer.queue, offer.to_state) == ("ana", "remove", "offered")
    accept = plan("offered", "accept", current_agent="ana")
    assert accept.agent_id == "ana" and accept.to_state == "assigned"
    lapse = plan("offered", "lapse", current_agent="ana")
    assert lapse.agent_id == "" and lapse.queue == "add" and lapse.data == {"from_agent": "ana"}
    close = plan("assigned", "close")
    assert close.agent_id == "" and close.queue == "remove"


@pytest.mark.parametrize(("state", "action", "kwargs"), [
    ("queued", "assign", {}),
    ("assigned", "transfer_to_agent", {"current_agent": "ana", "agent_id": "ana"}),
    ("assigned", "transfer_to_agent", {"current_agent": "ana"}),
    ("assigned", "transfer_to_group", {"current_agent": "ana"}),
    ("open", "fly", {}),
])
def test_bad_requests(state: str, action: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(ChatdError) as caught:
        plan(state, action, **kwargs)
    assert caught.value.code == "bad_request"
