"""Issue 21, section 2: RocketChat failures as the real server produces them, played by the
stand-in (tests/support/fake_rocketchat.py names the Rocket.Chat file of each rule):
- an unexpected error must answer 503 with a body, the one answer the outgoing webhook's
  retry rule re-sends (triggerHandler.ts), where Sanic's 500 would lose the message;
- a closed livechat room has no `open` field at all (LivechatRooms.closeRoomById);
- after a forward the bot is out of the room: a staff-console reply is refused and the
  console must say so; a room handed back to the bot must get answers again.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

import pytest
from rasa.shared.core.events import BotUttered

from extensions.channels.staff import StaffAuth, StaffConsoleInput
from imago_core.storage import message_dedup
from imago_core.handoff.escalations import create_escalation, get_escalation
from imago_core.storage.models import EscalationStatus
from tests.support.fake_rocketchat import POST_MESSAGE, ROOM_FORWARD, ROOMS_INFO, FakeRocketChat
from tests.support.rocketchat_harness import (
    BOT_PASSWORD,
    BOT_USER,
    DEPARTMENT,
    LIVECHAT_TOKEN,
    WEBHOOK_TOKEN,
    SanicServers,
)

LIVECHAT_ROOM = "LIVECHATROOM1"
CHANNEL = "GENERALROOMID"
STAFF_TOKEN = "s" * 40


@pytest.fixture
def fake():
    # Rocket.Chat's own 5 s timeout: a loaded test machine must not turn a slow answer into a re-send.
    with FakeRocketChat(user=BOT_USER, password=BOT_PASSWORD, http_timeout=5.0, resend_interval=0.2) as server:
        server.add_user("ALICEID", "alice")
        server.add_user("AGENTID", "agent-anna", ["user", "livechat-agent"])
        server.add_channel(CHANNEL, ["ALICEID", server.bot_user_id])
        server.add_livechat_room(LIVECHAT_ROOM)
        yield server


@pytest.fixture
async def servers(isolated_env, monkeypatch):
    from sanic import Sanic

    monkeypatch.setattr(Sanic, "test_mode", True)
    started = SanicServers()
    yield started
    await started.close()


def texts(fake: FakeRocketChat, room: str) -> List[str]:
    return [body.get("text") for body in fake.posted_messages(room)]


# -- 1. any failure answers 503 with a body --------------------------------------------------


@contextlib.contextmanager
def database_failing_once(monkeypatch, error: BaseException, after: int = 0):
    """The marker database raises `error` (not a SQLAlchemy error) once, after `after` claims."""
    real_scope, calls = message_dedup.session_scope, [0]

    @contextlib.contextmanager
    def flaky_scope():
        calls[0] += 1
        if calls[0] == after + 1:
            raise error
        with real_scope() as session:
            yield session

    monkeypatch.setattr(message_dedup, "session_scope", flaky_scope)
    yield


async def test_unexpected_error_answers_503_and_the_outgoing_webhook_resends_it(servers, fake, monkeypatch):
    harness = await servers.start(fake)
    waits: List[float] = []
    payload = fake.outgoing_message(CHANNEL, "ALICEID", "what do you keep about me?", WEBHOOK_TOKEN)

    with database_failing_once(monkeypatch, OSError(28, "No space left on device")):
        delivery = await asyncio.to_thread(fake.send_outgoing, harness.webhook_url, payload, sleep=waits.append)
    await harness.channel.wait_for_turns()

    # Before: Sanic's 500 with a body, which triggerHandler.ts gives up at once: message lost.
    assert delivery.attempts == [503, 200]
    assert waits == [0.1]  # 'powers-of-ten': the first retry after 100 ms
    assert [m.text for m in harness.bot.messages] == ["what do you keep about me?"]


async def test_unexpected_error_on_the_omnichannel_webhook_is_resent_too(servers, fake, monkeypatch, caplog):
    harness = await servers.start(fake)
    payload = fake.livechat_message(LIVECHAT_ROOM, "my email is alice@example.org")

    with database_failing_once(monkeypatch, RuntimeError(f"could not store {payload}")):
        delivery = await asyncio.to_thread(fake.send_livechat, harness.webhook_url, payload, LIVECHAT_TOKEN)
    await harness.channel.wait_for_turns()

    assert delivery.attempts == [503, 200]
    assert [m.text for m in harness.bot.messages] == ["my email is alice@example.org"]
    assert "alice@example.org" not in caplog.text  # the error's text (it quotes the payload) is not logged
    assert "RuntimeError" in caplog.text


async def test_messages_claimed_before_a_failure_run_and_the_rest_come_with_the_resend(servers, fake, monkeypatch):
    harness = await servers.start(fake)
    payload = fake.livechat_message(LIVECHAT_ROOM, "first")
    second = dict(payload["messages"][0], _id="LMSG-SECOND", msg="second")
    payload["messages"].append(second)  # sendToCRM.ts sends the room's new messages as a list

    # claims: was_claimed(closed room) is a read, then "first", then "second" fails
    with database_failing_once(monkeypatch, ConnectionResetError("db connection reset"), after=2):
        delivery = await asyncio.to_thread(fake.send_livechat, harness.webhook_url, payload, LIVECHAT_TOKEN)
    await harness.channel.wait_for_turns()

    assert delivery.attempts == [503, 200]
    assert sorted(m.text for m in harness.bot.messages) == ["first", "second"]  # each once


class _Answers(BaseHTTPRequestHandler):
    """Answers each POST with the next (status, body) of the server's script."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.script.pop(0) if self.server.script else (200, '{"ok": true}')
        raw = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def scripted_receiver(script):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.script = list(script)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("script, attempts, disabled", [
    ([(500, '{"error": "boom"}')], [500], False),  # a 500 with a body: given up at once
    ([(410, '{"error": "gone"}')], [410], True),  # a 410 with a body: the integration is disabled
    ([(503, '{"e": 1}'), (429, '{"e": 1}'), (201, '{"ok": 1}')], [503, 429, 201], False),
    ([(200, ""), (200, '{"ok": 1}')], [200, 200], False),  # no body: retried, even a 200
    ([(503, '{"e": 1}')] * 7, [503] * 7, False),  # 6 retries, then too-many-retries
])
def test_stand_in_follows_the_outgoing_webhook_retry_rule(fake, script, attempts, disabled):
    # The stand-in's own rule (triggerHandler.ts executeTriggerUrl), not the Omnichannel one.
    waits: List[float] = []
    with scripted_receiver(script) as url:
        delivery = fake.send_outgoing(url, {"text": "hi"}, sleep=waits.append)
    assert delivery.attempts == attempts
    assert delivery.integration_disabled is disabled
    assert waits == [10 ** (n + 2) / 1000 for n in range(len(attempts) - 1)]


