"""What a real Rocket.Chat does to the connector, played by the fake
(tests/support/fake_rocketchat.py, which names the Rocket.Chat source of each rule):
re-sent webhooks, replicas, hand-offs that Rocket.Chat refuses, rooms served by
people, edits, closed rooms, rate-limit headers, and rooms with several people.
The project's own records are real (SQLite per test through `isolated_env`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, List

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from imago_core.storage import message_dedup
from imago_core.storage.db import session_scope
from imago_core.handoff.escalations import create_escalation, get_escalation, list_escalations
from imago_core.storage.models import AuditEvent, EscalationStatus, InboundMarker
from imago_core.identity.private_channel import move_request
from actions.request_form.start import ActionStartTask
from extensions.channels import rocketchat as connector
from tests.support.fake_rocketchat import (
    IM_CREATE,
    POST_MESSAGE,
    ROOM_FORWARD,
    ROOMS_INFO,
    USERS_INFO,
    FakeRocketChat,
)
from tests.support.rocketchat_harness import (
    BOT_PASSWORD,
    BOT_USER,
    DEPARTMENT,
    LIVECHAT_TOKEN,
    WEBHOOK_TOKEN,
    Harness,
    SanicServers,
    make_client,
)

LIVECHAT_ROOM = "LIVECHATROOM1"
CHANNEL = "GENERALROOMID"
LOGGER = "extensions.channels.rocketchat"


@pytest.fixture
def fake():
    # Re-sends 0.2 s apart instead of Rocket.Chat's 20 s (timeout * 4), timeout 1 s.
    with FakeRocketChat(user=BOT_USER, password=BOT_PASSWORD, http_timeout=1.0, resend_interval=0.2) as server:
        server.add_user("ALICEID", "alice")
        server.add_user("BOBID", "bob")
        server.add_user("AGENTID", "agent-anna", ["user", "livechat-agent"])
        server.add_channel(CHANNEL, ["ALICEID", "BOBID", server.bot_user_id])
        server.add_livechat_room(LIVECHAT_ROOM)
        yield server


@pytest.fixture
async def servers(isolated_env, monkeypatch):
    from sanic import Sanic

    monkeypatch.setattr(Sanic, "test_mode", True)  # each test starts fresh apps
    started = SanicServers()
    yield started
    await started.close()


@pytest.fixture
async def harness(servers, fake) -> Harness:
    return await servers.start(fake)


async def deliver(fake: FakeRocketChat, harness: Harness, payload: Dict[str, Any]):
    """Rocket.Chat's delivery (with re-sends), then the background turns."""
    delivery = await asyncio.to_thread(fake.send_livechat, harness.webhook_url, payload, LIVECHAT_TOKEN)
    await harness.channel.wait_for_turns()
    return delivery


def texts(fake: FakeRocketChat, room: str) -> List[str]:
    return [body.get("text") for body in fake.posted_messages(room)]


# -- exactly one turn per visitor message ------------------------------------------------------


async def test_five_resends_across_two_replicas_make_one_turn(servers, fake):
    replicas = [await servers.start(fake), await servers.start(fake)]  # one database, like production
    payload = fake.livechat_message(LIVECHAT_ROOM, "what do you do with my data?")

    for n in range(5):  # Rocket.Chat gives up after 5 attempts (webhooks.ts)
        await deliver(fake, replicas[n % 2], payload)

    turns = [m for replica in replicas for m in replica.bot.messages]
    assert [m.text for m in turns] == ["what do you do with my data?"]
    assert texts(fake, LIVECHAT_ROOM) == ["echo: what do you do with my data?"]

    # Both replicas run in this process: show that the database, not process memory, kept
    # the claim. The marker row is there; without it, the same re-send is a new turn.
    key = f"rocketchat:{payload['messages'][0]['_id']}"
    with session_scope() as session:
        markers = session.execute(select(InboundMarker).where(InboundMarker.key == key)).scalars().all()
        assert len(markers) == 1
        session.delete(markers[0])
    await deliver(fake, replicas[1], payload)
    assert len([m for replica in replicas for m in replica.bot.messages]) == 2


async def test_slow_turn_is_answered_at_once_so_rocketchat_does_not_resend(harness, fake):
    harness.bot.delay = 2.5  # longer than the 1 s webhook timeout of this fake

    started = time.monotonic()
    delivery = await asyncio.to_thread(fake.send_livechat, harness.webhook_url,
                                       fake.livechat_message(LIVECHAT_ROOM, "hello"), LIVECHAT_TOKEN)
    answered_after = time.monotonic() - started
    await harness.channel.wait_for_turns()

    assert delivery.attempts == [200]
    assert answered_after < 1.0
    assert len(harness.bot.messages) == 1
    assert texts(fake, LIVECHAT_ROOM) == ["echo: hello"]


