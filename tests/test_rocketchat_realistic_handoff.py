"""What a real Rocket.Chat does to the connector, played by the fake
(tests/support/fake_rocketchat.py, which names the Rocket.Chat source of each rule).
The project's own records are real (SQLite per test through `isolated_env`).
This file: hand-offs that cannot strand anyone: a missing permission, nobody online,
a forward Rocket.Chat refuses, a room already in the department, an accepted forward.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List

from sqlalchemy import select

from imago_core.storage.db import session_scope
from imago_core.handoff.escalations import create_escalation, get_escalation, list_escalations
from imago_core.storage.models import AuditEvent, EscalationStatus
from tests.support.fake_rocketchat import (
    ROOM_FORWARD,
    ROOMS_INFO,
)
from tests.support.rocketchat_harness import (
    DEPARTMENT,
)
from tests.support.rocketchat_realistic import LIVECHAT_ROOM, LOGGER, deliver, texts
from tests.support.rocketchat_realistic import fake, harness, servers  # noqa: F401 - fixtures


# -- hand-off that cannot strand anyone ------------------------------------------------------------


def handoff_reply(reference: str):
    def reply(_message):  # what action_handoff sends in a livechat room
        return {"custom": {"imago_handoff": {"escalation": reference, "connecting_text": "Connecting you now.",
                                             "fallback_text": f"No live agent; the team has {reference}."}}}
    return reply


def escalate(room: str) -> str:
    events = [{"event": "user", "text": "a person please"}]
    return create_escalation(room, "rocketchat", "asked", events, None).reference


def audit_events(name: str) -> List[Dict[str, Any]]:
    with session_scope() as session:
        rows = session.execute(select(AuditEvent).where(AuditEvent.event == name)).scalars().all()
        return [json.loads(r.detail) for r in rows]


async def test_missing_permission_is_named_at_startup_and_handoff_goes_to_staff(servers, fake, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    harness = await servers.start(fake)  # the bot has Rocket.Chat's default bot + livechat-agent roles
    assert "lacks the permission(s) transfer-livechat-guest" in caplog.text
    reference = escalate(LIVECHAT_ROOM)
    harness.bot.reply = handoff_reply(reference)

    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "I want a person"))

    assert fake.calls(ROOM_FORWARD) == []  # known to be refused: not even tried
    assert texts(fake, LIVECHAT_ROOM) == [f"No live agent; the team has {reference}."]
    assert get_escalation(reference).status == EscalationStatus.WAITING
    assert reference in [e.reference for e in list_escalations()]  # the staff console has it
    [refusal] = audit_events("escalation_forward_refused")
    assert refusal["reason"] == "bot lacks transfer-livechat-guest"


async def test_nobody_online_in_the_department_means_no_forward_and_the_truth(servers, fake):
    fake.grant("transfer-livechat-guest", ["admin", "livechat-manager", "bot"])
    fake.add_department(DEPARTMENT, ["AGENTID"])
    fake.users["AGENTID"].online = False
    harness = await servers.start(fake)
    reference = escalate(LIVECHAT_ROOM)
    harness.bot.reply = handoff_reply(reference)

    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "I want a person"))

    assert fake.calls(ROOM_FORWARD) == []  # livechat/config said the department is offline
    assert texts(fake, LIVECHAT_ROOM) == [f"No live agent; the team has {reference}."]
    assert get_escalation(reference).status == EscalationStatus.WAITING


async def test_forward_refused_by_rocketchat_ends_in_an_escalation(servers, fake):
    fake.grant("transfer-livechat-guest", ["admin", "livechat-manager", "bot"])
    fake.add_department(DEPARTMENT, ["AGENTID"])
    fake.users["AGENTID"].online = False  # nobody online in the department, but
    fake.accept_chats_with_no_agents = True  # livechat/config says "online" all the same
    harness = await servers.start(fake)
    reference = escalate(LIVECHAT_ROOM)
    harness.bot.reply = handoff_reply(reference)

    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "I want a person"))

    assert [c.status for c in fake.calls(ROOM_FORWARD)] == [400]
    assert texts(fake, LIVECHAT_ROOM) == ["Connecting you now.", f"No live agent; the team has {reference}."]
    assert get_escalation(reference).status == EscalationStatus.WAITING
    [refusal] = audit_events("escalation_forward_refused")
    assert refusal["reason"] == "error-no-agents-online-in-department"


async def test_room_already_in_the_department_is_not_forwarded(servers, fake):
    fake.grant("transfer-livechat-guest", ["admin", "bot"])
    fake.add_department(DEPARTMENT, ["AGENTID"])
    fake.rooms[LIVECHAT_ROOM].department_id = DEPARTMENT
    harness = await servers.start(fake)
    reference = escalate(LIVECHAT_ROOM)
    harness.bot.reply = handoff_reply(reference)

    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "I want a person"))

    assert fake.calls(ROOM_FORWARD) == []  # Rocket.Chat would say error-forwarding-chat-same-department
    assert len(fake.calls(ROOMS_INFO)) == 1
    assert texts(fake, LIVECHAT_ROOM) == [f"No live agent; the team has {reference}."]
    assert get_escalation(reference).status == EscalationStatus.WAITING


async def test_accepted_forward_moves_the_escalation_out_of_the_staff_queue(servers, fake):
    fake.grant("transfer-livechat-guest", ["admin", "bot"])
    fake.add_department(DEPARTMENT, ["AGENTID"])
    harness = await servers.start(fake)
    reference = escalate(LIVECHAT_ROOM)
    harness.bot.reply = handoff_reply(reference)

    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "I want a person"))
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "hello, Anna?"))  # now a person's room

    assert fake.forwards() == [{"roomId": LIVECHAT_ROOM, "departmentId": DEPARTMENT,
                                "comment": f"Escalation {reference}"}]
    assert texts(fake, LIVECHAT_ROOM) == ["Connecting you now."]
    assert get_escalation(reference).status == EscalationStatus.FORWARDED
    assert [m.text for m in harness.bot.messages] == ["I want a person"]
