"""The RocketChat connector, served by a real Sanic server, talking to the fake Rocket.Chat
(tests/support/fake_rocketchat.py). The behaviours a real server forces (re-sends, hand-off
refusals, rooms with several people, rate-limit headers) are in test_rocketchat_realistic_*.py.
This file: both payload shapes reach the bot, the webhook secrets, and what is ignored.
"""
from __future__ import annotations


import pytest

from tests.support.rocketchat_harness import (
    BOT_USER,
    WEBHOOK_TOKEN,
)
from tests.support.rocketchat_channel import (
    LIVECHAT_ROOM,
    ROOM,
    agent_message,
    livechat_payload,
    message_calls,
    webhook_payload,
)
from tests.support.rocketchat_channel import fake, harness, start_server  # noqa: F401 - fixtures


# -- both payload shapes reach the bot ---------------------------------------------


async def test_outgoing_webhook_reaches_bot_per_room(harness):
    status, body = await harness.post(webhook_payload("what data do you keep?"))

    assert (status, body) == (200, {"status": "accepted"})
    [message] = harness.bot.messages
    assert message.text == "what data do you keep?"
    assert message.sender_id == f"rc:{ROOM}:ALICEID"  # a room with several people: (room, user)
    assert message.input_channel == "rocketchat"
    assert message.message_id.startswith("MSG")
    # The user id is the send limits' client key (issue 23, finding 1), under the key no visitor can set.
    assert message.metadata == {"shape": "webhook", "room_id": ROOM, "user_id": "ALICEID",
                                "message_id": message.message_id, "room_kind": "shared",
                                "imago_client_address": "rocketchat-user:ALICEID"}
    assert harness.fake.posted_messages() == [{"roomId": ROOM, "text": "echo: what data do you keep?"}]


async def test_nul_bytes_are_stripped_and_overlong_messages_are_answered_not_processed(harness, fake):
    await harness.post(webhook_payload("what data\x00 do you keep?"))
    [message] = harness.bot.messages
    assert message.text == "what data do you keep?"

    await harness.post(webhook_payload("x" * 2001))
    assert len(harness.bot.messages) == 1  # the overlong message never reached the bot
    assert any("too long" in (c.body.get("text") or "") for c in message_calls(fake))


async def test_livechat_visitor_message_reaches_bot_per_room(harness):
    status, body = await harness.post_livechat(livechat_payload("delete my data"))

    assert (status, body) == (200, {"status": "accepted"})
    [message] = harness.bot.messages
    assert message.text == "delete my data"
    assert message.sender_id == f"rc:{LIVECHAT_ROOM}"  # prefixed: never collides with other channels
    assert message.metadata == {"shape": "livechat", "room_id": LIVECHAT_ROOM, "room_kind": "livechat",
                                "visitor_id": "VISITORID", "message_id": message.message_id,
                                "imago_client_address": "rocketchat-user:VISITORID"}
    assert harness.fake.posted_messages() == [{"roomId": LIVECHAT_ROOM, "text": "echo: delete my data"}]


async def test_livechat_passes_only_the_visitors_messages(harness):
    messages = [
        agent_message("agent text"),
        {"_id": "LMSG3X", "username": "guest-1", "msg": "visitor text"},
        {"_id": "LMSG4X", "username": BOT_USER, "msg": "bot text", "agentId": "BOTUSERID"},
    ]
    status, _ = await harness.post_livechat(livechat_payload(messages=messages))

    assert status == 200
    assert [m.text for m in harness.bot.messages] == ["visitor text"]


async def test_health_route(harness):
    async with harness.http.get(f"{harness.url}/webhooks/rocketchat/") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


async def test_body_that_is_not_json_is_rejected(harness):
    async with harness.http.post(harness.webhook_url, data=b"not json") as resp:
        assert resp.status == 400
    assert harness.bot.messages == []


