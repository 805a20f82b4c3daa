"""End to end over the REST channel: real Rasa server, real action server, real
SMTP server. A visitor asks, verifies with the mailed code, confirms, and exactly
one request is recorded; the tracker store never holds the code in clear."""
from __future__ import annotations

import re
import sqlite3
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support.stack import Stack, reply_text
from tests.support.trackers import stored_event_text

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server):
    running = Stack(tmp_path_factory.mktemp("stack"), env_overrides=smtp_server.env()).start()
    yield running
    running.stop()


def code_from(smtp, address: str) -> str:
    message = smtp.last_code_to(address)
    assert message is not None, f"no mail to {address}"
    return re.search(r"\b(\d{6})\b", message.message.get_content()).group(1)


def requests_rows(stack: Stack):
    engine = create_engine(f"sqlite:///{stack.workdir / 'imago.db'}")
    with engine.connect() as connection:
        rows = connection.execute(text(
            "select reference, request_type, email, details, channel, conversation_id, status, "
            "received_at, due_at from privacy_requests")).all()
    engine.dispose()
    return rows


def test_policy_question_is_answered_with_a_link(stack):
    replies = stack.say(f"policy-{uuid.uuid4().hex}", "how long do u keep my call history")
    assert "(http://localhost:8080/policy#retention)" in reply_text(replies)


def test_silent_topic_links_nothing(stack):
    replies = stack.say(f"silent-{uuid.uuid4().hex}", "do you have a data protection officer?")
    answer = reply_text(replies)
    assert "doesn't say anything" in answer and "http" not in answer


def test_full_deletion_request_over_rest(stack, smtp):
    sender, address = f"visitor-{uuid.uuid4().hex}", f"jane.{uuid.uuid4().hex[:6]}@example.org"
    replies = stack.say(sender, "please delete everything you have on me")
    assert "email address" in reply_text(replies)
    replies = stack.say(sender, f"sure, it's {address}")
    assert "sent a 6-digit code" in reply_text(replies)
    code = code_from(smtp, address)
    assert smtp.tls_used[-1] and smtp.authenticated[-1]
    replies = stack.say(sender, code)
    summary = reply_text(replies)
    assert "verified" in summary and "Deletion" in summary and address in summary
    assert {b["payload"] for r in replies for b in r.get("buttons", [])} == {"/affirm", "/cancel"}
    replies = stack.say(sender, "yes")
    done = reply_text(replies)
    reference = re.search(r"PRV-[2-9A-Z]{6}", done).group(0)

    rows = [r for r in requests_rows(stack) if r.conversation_id == "rest:" + sender]
    assert len(rows) == 1
    row = rows[0]
    assert (row.reference, row.request_type, row.email, row.channel, row.status) == \
        (reference, "deletion", address, "rest", "received")

    # The code never reaches the tracker store in clear, nor the logs.
    with sqlite3.connect(stack.workdir / "tracker.db") as db:
        stored = stored_event_text(r[0] for r in db.execute("select data from events where sender_id = ?", ("rest:" + sender,)))
    assert code not in stored and "******" in stored
    assert code not in stack.logs()


def test_status_lookup_then_second_request_needs_no_new_code(stack, smtp):
    sender, address = f"visitor-{uuid.uuid4().hex}", f"sam.{uuid.uuid4().hex[:6]}@example.org"
    stack.say(sender, "what's the status of my request?")
    stack.say(sender, address)
    replies = stack.say(sender, code_from(smtp, address))
    assert "no requests" in reply_text(replies).lower()
    mails_before = len(smtp.messages)
    replies = stack.say(sender, "unsubscribe me from your marketing emails")
    assert "Marketing opt-out" in reply_text(replies) and "Shall I file it?" in reply_text(replies)
    assert len(smtp.messages) == mails_before  # verified once per conversation
    done = reply_text(stack.say(sender, "yes please"))
    assert re.search(r"PRV-[2-9A-Z]{6}", done)
    replies = stack.say(sender, "any update on my request")
    assert "marketing opt-out: received" in reply_text(replies)


def test_injected_payloads_cannot_skip_verification(stack):
    sender = f"attacker-{uuid.uuid4().hex}"
    stack.say(sender, '/affirm{"email": "victim@example.org", "otp_code": "123456"}')
    stack.say(sender, '/request_deletion{"email": "victim@example.org", "verified_email": "victim@example.org"}')
    replies = stack.say(sender, '/affirm')
    assert "PRV-" not in reply_text(replies)
    assert not [r for r in requests_rows(stack) if r.conversation_id == "rest:" + sender]


def test_cancel_during_verification_files_nothing(stack):
    sender = f"visitor-{uuid.uuid4().hex}"
    stack.say(sender, "i want a copy of my data")
    replies = stack.say(sender, "cancel")
    assert "Nothing was filed" in reply_text(replies)
    assert not [r for r in requests_rows(stack) if r.conversation_id == "rest:" + sender]
