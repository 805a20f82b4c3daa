"""Issue 21 (a) through the real Rasa and action servers: a re-sent message (same client
message id) is not a second turn and gets the reply it had, over REST and socket.io.

Before the change the channels ignored the id: the re-sent address was a second turn
(a second code mailed, "I've sent a 6-digit code" again) and the tracker held it twice."""
from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support.stack import reply_text
from tests.support.widget_client import WidgetClient

pytestmark = pytest.mark.e2e


def user_turns(assistant, conversation_id: str) -> int:
    engine = create_engine(f"sqlite:///{assistant.workdir / 'tracker.db'}")
    with engine.connect() as connection:
        count = connection.execute(text("select count(*) from events where sender_id = :s and type_name = 'user'"),
                                   {"s": conversation_id}).scalar_one()
    engine.dispose()
    return count


def rest(assistant, sender: str, message: str, message_id: str):
    import requests

    answer = requests.post(f"{assistant.url}/webhooks/rest/webhook", timeout=60,
                           json={"sender": sender, "message": message, "message_id": message_id})
    answer.raise_for_status()
    return answer.json()


def test_a_re_sent_rest_message_gets_its_reply_and_is_not_a_second_turn(assistant, smtp):
    sender, address = f"resend-{uuid.uuid4().hex[:8]}", f"resend.{uuid.uuid4().hex[:8]}@example.org"
    assert "email address" in reply_text(rest(assistant, sender, "I want a copy of all my data", "m1"))
    first = rest(assistant, sender, address, "m2")
    assert "6-digit code" in reply_text(first)
    again = rest(assistant, sender, address, "m2")  # the answer was lost; the client sends it again
    assert again == first
    assert len(smtp.code_mails_to(address)) == 1  # no second code: no second turn
    assert user_turns(assistant, "rest:" + sender) == 2
    # A new message (new id) with the same text is a new turn, as before.
    rest(assistant, sender, address, "m3")
    assert user_turns(assistant, "rest:" + sender) == 3


def test_a_re_sent_socketio_message_gets_its_reply_and_is_not_a_second_turn(assistant, smtp):
    address = f"resend.{uuid.uuid4().hex[:8]}@example.org"
    client = WidgetClient(assistant.url).connect()
    done = []
    client.sio.on("reply_done", lambda data: done.append(data.get("message_id")))
    conversation_id = "web:" + client.session_id.split(".", 1)[0]

    def send(message: str, message_id: str) -> list:
        start = len(client.replies)
        client.sio.emit("user_uttered", {"message": message, "session_id": client.session_id,
                                         "message_id": message_id})
        deadline = time.monotonic() + 60
        while message_id not in done and time.monotonic() < deadline:
            time.sleep(0.1)
        assert message_id in done, "no reply_done"
        done.remove(message_id)
        return [r for r in client.replies[start:] if r.get("in_reply_to") == message_id]

    try:
        assert any("email address" in (r.get("text") or "") for r in send("I want a copy of all my data", "s1"))
        first = send(address, "s2")
        assert any("6-digit code" in (r.get("text") or "") for r in first)
        again = send(address, "s2")
        assert [r.get("text") for r in again] == [r.get("text") for r in first]
        assert len(smtp.code_mails_to(address)) == 1
        assert user_turns(assistant, conversation_id) == 2
    finally:
        client.close()
