"""Erasure of the assistant's own data when a deletion request is completed, and the
JSON export mailed for access and export requests (real tracker store, real SMTP)."""
from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select

from imago_core.cli import staff as staff_cli
from imago_core.requests.export import after_request_filed, build_export
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    AuditEvent,
    Escalation,
    EscalationStatus,
    PrivacyRequest,
    RequestDraft,
    RequestStatus,
    RequestType,
    VerifiedConversation,
    utcnow,
)
from imago_core.requests.records import record_request, set_status
from extensions.tracker_store import RedactingSQLTrackerStore
from tests.test_mail import mailer_for

JANE, SAM = "jane@example.org", "sam@example.org"


async def chat(path, sender: str, email: str, code: str = "482913") -> None:
    """A conversation that verified `email` with `code` (masked by the store)."""
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    await store.save(DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_listen"), UserUttered("please delete my data"),
        BotUttered("What's your email address?"), ActiveLoop("request_form"),
        SlotSet("requested_slot", "email"), UserUttered(f"it's {email}"),
        SlotSet("requested_slot", "otp_code"), BotUttered("I've sent a 6-digit code."),
        UserUttered(code), SlotSet("otp_code", code), BotUttered("Thanks, your email address is verified."),
        UserUttered("my other code was 123 456 by the way"),
    ]))
    store.engine.dispose()
    now = utcnow()
    with session_scope() as session:
        session.add(VerifiedConversation(conversation_id=sender, email=email, verified_at=now,
                                         expires_at=now + timedelta(minutes=30)))
        session.add(RequestDraft(conversation_id=sender, email=email, request_type=RequestType.DELETION))
        session.add(Escalation(reference=f"ESC-{sender[-6:].upper()}", conversation_id=sender, reason="asked",
                               verified_email=email, transcript=json.dumps([{"who": "visitor", "text": "help"}]),
                               status=EscalationStatus.WAITING))


def senders(path):
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("select distinct sender_id from events")}


async def test_completing_a_deletion_erases_only_that_address_conversations(tracker_db, capsys):
    await chat(tracker_db, "conv-jane01", JANE)
    await chat(tracker_db, "conv-sam001", SAM)
    deletion = record_request(JANE, RequestType.DELETION, None, "rest", "conv-jane01")

    set_status(deletion.reference, RequestStatus.IN_PROGRESS)
    assert senders(tracker_db) == {"conv-jane01", "conv-sam001"}  # not yet

    assert staff_cli.main(["set-status", deletion.reference, "completed", "--by", "alice"]) == 0

    assert senders(tracker_db) == {"conv-sam001"}
    with session_scope() as session:
        for model, column in ((RequestDraft, RequestDraft.email), (Escalation, Escalation.verified_email),
                              (VerifiedConversation, VerifiedConversation.email)):
            assert set(session.execute(select(column)).scalars()) == {SAM}, model
        # What proves the erasure stays: the request record and its audit trail.
        request = session.execute(select(PrivacyRequest).where(
            PrivacyRequest.reference == deletion.reference)).scalar_one()
        assert request.status is RequestStatus.COMPLETED
        erased = session.execute(select(AuditEvent).where(AuditEvent.event == "assistant_data_erased")).scalar_one()
    assert erased.request_id == request.id and erased.actor.startswith("staff:alice (os ")
    assert json.loads(erased.detail)["conversation events"] == 12 and "@" not in erased.detail


async def test_completing_another_kind_of_request_erases_nothing(tracker_db):
    await chat(tracker_db, "conv-jane02", JANE)
    access = record_request(JANE, RequestType.ACCESS, None, "rest", "conv-jane02")
    set_status(access.reference, RequestStatus.COMPLETED)
    assert senders(tracker_db) == {"conv-jane02"}


