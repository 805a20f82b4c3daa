"""Issue 23, finding 7: one address, one spelling. Verification treats letter case as
the same address; erasure, export, the request list and the CLI matched it exactly,
so `Jane.Doe@Example.org` and `jane.doe@example.org` were two people there."""
from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, select

from extensions.tracker_store import RedactingSQLTrackerStore
from imago_core.cli import staff as staff_cli
from imago_core.storage import db as db_module
from imago_core.requests.export import build_export
from imago_core.storage.db import session_scope
from imago_core.mail import Mailer
from imago_core.storage.models import Base, PrivacyRequest, RequestDraft, RequestType, VerifiedConversation
from imago_core.requests.records import record_request, requests_for
from imago_core.identity.codes import CheckStatus, Verifier, extract_email


class Inbox(Mailer):
    def __init__(self):
        self.sent = []

    def send(self, to, subject, body, attachments=()):
        self.sent.append((to, body))

    def code(self):
        return re.search(r"\b(\d{6})\b", self.sent[-1][1]).group(1)


def verify(verifier: Verifier, inbox: Inbox, conversation_id: str, typed: str) -> str:
    """Verifies the address as the request form does: read from what was typed."""
    email = extract_email(f"it's {typed}")
    verifier.request_code(conversation_id, email)
    assert verifier.check_code(conversation_id, email, inbox.code()).status is CheckStatus.VERIFIED
    return verifier.verified_email(conversation_id)


def chat(path, sender):
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_listen"), UserUttered(f"hello from {sender}")])))
    store.engine.dispose()


def test_one_address_in_two_spellings_is_one_person_everywhere(tracker_db, capsys):
    inbox = Inbox()
    verifier = Verifier(b"unit-test-secret-0123456789", inbox)
    chat(tracker_db, "conv-upper1")
    chat(tracker_db, "conv-lower1")
    first = verify(verifier, inbox, "conv-upper1", "Jane.Doe@Example.ORG")
    second = verify(verifier, inbox, "conv-lower1", "jane.doe@example.org")
    assert first == second == "jane.doe@example.org"  # what is stored, and what the actions get

    view = record_request(first, RequestType.DELETION, None, "rest", "conv-upper1")
    # Looked up in another spelling: the request list, the export, the CLI.
    assert [v.reference for v in requests_for("JANE.DOE@example.org")] == [view.reference]
    export = build_export("Jane.Doe@EXAMPLE.org")
    assert {c["conversation_id"] for c in export["conversations"]} == {"conv-upper1", "conv-lower1"}
    assert [r["reference"] for r in export["requests"]] == [view.reference]
    assert staff_cli.main(["list", "--email", "JANE.doe@Example.org"]) == 0
    assert view.reference in capsys.readouterr().out

    # Erasure finds both conversations' verifications.
    assert staff_cli.main(["set-status", view.reference, "completed"]) == 0
    with session_scope() as session:
        assert session.execute(select(VerifiedConversation)).scalars().all() == []


def test_a_second_spelling_is_a_duplicate_not_a_second_request(isolated_env):
    first = record_request("Ada@Example.org", RequestType.ACCESS, None, "rest", "c1")
    again = record_request("ada@example.org", RequestType.ACCESS, None, "rest", "c2")
    assert again.duplicate and again.reference == first.reference
    with session_scope() as session:
        assert session.execute(select(PrivacyRequest.email)).scalars().all() == ["ada@example.org"]


def test_plus_tags_stay_distinct_addresses():
    from imago_core.storage.addresses import canonical_address

    # Folded for the send limits only (verification.limit_address): a server without
    # sub-addressing delivers jane+x@ to someone else, who must not see jane@'s requests.
    assert canonical_address(" Jane+News@Example.org ") == "jane+news@example.org"


def test_rows_from_an_older_release_are_brought_to_the_canonical_spelling(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    old = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(old)
    with old.begin() as connection:
        connection.exec_driver_sql(
            "insert into verified_conversations (conversation_id, email, verified_at, expires_at) "
            "values ('c1', 'Grace@Example.org', '2026-01-01 00:00:00', '2026-01-01 00:30:00')")
        connection.exec_driver_sql(
            "insert into request_drafts (conversation_id, email, request_type, created_at) "
            "values ('c1', 'Grace@Example.org', 'access', '2026-01-01 00:00:00')")
    old.dispose()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("OTP_SECRET", "test-secret-0123456789-abcdefghij")
    from imago_core.settings import reset_settings_cache

    reset_settings_cache()
    db_module.reset_engine()
    try:
        with session_scope() as session:
            assert session.execute(select(VerifiedConversation.email)).scalars().all() == ["grace@example.org"]
            assert session.execute(select(RequestDraft.email)).scalars().all() == ["grace@example.org"]
    finally:
        db_module.reset_engine()
        reset_settings_cache()
