"""Shared by the tests/test_rocketchat_channel_*.py files: the rooms, the two payload
shapes Rocket.Chat posts (outgoing webhook and livechat), and the fixtures that start the
fake Rocket.Chat (tests/support/fake_rocketchat.py) and a Sanic server with the connector.
Test modules import the fixtures `fake`, `start_server` and `harness` by name."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from tests.support.fake_rocketchat import POST_MESSAGE, FakeRocketChat
from tests.support.rocketchat_harness import (
    BOT_PASSWORD,
    BOT_USER,
    WEBHOOK_TOKEN,
    Harness,
    SanicServers,
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
