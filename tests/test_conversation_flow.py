"""Database checks behind the bending request conversations (issue 16), against the
real stack: codes invalidated and limited when the address changes, several
requests filed once each, typed payloads that skip nothing."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support.stack import reply_text

pytestmark = pytest.mark.e2e


def query(stack, sql: str, **params):
    engine = create_engine(f"sqlite:///{stack.workdir / 'imago.db'}")
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).all()
    finally:
        engine.dispose()


def code_for(smtp, address: str) -> str:
    message = smtp.last_code_to(address)
    assert message is not None, f"no mail to {address}"
    return re.search(r"\b(\d{6})\b", message.message.get_content()).group(1)


def mails_to(smtp, address: str) -> int:
    """One-time-code mails (an access or export request also mails a JSON copy)."""
    return len(smtp.code_mails_to(address))


def new_visitor():
    tag = uuid.uuid4().hex[:8]
    return f"flow-{tag}", f"first.{tag}@example.org", f"second.{tag}@example.net", f"third.{tag}@example.com"


def test_a_new_address_invalidates_the_old_code_and_the_limits_still_hold(assistant, smtp_server):
    sender, first, second, third = new_visitor()
    assistant.say(sender, "I want to export my data")
    assistant.say(sender, first)
    old_code = code_for(smtp_server, first)
    replies = assistant.say(sender, f"sorry, wrong address, it is {second}")
    assert len(replies) == 1 and "s***@example.net" in reply_text(replies)
    codes = query(assistant, "select invalidated_at, used_at from one_time_codes where conversation_id = :c "
                  "order by id", c=f"rest:{sender}")
    assert len(codes) == 2 and codes[0].invalidated_at is not None and codes[1].invalidated_at is None
    # The first address's code no longer verifies anything.
    assert "verified" not in reply_text(assistant.say(sender, old_code))
    # Three codes an hour per conversation: a third address makes the third send, a fourth is refused.
    assistant.say(sender, third)
    assert mails_to(smtp_server, third) == 1
    replies = assistant.say(sender, f"no, use {first}")
    assert "can't send another one yet" in reply_text(replies)
    assert mails_to(smtp_server, first) == 1 and mails_to(smtp_server, second) == 1
    assert query(assistant, "select count(*) from code_sends where conversation_id = :c", c=f"rest:{sender}")[0][0] == 3
    assert query(assistant, "select count(*) from privacy_requests where conversation_id = :c", c=f"rest:{sender}")[0][0] == 0


def test_several_requests_are_filed_once_each_with_their_own_reference(assistant, smtp_server):
    sender, address, _, _ = new_visitor()
    assistant.say(sender, "delete my data and also stop the marketing emails")
    assistant.say(sender, address)
    summary = reply_text(assistant.say(sender, code_for(smtp_server, address)))
    assert "Deletion" in summary and "Marketing opt-out" in summary
    drafts = query(assistant, "select request_type, consumed_at from request_drafts where conversation_id = :c",
                   c=f"rest:{sender}")
    assert sorted(d.request_type for d in drafts) == ["deletion", "marketing_optout"]
    done = reply_text(assistant.say(sender, "yes"))
    rows = query(assistant, "select reference, request_type, email from privacy_requests "
                 "where conversation_id = :c", c=f"rest:{sender}")
    assert sorted(r.request_type for r in rows) == ["deletion", "marketing_optout"]
    assert {r.email for r in rows} == {address}
    assert all(r.reference in done for r in rows) and len({r.reference for r in rows}) == 2
    # A second "yes" (or a typed /affirm) files nothing more.
    assistant.say(sender, "yes")
    assistant.say(sender, "/affirm")
    assert query(assistant, "select count(*) from privacy_requests where conversation_id = :c", c=f"rest:{sender}")[0][0] == 2
    assert query(assistant, "select count(*) from request_drafts where conversation_id = :c and consumed_at is null",
                 c=f"rest:{sender}")[0][0] == 0


def test_typed_payloads_skip_neither_verification_nor_confirmation(assistant, smtp_server):
    sender, address, _, _ = new_visitor()
    assistant.say(sender, "/request_deletion")
    replies = assistant.say(sender, '/affirm{"confirmation": "yes", "otp_code": "******"}')
    assert "PRV-" not in reply_text(replies)
    assistant.say(sender, '/inform{"email": "%s"}' % address)
    assistant.say(sender, "/affirm")
    assert query(assistant, "select count(*) from privacy_requests where conversation_id = :c", c=f"rest:{sender}")[0][0] == 0
    assert query(assistant, "select count(*) from verified_conversations where conversation_id = :c",
                 c=f"rest:{sender}")[0][0] == 0


def test_a_digression_keeps_what_was_collected(assistant, smtp_server):
    sender, address, _, _ = new_visitor()
    assistant.say(sender, "I want a copy of my data")
    assistant.say(sender, address)
    answer = reply_text(assistant.say(sender, "how long do you keep my data?"))
    assert "#retention)" in answer and answer.rstrip().endswith("Say \"new code\" if it didn't arrive.")
    assert "Back to your access request" in answer
    # No new code was needed: the one already mailed still verifies.
    replies = assistant.say(sender, code_for(smtp_server, address))
    assert "verified" in reply_text(replies) and mails_to(smtp_server, address) == 1