async def test_database_outage_gets_503_and_the_resend_is_processed_once(harness, fake, monkeypatch):
    real_claim, outages = message_dedup.claim_once, [2]

    def flaky_claim(key: str) -> bool:
        if outages[0]:
            outages[0] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real_claim(key)

    monkeypatch.setattr(connector, "claim_once", flaky_claim)

    delivery = await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "are you there?"))

    assert delivery.attempts == [503, 503, 200]  # 503 is re-sent by Rocket.Chat; nothing lost
    assert [m.text for m in harness.bot.messages] == ["are you there?"]


async def test_fake_resends_a_failing_webhook_five_times(fake):
    # The fake's delivery rule itself, against an address where nothing answers.
    delivery = await asyncio.to_thread(fake.send_livechat, "http://127.0.0.1:9/", {"type": "Message"}, "s")
    assert delivery.attempts == [None] * 5


# -- only the bot's rooms ------------------------------------------------------------------------


async def test_room_served_by_a_person_is_left_alone(harness, fake):
    fake.add_livechat_room("PEOPLESROOM", served_by="AGENTID")
    fake.add_livechat_room("QUEUEDROOM", served_by=None)

    for room in ("PEOPLESROOM", "QUEUEDROOM"):
        delivery = await deliver(fake, harness, fake.livechat_message(room, "hello?"))
        assert delivery.attempts == [200]

    assert harness.bot.messages == []
    assert fake.calls(POST_MESSAGE) == []


async def test_agents_and_edited_messages_do_not_start_turns(harness, fake):
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "first", message_id="M1"))
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "first, edited", message_id="M1", edited=True))
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "agent note", from_agent="AGENTID"))
    never_seen = fake.livechat_message(LIVECHAT_ROOM, "edited before the bot saw it", edited=True)
    await deliver(fake, harness, never_seen)

    assert [m.text for m in harness.bot.messages] == ["first"]


async def test_closed_room_gets_no_turn_even_for_a_late_resend(harness, fake):
    late = fake.livechat_message(LIVECHAT_ROOM, "sent just before closing")
    await deliver(fake, harness, fake.close_room(LIVECHAT_ROOM))

    await deliver(fake, harness, late)

    assert harness.bot.messages == []


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


# -- rate limits -------------------------------------------------------------------------------


@pytest.fixture
def limited_fake(fake):
    fake.grant("api-bypass-rate-limit", ["admin"])  # the bot's own bypass removed
    fake.rate_limit_calls, fake.rate_limit_window = 2, 2.0
    return fake


async def test_429_waits_until_x_ratelimit_reset(limited_fake):
    fake = limited_fake
    delays: List[float] = []
    other, mine = make_client(fake, []), make_client(fake, delays, real_sleep=True)
    try:
        assert await other.post_message(CHANNEL, {"text": "uses the window"})
        assert await other.post_message(CHANNEL, {"text": "uses it up"})
        assert await mine.post_message(CHANNEL, {"text": "must wait"})
    finally:
        await other.close()
        await mine.close()

    statuses = [c.status for c in fake.calls(POST_MESSAGE)]
    assert statuses == [200, 200, 429, 200]
    limited = fake.calls(POST_MESSAGE)[2]
    assert "retry-after" not in {k.lower() for k in limited.headers}  # Rocket.Chat sends none
    [waited] = delays
    assert 1.0 < waited <= fake.rate_limit_window  # from X-RateLimit-Reset, not the 0.5 s backoff


async def test_429_with_a_reset_already_past_still_backs_off(limited_fake):
    fake = limited_fake
    fake.rate_limit_window = 1.5
    delays: List[float] = []
    other = make_client(fake, [])
    # Our clock is 10 s ahead of Rocket.Chat's: X-RateLimit-Reset looks past.
    skewed = make_client(fake, delays, real_sleep=True, clock=lambda: time.time() + 10, backoff_base=0.5,
                         max_attempts=4)
    try:
        assert await other.post_message(CHANNEL, {"text": "uses the window"})
        assert await other.post_message(CHANNEL, {"text": "uses it up"})
        assert await skewed.post_message(CHANNEL, {"text": "must wait"})
    finally:
        await other.close()
        await skewed.close()

    assert delays and all(d >= 0.5 for d in delays)  # never an immediate retry into the same 429
    assert [c.status for c in fake.calls(POST_MESSAGE)][-1] == 200


async def test_no_remaining_calls_means_wait_before_the_next_one(limited_fake):
    fake = limited_fake
    delays: List[float] = []
    client = make_client(fake, delays, real_sleep=True)
    try:
        for n in range(3):
            assert await client.post_message(CHANNEL, {"text": f"message {n}"})
    finally:
        await client.close()

    assert [c.status for c in fake.calls(POST_MESSAGE)] == [200, 200, 200]  # never a 429
    [waited] = delays
    assert 1.0 < waited <= fake.rate_limit_window


# -- a room with two people --------------------------------------------------------------------------


