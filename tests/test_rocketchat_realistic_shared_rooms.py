"""What a real Rocket.Chat does to the connector, played by the fake
(tests/support/fake_rocketchat.py, which names the Rocket.Chat source of each rule).
The project's own records are real (SQLite per test through `isolated_env`).
This file: rooms with several people: a conversation each, direct messages between
people never read, the room-kind cache, and requests moved to a direct message.
"""
from __future__ import annotations

import logging

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from imago_core.identity.private_channel import move_request
from actions.request_form.start import ActionStartTask
from extensions.channels import rocketchat as connector
from tests.support.fake_rocketchat import (
    IM_CREATE,
    ROOMS_INFO,
    USERS_INFO,
    FakeRocketChat,
)
from tests.support.rocketchat_harness import (
    WEBHOOK_TOKEN,
    Harness,
)
from tests.support.rocketchat_realistic import CHANNEL, LOGGER, texts
from tests.support.rocketchat_realistic import fake, harness, servers  # noqa: F401 - fixtures


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
    monkeypatch.setattr(connector.webhook, "ROOM_KIND_CACHE_SIZE", 2)
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
