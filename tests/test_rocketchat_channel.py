"""The RocketChat connector, served by a real Sanic server, talking to the fake Rocket.Chat
(tests/support/fake_rocketchat.py): payload shapes, secrets, what is ignored, replies,
logins and retries. The behaviours a real server forces (re-sends, hand-off refusals,
rooms with several people, rate-limit headers) are in test_rocketchat_realistic.py.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Dict, List, Optional

import pytest
from rasa.shared.exceptions import RasaException
from rasa.shared.utils.common import class_from_module_path

from extensions.channels.rocketchat import (
    RATE_LIMIT_WAIT_CAP,
    RocketChatBot,
    RocketChatClient,
    RocketChatInput,
    room_ref,
)
from tests.support.fake_rocketchat import POST_MESSAGE, ROOM_FORWARD, FakeRocketChat
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

ROOM = "GENERALROOMID"
LIVECHAT_ROOM = "LIVECHATROOMID"
LOGGER = "extensions.channels.rocketchat"
_ids = iter(range(1, 10_000))


def webhook_payload(text: str = "hello", **overrides: Any) -> Dict[str, Any]:
    payload = {
        "token": WEBHOOK_TOKEN,
        "bot": False,
        "channel_id": ROOM,
        "channel_name": "general",
        "message_id": f"MSG{next(_ids)}",
        "timestamp": "2024-05-01T10:00:00.000Z",
        "user_id": "ALICEID",
        "user_name": "alice",
        "text": text,
        "siteUrl": "http://chat.example",
    }
    payload.update(overrides)
    return payload


def livechat_payload(
    text: str = "hi there", event_type: str = "Message", messages: Optional[List] = None
) -> Dict[str, Any]:
    visitor = {
        "_id": "VISITORID",
        "token": "visitor-token",
        "name": "Visitor",
        "username": "guest-1",
        "email": [{"address": "visitor@example.com"}],
    }
    if messages is None:
        messages = [{"_id": f"LMSG{next(_ids)}", "username": "guest-1", "msg": text, "ts": "2024-05-01T10:00:00Z"}]
    return {
        "_id": LIVECHAT_ROOM,
        "label": "Visitor",
        "type": event_type,
        "visitor": visitor,
        "agent": {"_id": "BOTUSERID", "username": BOT_USER},
        "messages": messages,
    }


def agent_message(text: str = "an agent speaks", username: str = "bob") -> Dict[str, Any]:
    return {"_id": f"LMSG{next(_ids)}", "username": username, "msg": text, "agentId": "BOBID"}


@pytest.fixture
def fake():
    with FakeRocketChat(user=BOT_USER, password=BOT_PASSWORD) as server:
        server.add_user("ALICEID", "alice")
        server.add_channel(ROOM, ["ALICEID", "BOBID", "BOTUSERID"])
        yield server


@pytest.fixture
async def start_server(fake, isolated_env, monkeypatch):
    """Starts a Sanic app serving the connector; keyword args configure the channel."""
    from sanic import Sanic

    # Sanic 21.12 rewrites some of its own methods at the first app start; test mode
    # keeps the originals so that each test can start a fresh app (as sanic_testing does).
    monkeypatch.setattr(Sanic, "test_mode", True)
    servers = SanicServers()

    async def start(**channel_config: Any) -> Harness:
        return await servers.start(fake, **channel_config)

    yield start
    await servers.close()


@pytest.fixture
async def harness(start_server) -> Harness:
    return await start_server()


def message_calls(fake: FakeRocketChat):
    return fake.calls(POST_MESSAGE)


def our_log_text(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == LOGGER)


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


# -- replies -----------------------------------------------------------------------


async def test_buttons_become_rocketchat_action_buttons(harness):
    harness.bot.reply = lambda m: {
        "text": "Which request?",
        "buttons": [
            {"title": "See my data", "payload": "/request_access"},
            {"title": "Delete my data", "payload": "/request_erasure"},
        ],
    }
    await harness.post(webhook_payload("I want to make a request"))

    assert harness.fake.posted_messages() == [
        {
            "roomId": ROOM,
            "text": "Which request?",
            "attachments": [
                {
                    "actions": [
                        {"type": "button", "text": "See my data", "msg": "/request_access", "msg_in_chat_window": True},
                        {"type": "button", "text": "Delete my data", "msg": "/request_erasure", "msg_in_chat_window": True},
                    ]
                }
            ],
        }
    ]


async def test_paragraphs_are_sent_as_separate_messages(harness):
    harness.bot.reply = lambda m: {"text": "First part.\n\nSecond part."}
    await harness.post(webhook_payload())

    assert [b["text"] for b in harness.fake.posted_messages()] == ["First part.", "Second part."]


async def test_login_happens_once_for_several_messages(harness):
    for n in range(3):
        await harness.post(webhook_payload(f"message {n}"))
    await harness.post_livechat(livechat_payload("livechat message"))

    assert harness.fake.login_count() == 1  # the startup check's login, shared
    assert len(harness.fake.posted_messages()) == 4
    tokens = {r.headers["x-auth-token"] for r in harness.fake.calls(POST_MESSAGE)}
    assert len(tokens) == 1


async def test_expired_token_triggers_one_relogin_and_delivers(harness):
    await harness.post(webhook_payload("before expiry"))
    harness.fake.fail_next_post_messages(1, 401)

    status, _ = await harness.post(webhook_payload("after expiry"))

    assert status == 200
    assert harness.fake.login_count() == 2
    assert [b["text"] for b in harness.fake.posted_messages()] == ["echo: before expiry", "echo: after expiry"]


async def test_token_refused_twice_gives_up_after_one_relogin(harness, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    harness.fake.fail_next_post_messages(2, 401)

    status, _ = await harness.post(webhook_payload("secret stuff"))

    assert status == 200
    assert harness.fake.login_count() == 2
    assert len(harness.fake.calls(POST_MESSAGE)) == 2
    assert harness.fake.posted_messages() == []
    assert "status 401" in our_log_text(caplog)


async def test_concurrent_replies_with_expired_token_log_in_once(fake):
    client = make_client(fake, [])
    try:
        assert await client.post_message(ROOM, {"text": "warm up"})
        fake.fail_next_post_messages(3, 401)
        results = await asyncio.gather(*(client.post_message(ROOM, {"text": f"m{n}"}) for n in range(3)))
    finally:
        await client.close()

    assert results == [True, True, True]
    assert fake.login_count() == 2


async def test_failed_login_is_logged_and_next_message_logs_in(harness, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    harness.fake.expire_all_tokens()
    harness.fake.fail_next_login(401)

    status, _ = await harness.post_livechat(livechat_payload("first try"))
    assert status == 200
    assert harness.fake.posted_messages() == []
    assert "login failed (status 401)" in our_log_text(caplog)

    await harness.post_livechat(livechat_payload("second try"))
    assert harness.fake.login_count() == 3  # startup, the refused one, the new one
    assert [b["text"] for b in harness.fake.posted_messages()] == ["echo: second try"]


async def test_429_waits_retry_after_and_delivers(harness):
    harness.fake.fail_next_post_messages(1, 429, retry_after="2")

    await harness.post(webhook_payload("rate limited"))

    assert [b["text"] for b in harness.fake.posted_messages()] == ["echo: rate limited"]
    assert len(harness.fake.calls(POST_MESSAGE)) == 2
    assert harness.delays == [2.0]


async def test_long_retry_after_is_capped(harness):
    harness.fake.fail_next_post_messages(1, 429, retry_after="3600")

    await harness.post(webhook_payload("rate limited"))

    assert harness.delays == [RATE_LIMIT_WAIT_CAP]
    assert len(harness.fake.posted_messages()) == 1


async def test_5xx_is_retried_with_backoff_and_delivered(harness):
    harness.fake.fail_next_post_messages(1, 500)
    harness.fake.fail_next_post_messages(1, 503)

    await harness.post(webhook_payload("server hiccup"))

    assert [b["text"] for b in harness.fake.posted_messages()] == ["echo: server hiccup"]
    assert len(harness.fake.calls(POST_MESSAGE)) == 3
    assert harness.delays == [0.5, 1.0]


async def test_persistent_500_gives_up_and_logs_without_personal_data(harness, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    harness.fake.fail_next_post_messages(3, 500)

    status, body = await harness.post(webhook_payload("my passport number is X123"))

    assert (status, body) == (200, {"status": "accepted"})
    assert len(harness.fake.calls(POST_MESSAGE)) == 3
    assert harness.fake.posted_messages() == []
    errors = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert errors == [f"RocketChat chat.postMessage failed for room {room_ref(ROOM)} (status 500: fake error 500)"]
    logged = our_log_text(caplog)
    assert "X123" not in logged and "passport" not in logged
    assert ROOM not in logged and "alice" not in logged


async def test_unreachable_server_is_retried_then_logged(caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    delays: List[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    client = RocketChatClient(BOT_USER, BOT_PASSWORD, dead_url, timeout=2, sleep=record_sleep)
    try:
        assert await client.post_message(ROOM, {"text": "hello"}) is False
    finally:
        await client.close()
    assert delays == [0.5, 1.0]
    assert "login failed (status None)" in our_log_text(caplog)


async def test_timeout_is_not_repeated(fake, caplog):
    # The server may post a message it answered too late: repeating it would send it twice.
    delays: List[float] = []
    client = make_client(fake, delays, timeout=0.3)
    try:
        assert await client.post_message(ROOM, {"text": "warm up"})
        fake.slow_next(POST_MESSAGE, 1.0)
        assert await client.post_message(ROOM, {"text": "slow"}) is False
    finally:
        await client.close()

    assert delays == []  # no retry was scheduled
    calls = await asyncio.to_thread(fake.wait_for_calls, POST_MESSAGE, 2)
    assert [c.body["text"] for c in calls] == ["warm up", "slow"]
    assert "timed out" in our_log_text(caplog)
    assert "(no answer)" in our_log_text(caplog)


async def test_custom_json_is_posted_as_a_message_body(harness):
    harness.bot.reply = lambda m: {"custom": {"text": "See attached", "attachments": [{"title": "Policy"}]}}
    await harness.post(webhook_payload())

    assert harness.fake.posted_messages() == [
        {"text": "See attached", "attachments": [{"title": "Policy"}], "roomId": ROOM}
    ]


# -- replies are what Rocket.Chat's chat.postMessage schema accepts ---------------------


async def test_custom_json_unknown_keys_are_dropped_not_sent(harness, caplog):
    harness.bot.reply = lambda m: {"custom": {"text": "hi", "blocks": [], "imago_internal": 1}}
    await harness.post(webhook_payload())

    [call] = message_calls(harness.fake)
    assert call.status == 200
    assert call.body == {"text": "hi", "roomId": ROOM}
    assert "dropped keys Rocket.Chat refuses: blocks, imago_internal" in our_log_text(caplog)


async def test_custom_json_with_channel_sends_no_room_id(harness):
    harness.bot.reply = lambda m: {"custom": {"channel": "#privacy", "text": "to the channel"}}
    await harness.post(webhook_payload())

    [call] = message_calls(harness.fake)
    assert (call.status, call.body) == (200, {"channel": "#privacy", "text": "to the channel"})


def test_fake_refuses_what_real_rocketchat_refuses(fake):
    # The fake's schema check is what makes the two tests above meaningful.
    import requests

    token = fake.personal_access_token()
    headers = {"X-Auth-Token": token, "X-User-Id": fake.bot_user_id}
    for body in ({"roomId": ROOM, "channel": "#x", "text": "both"}, {"roomId": ROOM, "text": "x", "extra": 1},
                 {"text": "no room"}, {"channel": "#x", "tmid": "T1", "text": "tmid needs roomId"}):
        answer = requests.post(f"{fake.url}{POST_MESSAGE}", json=body, headers=headers, timeout=5)
        assert answer.status_code == 400, body
        assert answer.json()["errorType"] == "invalid-params"


# -- hand-off basics (refusals and escalation: test_rocketchat_realistic.py) ---------------


async def test_forward_to_department_calls_room_forward(harness):
    harness.fake.grant("transfer-livechat-guest", ["livechat-manager", "livechat-monitor", "admin", "bot"])
    harness.fake.add_user("AGENTID", "agent-anna", ["user", "livechat-agent"])
    harness.fake.add_department(DEPARTMENT, ["AGENTID"])
    harness.fake.add_livechat_room(LIVECHAT_ROOM)
    output = harness.channel.get_output_channel()
    assert isinstance(output, RocketChatBot)

    moved = await output.forward_to_department(LIVECHAT_ROOM, "Visitor asked for a person")

    assert moved is True
    assert harness.fake.forwards() == [
        {"roomId": LIVECHAT_ROOM, "departmentId": DEPARTMENT, "comment": "Visitor asked for a person"}
    ]
    [call] = harness.fake.calls(ROOM_FORWARD)
    assert call.headers["x-user-id"] == "BOTUSERID"
    assert harness.fake.rooms[LIVECHAT_ROOM].served_by == "AGENTID"


async def test_forward_to_department_reports_refusal(harness):
    harness.fake.add_livechat_room(LIVECHAT_ROOM)
    output = harness.channel.get_output_channel()

    # The bot has the default roles: no transfer-livechat-guest, so Rocket.Chat says 403.
    assert await output.forward_to_department(LIVECHAT_ROOM, "please") is False
    assert [c.status for c in harness.fake.calls(ROOM_FORWARD)] == [403]


async def test_forward_without_department_configured_does_nothing(start_server):
    harness = await start_server(handoff_department_id=None)

    moved = await harness.channel.get_output_channel().forward_to_department(LIVECHAT_ROOM, "please")

    assert moved is False
    assert harness.fake.calls(ROOM_FORWARD) == []


# -- configuration -----------------------------------------------------------------


def test_personal_access_token_replaces_the_password():
    channel = RocketChatInput.from_credentials({"user": BOT_USER, "server_url": "http://chat.example",
                                                "auth_token": "pat", "user_id": "BOTUSERID",
                                                "livechat_token": LIVECHAT_TOKEN})
    assert channel.client.uses_personal_token
    assert channel.client.bot_user_id == "BOTUSERID"


def test_rasa_builds_channel_from_credentials_yml_block():
    # What rasa.core.run does with a credentials.yml key that is not a built-in channel
    # (importing rasa.core.run itself would load TensorFlow).
    channel_class = class_from_module_path("extensions.channels.rocketchat.RocketChatInput")
    channel = channel_class.from_credentials(
        {
            "user": BOT_USER,
            "password": BOT_PASSWORD,
            "server_url": "http://chat.example/",
            "webhook_token": WEBHOOK_TOKEN,
            "livechat_token": LIVECHAT_TOKEN,
            "handoff_department_id": DEPARTMENT,
            "timeout": 7,
        },
    )

    assert isinstance(channel, RocketChatInput)
    assert channel.name() == "rocketchat"
    assert channel.url_prefix() == "rocketchat"
    assert channel.client.server_url == "http://chat.example"
    assert channel.client.timeout == 7.0
    assert channel.get_output_channel().handoff_department_id == DEPARTMENT


def test_missing_server_credentials_are_reported():
    with pytest.raises(RasaException):
        RocketChatInput.from_credentials({"user": BOT_USER, "password": BOT_PASSWORD})
    with pytest.raises(RasaException):
        RocketChatInput.from_credentials(None)