# -- secrets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "token, expected_status",
    [(None, 401), ("", 401), ("wrong-secret", 403), (12345, 403), ("outgoing-secret-but-longer", 403)],
)
async def test_outgoing_webhook_token_is_checked(harness, token, expected_status):
    payload = webhook_payload()
    if token is None:
        del payload["token"]
    else:
        payload["token"] = token

    status, body = await harness.post(payload)

    assert status == expected_status
    assert body["status"] == "refused"
    assert harness.bot.messages == []
    assert message_calls(harness.fake) == []


@pytest.mark.parametrize("token, expected_status", [(None, 401), ("", 401), ("wrong-secret", 403)])
async def test_livechat_token_header_is_checked(harness, token, expected_status):
    status, _ = await harness.post_livechat(livechat_payload(), token=token)

    assert status == expected_status
    assert harness.bot.messages == []


async def test_webhook_token_in_livechat_header_is_not_enough(harness):
    status, _ = await harness.post_livechat(livechat_payload(), token=WEBHOOK_TOKEN)
    assert status == 403


async def test_shape_without_configured_token_is_refused(start_server):
    only_webhook = await start_server(livechat_token=None)
    status, _ = await only_webhook.post_livechat(livechat_payload(), token="anything")
    assert status == 403
    status, _ = await only_webhook.post_livechat(livechat_payload(), token=None)
    assert status == 403
    assert only_webhook.bot.messages == []

    only_livechat = await start_server(webhook_token=None)
    status, _ = await only_livechat.post(webhook_payload(token="anything"))
    assert status == 403
    assert only_livechat.bot.messages == []


# -- what is ignored ---------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    [
        "LivechatSessionStart",
        "LivechatSession",
        "LivechatSessionTaken",
        "LivechatSessionForwarded",
        "LivechatSessionQueued",
        "LivechatEdit",
        None,
    ],
)
async def test_livechat_session_events_are_ignored(harness, event_type):
    status, body = await harness.post_livechat(livechat_payload(event_type=event_type))

    assert status == 200
    assert body["status"] == "ignored"
    assert harness.bot.messages == []
    assert harness.fake.posted_messages() == []


@pytest.mark.parametrize(
    "messages",
    [
        [agent_message()],
        [agent_message(username=BOT_USER)],
        [{"_id": "LMSG5", "username": BOT_USER, "msg": "bot reply echoed back"}],
        [{"_id": "LMSG6", "username": "guest-1", "msg": "bye", "closingMessage": True}],
        [{"_id": "LMSG7", "username": "guest-1", "msg": "   "}],
        [{"_id": "LMSG8", "username": "guest-1", "msg": "edited", "editedAt": "2024-05-01T10:01:00Z"}],
        [],
    ],
    ids=["agent", "bot-as-agent", "bot-username", "closing", "blank", "edited", "none"],
)
async def test_livechat_messages_not_from_the_visitor_are_ignored(harness, messages):
    status, body = await harness.post_livechat(livechat_payload(messages=messages))

    assert (status, body["status"]) == (200, "ignored")
    assert harness.bot.messages == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"bot": {"i": "BOTUSERID"}},
        {"bot": True},
        {"user_name": BOT_USER},
        {"user_name": BOT_USER.upper()},
        {"isEdited": True},
        {"text": ""},
    ],
    ids=["bot-object", "bot-true", "bot-username", "bot-username-case", "edited", "empty"],
)
async def test_outgoing_webhook_bot_and_empty_messages_are_ignored(harness, overrides):
    status, body = await harness.post(webhook_payload(**overrides))

    assert (status, body["status"]) == (200, "ignored")
    assert harness.bot.messages == []
    assert message_calls(harness.fake) == []


async def test_message_from_bots_user_id_is_ignored_once_logged_in(harness):
    await harness.post(webhook_payload("first"))
    status, body = await harness.post(webhook_payload("echo", user_name="renamed", user_id="BOTUSERID"))

    assert (status, body["status"]) == (200, "ignored")
    assert [m.text for m in harness.bot.messages] == ["first"]