def test_stand_in_does_not_retry_an_outgoing_webhook_nobody_answers(fake):
    # A refused connection lands in the fetch's .catch: logged, never retried.
    delivery = fake.send_outgoing("http://127.0.0.1:9/", {"text": "hi"}, sleep=lambda _: None)
    assert delivery.attempts == [None]


# -- 2. closed livechat rooms -------------------------------------------------------------------


def handoff_reply(reference: str):
    def reply(_message):  # what action_handoff sends in a livechat room
        return {"custom": {"imago_handoff": {"escalation": reference, "connecting_text": "Connecting you now.",
                                             "fallback_text": f"No live agent; the team has {reference}."}}}
    return reply


def escalate(room: str) -> str:
    events = [{"event": "user", "text": "a person please"}]
    return create_escalation(f"rc:{room}", "rocketchat", "asked", events, None).reference


async def test_a_closed_room_is_closed_although_rooms_info_has_no_open_field(servers, fake):
    fake.grant("transfer-livechat-guest", ["admin", "bot"])
    fake.add_department(DEPARTMENT, ["AGENTID"])
    harness = await servers.start(fake)
    reference = escalate(LIVECHAT_ROOM)
    fake.close_room(LIVECHAT_ROOM)  # closeRoomById: closedAt set, `open` removed (never false)
    output = harness.channel.get_output_channel()

    forwarded = await output.hand_off(f"rc:{LIVECHAT_ROOM}", {"escalation": reference})

    info = fake.calls(ROOMS_INFO)[-1]
    assert info.status == 200
    assert forwarded is False
    assert fake.calls(ROOM_FORWARD) == []  # before: asked for, as if the room were open
    assert texts(fake, LIVECHAT_ROOM) == []  # nobody is there: no "connecting you" either
    assert get_escalation(reference).status == EscalationStatus.WAITING


def test_stand_in_closes_rooms_as_rocketchat_does(fake):
    import requests

    fake.close_room(LIVECHAT_ROOM)
    token = fake.personal_access_token()
    room = requests.get(f"{fake.url}/api/v1/rooms.info", params={"roomId": LIVECHAT_ROOM}, timeout=5,
                        headers={"X-Auth-Token": token, "X-User-Id": fake.bot_user_id}).json()["room"]
    assert "open" not in room and room["closedAt"]


# -- 3. after a forward: staff replies that fail, and the room handed back -----------------------


async def forwarded_room(servers, fake, extra_channels=()):
    """A livechat room the bot forwarded to the hand-off department (Anna serves it now)."""
    fake.grant("transfer-livechat-guest", ["admin", "bot"])
    fake.add_department(DEPARTMENT, ["AGENTID"])
    harness = await servers.start(fake, extra_channels=list(extra_channels))
    reference = escalate(LIVECHAT_ROOM)
    harness.bot.reply = handoff_reply(reference)
    harness.bot.pause_after_reply = True  # action_handoff ends with ConversationPaused
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "I want a person"))
    assert get_escalation(reference).status == EscalationStatus.FORWARDED
    assert fake.rooms[LIVECHAT_ROOM].served_by == "AGENTID"
    harness.bot.pause_after_reply = False
    harness.bot.reply = lambda m: {"text": f"echo: {m.text}"}
    return harness, reference


async def deliver(fake: FakeRocketChat, harness, payload: Dict[str, Any]):
    delivery = await asyncio.to_thread(fake.send_livechat, harness.webhook_url, payload, LIVECHAT_TOKEN)
    await harness.channel.wait_for_turns()
    return delivery


