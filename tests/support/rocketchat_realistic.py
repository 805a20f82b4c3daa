"""Shared by the tests/test_rocketchat_realistic_*.py files: the fake Rocket.Chat with
Rocket.Chat's re-sends (0.2 s apart), a livechat room and a channel of three, the Sanic
servers with the connector, and delivering a payload then waiting for the turns.
Test modules import the fixtures `fake`, `servers` and `harness` by name."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from tests.support.fake_rocketchat import (
    FakeRocketChat,
)
from tests.support.rocketchat_harness import (
    BOT_PASSWORD,
    BOT_USER,
    LIVECHAT_TOKEN,
    Harness,
    SanicServers,
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
