"""The RocketChat connector inside the real Rasa server, with the real action server
and database, talking to the fake Rocket.Chat: re-sent webhooks, a room with two
people, and a livechat hand-off that Rocket.Chat refuses."""
from __future__ import annotations

import time
from typing import List

import pytest
import requests

from tests.support.fake_rocketchat import IM_CREATE, POST_MESSAGE, ROOM_FORWARD, FakeRocketChat
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
STAFF_TOKEN = "staff-token-for-tests-0123456789"
WEBHOOK_TOKEN, LIVECHAT_TOKEN = "outgoing-secret", "livechat-secret"
CHANNEL = "GENERALROOMID"


@pytest.fixture(scope="module")
def fake():
    with FakeRocketChat(http_timeout=5.0, resend_interval=0.2) as server:
        server.add_user("ALICEID", "alice")
        server.add_user("BOBID", "bob")
        server.add_channel(CHANNEL, ["ALICEID", "BOBID", server.bot_user_id])
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server, fake):
    workdir = tmp_path_factory.mktemp("rocketchat-e2e")
    credentials = workdir / "credentials.yml"
    credentials.write_text(
        "extensions.channels.staff.StaffConsoleInput:\n"
        "extensions.channels.rocketchat.RocketChatInput:\n"
        f"  user: {fake.user}\n  password: {fake.password}\n  server_url: {fake.url}\n"
        f"  webhook_token: {WEBHOOK_TOKEN}\n  livechat_token: {LIVECHAT_TOKEN}\n"
        "  handoff_department_id: privacy-team\n  timeout: 5\n")
    running = Stack(workdir, env_overrides=dict(smtp_server.env(), STAFF_TOKEN=STAFF_TOKEN),
                    credentials=credentials).start()
    yield running
    running.stop()


def webhook(stack: Stack) -> str:
    return f"{stack.url}/webhooks/rocketchat/webhook"


def wait_for_texts(fake: FakeRocketChat, room: str, count: int, timeout: float = 60) -> List[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = [b.get("text") for b in fake.posted_messages(room)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def say(fake: FakeRocketChat, stack: Stack, room: str, user: str, text: str) -> None:
    answer = requests.post(webhook(stack), json=fake.outgoing_message(room, user, text, WEBHOOK_TOKEN), timeout=10)
    assert answer.status_code == 200


def settled_texts(fake: FakeRocketChat, room: str, quiet: float = 2.0, timeout: float = 60) -> List[str]:
    """The room's bot texts once nothing new has come for `quiet` seconds."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        found = [b.get("text") for b in fake.posted_messages(room)]
        if found != last:
            last, since = found, time.monotonic()
        elif found and time.monotonic() - since >= quiet:
            return found
        time.sleep(0.2)
    return last or []


def test_five_resends_make_one_reply(stack, fake):
    fake.add_livechat_room("LIVE1", visitor_username="guest-1", visitor_id="V1")
    payload = fake.livechat_message("LIVE1", "what is a cookie?")

    first = fake.send_livechat(webhook(stack), payload, LIVECHAT_TOKEN)
    one_turn = settled_texts(fake, "LIVE1")
    resent = [fake.send_livechat(webhook(stack), payload, LIVECHAT_TOKEN) for _ in range(4)]

    assert [d.attempts for d in [first, *resent]] == [[200]] * 5
    assert one_turn and settled_texts(fake, "LIVE1") == one_turn  # the re-sends added nothing


def test_two_people_in_a_room_each_continue_privately(stack, fake):
    say(fake, stack, CHANNEL, "ALICEID", "delete my data")
    say(fake, stack, CHANNEL, "BOBID", "delete my data")

    shared = wait_for_texts(fake, CHANNEL, 2)
    assert len(shared) == 2 and all("direct message" in t for t in shared)
    assert sorted(c.body["username"] for c in fake.calls(IM_CREATE)) == ["alice", "bob"]
    alice_dm = "".join(sorted([fake.bot_user_id, "ALICEID"]))
    wait_for_texts(fake, alice_dm, 1)  # posted just after the channel's message: under load, a moment later
    [opening] = fake.posted_messages(alice_dm)
    assert opening["attachments"][0]["actions"][0]["msg"] == "/request_deletion"

    say(fake, stack, alice_dm, "ALICEID", "/request_deletion")  # Alice presses the button

    in_dm = wait_for_texts(fake, alice_dm, 3)
    assert any("email address" in t for t in in_dm[1:])  # asked in private
    time.sleep(1)
    assert not any("What is your email address" in t for t in wait_for_texts(fake, CHANNEL, 0, timeout=0))


def test_refused_handoff_leaves_an_escalation_for_staff_and_tells_the_truth(stack, fake):
    fake.add_livechat_room("LIVE2", visitor_username="guest-2", visitor_id="V2")

    fake.send_livechat(webhook(stack), fake.livechat_message("LIVE2", "talk to a human"), LIVECHAT_TOKEN)

    [text] = wait_for_texts(fake, "LIVE2", 1)
    assert "couldn't connect you to a live agent" in text and "ESC-" in text
    assert fake.calls(ROOM_FORWARD) == []  # the startup check found the missing permission
    listed = requests.get(f"{stack.url}/webhooks/staff/api/escalations",
                          headers={"Authorization": f"Bearer {STAFF_TOKEN}"}, timeout=30).json()["escalations"]
    [mine] = [e for e in listed if e["conversation_id"] == "rc:LIVE2"]
    assert mine["status"] == "waiting" and mine["channel"] == "rocketchat"
    assert all(c.status == 200 for c in fake.calls(POST_MESSAGE))  # every reply met the strict schema
