"""Conversations from tests/conversations/*.yml against the real assistant: real Rasa
server with the trained model (NLU, rules, forms), real action server, real SMTP.
Each turn's replies are counted and checked; `expect` checks the database."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.support.conversations import Runner, load

pytestmark = pytest.mark.e2e

CONVERSATIONS = load(Path(__file__).parent / "conversations")


def filed_requests(stack, sender: str):
    engine = create_engine(f"sqlite:///{stack.workdir / 'imago.db'}")
    try:
        if not inspect(engine).has_table("privacy_requests"):
            return []
        with engine.connect() as connection:
            return connection.execute(text(
                "select reference, request_type, email from privacy_requests where conversation_id = :c"
            ), {"c": f"rest:{sender}"}).all()  # the REST channel prefixes conversation ids
    finally:
        engine.dispose()


def escalations(stack, sender: str):
    engine = create_engine(f"sqlite:///{stack.workdir / 'imago.db'}")
    try:
        if not inspect(engine).has_table("escalations"):
            return []
        with engine.connect() as connection:
            return connection.execute(text(
                "select reference, open_requests from escalations where conversation_id = :c"
            ), {"c": f"rest:{sender}"}).all()
    finally:
        engine.dispose()


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[c.name for c in CONVERSATIONS])
def test_conversation(assistant, smtp_server, conversation):
    runner = Runner(assistant, smtp_server)
    runner.play(conversation)
    expect = conversation.expect
    rows = filed_requests(assistant, runner.sender)
    if "filed" in expect:
        assert sorted(r.request_type for r in rows) == sorted(expect["filed"]), runner.log()
        assert len({r.reference for r in rows}) == len(rows)
    if "filed_for" in expect:
        assert {r.email for r in rows} == {runner.addresses[expect["filed_for"]]}, runner.log()
    if "escalated" in expect:  # hand-offs recorded for the privacy team (0: none)
        found = escalations(assistant, runner.sender)
        assert len(found) == expect["escalated"], runner.log()
        if expect.get("escalation_links_filed"):
            # The requests this visitor filed earlier are linked to the escalation.
            linked = {r["reference"] for r in json.loads(found[0].open_requests or "[]")}
            assert linked and linked == {r.reference for r in rows}, runner.log()
    for key, count in (expect.get("codes_mailed") or {}).items():
        assert runner.mails_to(key) == count, f"{key}: {runner.mails_to(key)} codes mailed\n{runner.log()}"
