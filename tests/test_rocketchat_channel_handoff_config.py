"""The RocketChat connector, served by a real Sanic server, talking to the fake Rocket.Chat
(tests/support/fake_rocketchat.py). The behaviours a real server forces (re-sends, hand-off
refusals, rooms with several people, rate-limit headers) are in test_rocketchat_realistic_*.py.
This file: hand-off basics (refusals and escalation: test_rocketchat_realistic_handoff.py)
and the channel's configuration (tokens, credentials.yml, missing credentials).
"""
from __future__ import annotations


import pytest
from rasa.shared.exceptions import RasaException
from rasa.shared.utils.common import class_from_module_path

from extensions.channels.rocketchat import (
    RocketChatBot,
    RocketChatInput,
)
from tests.support.fake_rocketchat import ROOM_FORWARD
from tests.support.rocketchat_harness import (
    BOT_PASSWORD,
    BOT_USER,
    DEPARTMENT,
    LIVECHAT_TOKEN,
    WEBHOOK_TOKEN,
)
from tests.support.rocketchat_channel import (
    LIVECHAT_ROOM,
)
from tests.support.rocketchat_channel import fake, harness, start_server  # noqa: F401 - fixtures


# -- hand-off basics (refusals and escalation: test_rocketchat_realistic_handoff.py) ---------------


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