async def test_export_holds_verified_conversations_requests_and_escalations_codes_masked(tracker_db):
    await chat(tracker_db, "conv-jane03", JANE, code="731946")
    await chat(tracker_db, "conv-sam003", SAM)
    # A conversation that only *mentions* Jane's address is not hers: never guessed from text.
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tracker_db))
    await store.save(DialogueStateTracker.from_events("conv-other", [UserUttered(f"is {JANE} a customer?")]))
    store.engine.dispose()
    record_request(JANE, RequestType.EXPORT, None, "rest", "conv-jane03")

    export = build_export(JANE)

    assert [c["conversation_id"] for c in export["conversations"]] == ["conv-jane03"]
    texts = [m["text"] for m in export["conversations"][0]["messages"]]
    assert "please delete my data" in texts and "******" in texts
    assert not any("731946" in t or "123 456" in t for t in texts)
    assert [(r["type"], r["status"]) for r in export["requests"]] == [("export", "received")]
    assert [e["reference"] for e in export["escalations"]] == ["ESC-JANE03"]
    assert SAM not in json.dumps(export)


async def test_export_is_mailed_as_json_to_the_verified_address(tracker_db, smtp):
    await chat(tracker_db, "conv-jane04", JANE)
    view = record_request(JANE, RequestType.ACCESS, None, "rest", "conv-jane04")

    note = after_request_filed(view.request_type, view.reference, JANE, view.duplicate, mailer=mailer_for(smtp))

    assert "emailed you a machine-readable copy (JSON)" in note
    received = smtp.last_to(JANE)
    attachment = next(received.message.iter_attachments())
    assert attachment.get_content_type() == "application/json"
    assert attachment.get_filename() == f"imago-assistant-data-{view.reference}.json"
    export = json.loads(attachment.get_content())
    assert export["email"] == JANE and export["requests"][0]["reference"] == view.reference
    assert after_request_filed(RequestType.DELETION, "PRV-X", JANE, False, mailer=mailer_for(smtp)) is None


async def test_failed_export_mail_is_told_to_the_visitor(tracker_db, smtp):
    smtp.reject_next = 1
    note = after_request_filed(RequestType.EXPORT, "PRV-ABCDEF", JANE, False, mailer=mailer_for(smtp))
    assert "couldn't email you" in note


async def test_deletion_completed_in_the_ticket_backend_erases_our_copy(tracker_db):
    from imago_core.delivery.outbox import deliver_pending
    from imago_core.requests.status_sync import refresh_open_deletions
    from tests.support.fake_zendesk import FakeZendesk
    from tests.test_delivery import backend_for

    zendesk = FakeZendesk().start()
    try:
        backend = backend_for(zendesk.url)
        await chat(tracker_db, "conv-jane05", JANE)
        record_request(JANE, RequestType.DELETION, None, "rest", "conv-jane05", backend="zendesk")
        deliver_pending(backend)
        with session_scope() as session:
            ticket = session.execute(select(PrivacyRequest.external_id)).scalar_one()

        assert refresh_open_deletions(backend) == 1
        assert senders(tracker_db) == {"conv-jane05"}  # still open there: nothing erased
        zendesk.set_status(int(ticket), "solved")
        assert refresh_open_deletions(backend) == 1
        assert senders(tracker_db) == set()
        assert refresh_open_deletions(backend) == 0  # completed: no longer checked
    finally:
        zendesk.stop()


async def test_history_written_back_by_a_turn_in_progress_is_erased_by_the_next_purge(tracker_db):
    from imago_core.requests.retention import purge

    await chat(tracker_db, "conv-jane06", JANE)
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tracker_db))
    in_progress = await store.retrieve("conv-jane06")  # the Rasa server is handling a turn ...
    deletion = record_request(JANE, RequestType.DELETION, None, "rest", "conv-jane06")
    set_status(deletion.reference, RequestStatus.COMPLETED)  # ... when staff complete the deletion
    assert senders(tracker_db) == set()
    in_progress.update(BotUttered("Here is your status."))
    # The turn ends on a replica that holds the whole tracker without the store's mark of
    # what it loaded (the store on this one writes only the turn's new events): the whole
    # history is written back.
    written_back = DialogueStateTracker.from_events("conv-jane06", list(in_progress.events))
    await store.save(written_back)
    assert senders(tracker_db) == {"conv-jane06"}

    report = purge()

    assert report.removed["erased events written back"] == 12
    assert [e.text for e in (await store.retrieve("conv-jane06")).events
            if isinstance(e, (UserUttered, BotUttered))] == ["Here is your status."]
    store.engine.dispose()
