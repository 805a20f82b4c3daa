"""What a real Rocket.Chat does to the connector, played by the fake
(tests/support/fake_rocketchat.py, which names the Rocket.Chat source of each rule).
The project's own records are real (SQLite per test through `isolated_env`).
This file: exactly one turn per visitor message (re-sent webhooks, replicas, a slow
turn, a database outage), only the bot's rooms (people, edits, closed rooms), and
rate-limit headers.
"""
from __future__ import annotations

import asyncio
import time
from typing import List

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from imago_core.storage import message_dedup
from imago_core.storage.db import session_scope
from imago_core.storage.models import InboundMarker
from tests.support.fake_rocketchat import (
    POST_MESSAGE,
)
from tests.support.rocketchat_harness import (
    LIVECHAT_TOKEN,
    make_client,
)
from tests.support.rocketchat_realistic import CHANNEL, LIVECHAT_ROOM, deliver, texts
from tests.support.rocketchat_realistic import fake, harness, servers  # noqa: F401 - fixtures


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

    monkeypatch.setattr(message_dedup, "claim_once", flaky_claim)

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
