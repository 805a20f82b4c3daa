"""The RocketChat connector, served by a real Sanic server, talking to the fake Rocket.Chat
(tests/support/fake_rocketchat.py). The behaviours a real server forces (re-sends, hand-off
refusals, rooms with several people, rate-limit headers) are in test_rocketchat_realistic_*.py.
This file: replies (buttons, paragraphs, custom JSON), logins and re-logins, retries
on 429, 5xx, timeouts and an unreachable server, and the chat.postMessage schema.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import List


from extensions.channels.rocketchat import (
    RATE_LIMIT_WAIT_CAP,
    RocketChatClient,
    room_ref,
)
from tests.support.fake_rocketchat import POST_MESSAGE
from tests.support.rocketchat_harness import (
    BOT_PASSWORD,
    BOT_USER,
    make_client,
)
from tests.support.rocketchat_channel import (
    LOGGER,
    ROOM,
    livechat_payload,
    message_calls,
    our_log_text,
    webhook_payload,
)
from tests.support.rocketchat_channel import fake, harness, start_server  # noqa: F401 - fixtures


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