# A staff reply reaches the visitor labelled as the privacy team's, with the staff member's name.
LABELLED_REPLY = "**Maria, IMAGO privacy team:** Hello, this is Maria."


async def test_staff_reply_into_a_forwarded_room_is_reported_as_not_delivered(servers, fake):
    staff = StaffConsoleInput(StaffAuth({STAFF_TOKEN: "maria"}))
    harness, reference = await forwarded_room(servers, fake, [staff])

    async with harness.http.post(f"{harness.url}/webhooks/staff/api/escalations/{reference}/reply",
                                 json={"text": "Hello, this is Maria."},
                                 headers={"Authorization": f"Bearer {STAFF_TOKEN}"}) as resp:
        answer = resp.status, await resp.json()

    refused = [c for c in fake.calls(POST_MESSAGE) if c.body.get("text") == LABELLED_REPLY]
    assert [c.status for c in refused] == [400]  # the bot no longer serves the room: error-not-allowed
    assert answer == (200, {"ok": True, "delivered_live": False})  # before: delivered_live True
    tracker = await harness.bot.tracker_store.retrieve(f"rc:{LIVECHAT_ROOM}")
    assert [e.text for e in tracker.events if isinstance(e, BotUttered)][-1] == LABELLED_REPLY


async def test_staff_reply_the_room_accepts_is_delivered_live(servers, fake):
    staff = StaffConsoleInput(StaffAuth({STAFF_TOKEN: "maria"}))
    harness = await servers.start(fake, extra_channels=[staff])
    reference = escalate(LIVECHAT_ROOM)  # the forward never happened: the bot still serves the room

    async with harness.http.post(f"{harness.url}/webhooks/staff/api/escalations/{reference}/reply",
                                 json={"text": "Hello, this is Maria."},
                                 headers={"Authorization": f"Bearer {STAFF_TOKEN}"}) as resp:
        assert json.loads(await resp.text()) == {"ok": True, "delivered_live": True}
    assert texts(fake, LIVECHAT_ROOM) == [LABELLED_REPLY]


async def test_room_handed_back_to_the_bot_gets_answers_again(servers, fake):
    harness, reference = await forwarded_room(servers, fake)

    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "still there, Anna?"))
    assert [m.text for m in harness.bot.messages] == ["I want a person"]  # Anna's room: not the bot's

    fake.forward_to_agent(LIVECHAT_ROOM, fake.bot_user_id)  # Anna forwards the chat back to the bot
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "what data do you keep?"))

    assert texts(fake, LIVECHAT_ROOM)[-1] == "echo: what data do you keep?"  # before: silence, paused
    assert get_escalation(reference).status == EscalationStatus.HANDED_BACK
    tracker = await harness.bot.tracker_store.retrieve(f"rc:{LIVECHAT_ROOM}")
    assert not tracker.is_paused()


async def test_hand_back_after_a_staff_reply_nobody_saw_still_resumes(servers, fake):
    staff = StaffConsoleInput(StaffAuth({STAFF_TOKEN: "maria"}))
    harness, reference = await forwarded_room(servers, fake, [staff])
    async with harness.http.post(f"{harness.url}/webhooks/staff/api/escalations/{reference}/reply",
                                 json={"text": "Hello, this is Maria."},
                                 headers={"Authorization": f"Bearer {STAFF_TOKEN}"}) as resp:
        assert (await resp.json())["delivered_live"] is False
    assert get_escalation(reference).status == EscalationStatus.FORWARDED  # not "with staff": nobody saw it

    fake.forward_to_agent(LIVECHAT_ROOM, fake.bot_user_id)
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "hello again"))

    assert texts(fake, LIVECHAT_ROOM)[-1] == "echo: hello again"


async def test_refused_forward_keeps_the_conversation_paused_for_the_staff_console(servers, fake):
    # The bot never left the room: its next message must not wake the bot up.
    harness = await servers.start(fake)  # the bot lacks transfer-livechat-guest: no forward
    reference = escalate(LIVECHAT_ROOM)
    harness.bot.reply = handoff_reply(reference)
    harness.bot.pause_after_reply = True
    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "I want a person"))
    harness.bot.reply = lambda m: {"text": f"echo: {m.text}"}

    await deliver(fake, harness, fake.livechat_message(LIVECHAT_ROOM, "hello?"))

    assert get_escalation(reference).status == EscalationStatus.WAITING
    assert not any(t.startswith("echo:") for t in texts(fake, LIVECHAT_ROOM))


# -- 4. deploy/README.md says which Rocket.Chat code the re-send rules come from ------------------


def test_deploy_readme_names_the_rocketchat_code_whose_resend_rules_were_read():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "deploy" / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split("### Re-sends", 1)[1].split("\n## ", 1)[0].split())
    for needed in ("webhooks.ts", "028b96fb", "triggerHandler.ts", "005c99bc", "7.x",
                   "**500 with a body is given up**", "**410 disables the integration**", "10 times, 10 s apart"):
        assert needed in section, needed