async def outgoing(fake: FakeRocketChat, harness: Harness, room: str, user: str, text: str):
    payload = fake.outgoing_message(room, user, text, WEBHOOK_TOKEN)
    status, _ = await harness.post(payload)
    assert status == 200


async def test_room_with_two_people_gives_each_their_own_conversation(harness, fake):
    await outgoing(fake, harness, CHANNEL, "ALICEID", "what data do you keep?")
    await outgoing(fake, harness, CHANNEL, "BOBID", "what data do you keep?")

    alice, bob = harness.bot.messages
    assert (alice.sender_id, bob.sender_id) == (f"rc:{CHANNEL}:ALICEID", f"rc:{CHANNEL}:BOBID")
    assert alice.metadata["room_kind"] == bob.metadata["room_kind"] == "shared"
    assert connector.room_of(alice.sender_id) == CHANNEL


@pytest.mark.parametrize("members, room_id", [
    (["ALICEID", "BOBID"], None),  # a DM of two people: its id is their ids joined
    (["ALICEID", "BOBID", "AGENTID"], "GROUPDMROOMID01"),  # a group DM, known from rooms.info
])
async def test_direct_message_between_people_is_never_read(harness, fake, caplog, members, room_id):
    # An outgoing webhook set to all_direct_messages fires for every DM in the workspace.
    room = fake.add_direct_message(members, room_id)._id
    caplog.set_level(logging.INFO, logger=LOGGER)

    await outgoing(fake, harness, room, "ALICEID", "my salary is 4,200 and my PIN is 1234")
    await outgoing(fake, harness, room, "ALICEID", "second message")  # the room kind is remembered

    assert harness.bot.messages == []  # no turn: no tracker, nothing stored
    assert fake.posted_messages() == []
    assert "4,200" not in caplog.text and "without the bot" in caplog.text


async def test_room_kind_cache_forgets_the_oldest_room(harness, fake, monkeypatch):
    monkeypatch.setattr(connector, "ROOM_KIND_CACHE_SIZE", 2)
    for n in range(3):
        fake.add_channel(f"ROOM{n}", ["ALICEID", fake.bot_user_id])
        await outgoing(fake, harness, f"ROOM{n}", "ALICEID", "hello")
    assert list(harness.channel._room_kinds) == ["ROOM1", "ROOM2"]
    await outgoing(fake, harness, "ROOM1", "ALICEID", "again")  # cached: no rooms.info
    assert [c.body["roomId"] for c in fake.calls(ROOMS_INFO)] == ["ROOM0", "ROOM1", "ROOM2"]


async def test_request_in_a_shared_room_moves_to_a_direct_message(harness, fake):
    harness.bot.reply = lambda m: {"custom": move_request("deletion")} if m.sender_id.count(":") > 1 else {
        "text": "What's your email address?"}
    await outgoing(fake, harness, CHANNEL, "ALICEID", "please delete my data")

    direct = connector.direct_room_id(fake.bot_user_id, "ALICEID")
    assert [c.body for c in fake.calls(USERS_INFO)] == [{"userId": "ALICEID"}]
    assert [c.body for c in fake.calls(IM_CREATE)] == [{"username": "alice"}]
    shared_texts = texts(fake, CHANNEL)
    assert len(shared_texts) == 1 and "direct message" in shared_texts[0]
    [opening] = fake.posted_messages(direct)
    assert opening["attachments"][0]["actions"][0]["msg"] == "/request_deletion"

    await outgoing(fake, harness, direct, "ALICEID", "/request_deletion")  # Alice presses the button

    in_direct = harness.bot.messages[-1]
    assert (in_direct.sender_id, in_direct.metadata["room_kind"]) == (f"rc:{direct}", "direct")
    assert texts(fake, direct)[-1] == "What's your email address?"
    assert "What's your email address?" not in texts(fake, CHANNEL)  # nobody else saw the question


async def test_shared_room_falls_back_to_a_plain_refusal_when_no_direct_message_opens(harness, fake):
    fake.fail_next(IM_CREATE, 400)
    harness.bot.reply = lambda m: {"custom": move_request("access")}

    await outgoing(fake, harness, CHANNEL, "ALICEID", "show me my data")

    [text] = texts(fake, CHANNEL)
    assert "couldn't open a direct message" in text


async def test_start_task_in_a_shared_room_asks_for_nothing_personal():
    latest = {"text": "delete my data", "intent": {"name": "request_deletion", "confidence": 0.9},
              "entities": [], "metadata": {"shape": "webhook", "room_kind": "shared"}}
    tracker = Tracker(f"{CHANNEL}:ALICEID", {}, latest, [{"event": "user", **latest, "input_channel": "rocketchat"}],
                      False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()

    events = await ActionStartTask().run(dispatcher, tracker, {})

    assert events == [FollowupAction("action_listen")]  # no task slot, so no form, no email prompt
    [message] = dispatcher.messages
    assert message["custom"]["imago_move_private"]["task"] == "deletion"
    assert not message.get("text")
