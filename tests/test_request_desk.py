"""The desk's core: clocks stored on the request, the actions staff take, the mails the
visitor is owed, the ticket's Due following the clock, and the queue's figures."""
from __future__ import annotations

import email
import email.policy
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from imago_core.delivery.outbox import deliver_pending
from imago_core.mail import MailError, Mailer
from imago_core.requests import desk_queue, notices, status_sync, ticket_sync, waiting
from imago_core.requests.clock_store import due_day
from imago_core.requests.clocks import Clock
from imago_core.requests.desk_actions import DeskError, act
from imago_core.requests.records import record_request, requests_for, set_status
from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent, PrivacyRequest, RequestStatus, RequestType, utcnow
from tests.support.fake_zendesk import FakeZendesk
from tests.test_delivery import backend_for

UTC = timezone.utc


def mails(outbox):
    """The mails written to the local outbox, oldest first, as (to, subject, body)."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append((message["To"], message["Subject"], message.get_content()))
    return found


def row_of(reference):
    with session_scope() as session:
        return session.execute(select(PrivacyRequest).where(PrivacyRequest.reference == reference)).scalar_one()


def audit_events(name):
    with session_scope() as session:
        return session.execute(select(AuditEvent).where(AuditEvent.event == name)).scalars().all()


def test_californian_gets_ccpa_and_a_receipt_mail(isolated_env):
    view = record_request("cal@example.org", RequestType.ACCESS, None, "rest", "c1", volunteered={"ccpa"})
    row = row_of(view.reference)
    assert row.regimes == "gdpr,pdpo,ccpa"
    sent = mails(isolated_env / "outbox")
    assert [(to, subject) for to, subject, _ in sent] == [
        ("cal@example.org", f"[{view.reference}] We have received your access request")]
    # Sent once: recorded on the clock, so the job does not send it again.
    assert notices.send_all_due() == 0 and len(mails(isolated_env / "outbox")) == 1
    assert [n.kind for n in Clock.from_json(row_of(view.reference).clock).deadline().notices_pending] == []


def test_no_receipt_mail_without_ccpa(isolated_env):
    record_request("eu@example.org", RequestType.ACCESS, None, "rest", "c1")
    assert mails(isolated_env / "outbox") == []


def test_extension_moves_the_date_and_tells_the_visitor_why(isolated_env):
    received = utcnow() - timedelta(days=3)
    view = record_request("ext@example.org", RequestType.ACCESS, None, "rest", "c1", now=received)
    before = due_day(row_of(view.reference).due_at)
    result = act(view.reference, "extend", "staff:maria", {"reason": "Three systems hold your data."})
    after = date.fromisoformat(result["due"])
    assert after > before + timedelta(days=55) and due_day(row_of(view.reference).due_at) == after
    (to, subject, body), = mails(isolated_env / "outbox")
    assert to == "ext@example.org" and view.reference in subject
    assert "Three systems hold your data." in body and f"{after.day} " in body and str(after.year) in body
    extended, = audit_events("request_extended")
    assert extended.actor == "staff:maria" and json.loads(extended.detail)["due"] == after.isoformat()
    with pytest.raises(DeskError, match="extended"):  # once only (GDPR Art. 12(3), PDPO, CCPA)
        act(view.reference, "extend", "staff:maria", {"reason": "again"})
    with pytest.raises(DeskError, match="reason"):
        act(view.reference, "extend", "staff:maria", {"reason": " "})


async def visitor_writes(path, sender: str, text: str, at: datetime) -> None:
    """A message in the conversation, written by the real tracker store."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from extensions.tracker_store import RedactingSQLTrackerStore

    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    await store.save(DialogueStateTracker.from_events(sender, [UserUttered(text, timestamp=at.timestamp())]))
    store.engine.dispose()


async def test_pause_mails_the_question_and_the_chat_answer_resumes(isolated_env, tracker_db):
    view = record_request("q@example.org", RequestType.CORRECTION, None, "rest", "conv-q")
    act(view.reference, "pause", "staff:tom", {"question": "Which account: the shop or the app?"})
    assert row_of(view.reference).status is RequestStatus.WAITING_FOR_YOU
    (_, subject, body), = mails(isolated_env / "outbox")
    assert "A question" in subject and "Which account: the shop or the app?" in body and "chat" in body
    assert waiting.resume_answered() == []  # nothing written since
    await visitor_writes(tracker_db, "conv-q", "the app one", utcnow() + timedelta(seconds=1))
    assert waiting.resume_answered() == [view.reference]
    row = row_of(view.reference)
    assert row.status is RequestStatus.IN_PROGRESS
    assert Clock.from_json(row.clock).history[-1].actor == "visitor"


def test_refusal_is_logged_and_names_where_to_complain(isolated_env):
    view = record_request("r@example.org", RequestType.DELETION, None, "rest", "c1")
    with pytest.raises(DeskError, match="code"):
        act(view.reference, "refuse", "staff:maria", {"reason": "no"})
    act(view.reference, "refuse", "staff:maria", {"code": "identity_not_proven", "reason": "The code went elsewhere."})
    assert row_of(view.reference).status is RequestStatus.REJECTED
    (_, subject, body), = mails(isolated_env / "outbox")
    assert "cannot carry out" in subject and "The code went elsewhere." in body
    assert "supervisory authority" in body and "PCPD" in body
    logged, = audit_events("refusal_logged")  # PDPO s.27's log book
    assert json.loads(logged.detail)["code"] == "identity_not_proven"
    opt_out = record_request("r@example.org", RequestType.MARKETING_OPTOUT, None, "rest", "c1")
    with pytest.raises(DeskError):  # an objection to marketing cannot be refused
        act(opt_out.reference, "refuse", "staff:maria", {"code": "exempt", "reason": "x"})


def test_completion_is_what_the_visitor_reads(isolated_env):
    view = record_request("done@example.org", RequestType.EXPORT, None, "rest", "c1")
    act(view.reference, "start", "staff:maria")
    act(view.reference, "complete", "staff:maria")
    assert [v.status for v in requests_for("done@example.org")] == [RequestStatus.COMPLETED]
    assert "is completed" in mails(isolated_env / "outbox")[-1][1]


def test_chinese_visitor_gets_chinese_mail(isolated_env):
    view = record_request("zh@example.org", RequestType.ACCESS, None, "rest", "c1", language="zh-HK")
    act(view.reference, "extend", "staff:maria", {"reason": "資料分散在三個系統。"})
    (_, subject, body), = mails(isolated_env / "outbox")
    assert "更多時間" in subject and "資料分散在三個系統。" in body and "年" in body


class FailingMailer(Mailer):
    def send(self, *args, **kwargs):
        raise MailError("SMTPServerDisconnected")


def test_a_mail_that_fails_is_sent_later(isolated_env):
    view = record_request("later@example.org", RequestType.ACCESS, None, "rest", "c1")
    act(view.reference, "pause", "staff:tom", {"question": "Which account?"})  # mailed: outbox works
    with session_scope() as session:  # pretend the question is still owed and SMTP is down
        row = session.execute(select(PrivacyRequest)).scalar_one()
        clock = Clock.from_json(row.clock)
        row.clock = Clock(clock.request_type, clock.regimes, clock.received, clock.history[:-1]).to_json()
        row.notice_check_at = utcnow()
    assert notices.send_pending(row.id, FailingMailer()) == []
    assert row_of(view.reference).notice_check_at > utcnow()  # kept for a retry
    with session_scope() as session:
        session.execute(update(PrivacyRequest).values(notice_check_at=utcnow() - timedelta(seconds=1)))
    assert notices.send_all_due() == 1


def test_set_status_moves_the_clock_and_a_refusal_needs_the_desk(isolated_env):
    view = record_request("s@example.org", RequestType.ACCESS, None, "rest", "c1")
    set_status(view.reference, RequestStatus.IN_PROGRESS, actor="staff:alice")
    assert Clock.from_json(row_of(view.reference).clock).state.value == "in_progress"
    with pytest.raises(ValueError, match="reason code"):
        set_status(view.reference, RequestStatus.REJECTED, actor="staff:alice")


@pytest.fixture
def zendesk(isolated_env, monkeypatch):
    server = FakeZendesk().start()
    monkeypatch.setenv("TICKET_BACKEND", "zendesk")
    monkeypatch.setenv("ZENDESK_URL", server.url)
    monkeypatch.setenv("ZENDESK_CLIENT_ID", server.client_id)
    monkeypatch.setenv("ZENDESK_CLIENT_SECRET", server.client_secret)
    from imago_core.settings import reset_settings_cache

    reset_settings_cache()
    yield server
    server.stop()


def test_ticket_due_follows_the_clock_and_survives_an_outage(zendesk):
    backend = backend_for(zendesk.url)
    view = record_request("z@example.org", RequestType.ACCESS, None, "rest", "c1", backend="zendesk")
    deliver_pending(backend)
    ticket = zendesk.tickets[0]
    assert ticket["type"] == "task" and ticket["due_at"].startswith(due_day(row_of(view.reference).due_at).isoformat())

    zendesk.inject("500", times=10)  # the backend is down while staff extend
    result = act(view.reference, "extend", "staff:maria", {"reason": "Complex."})
    assert ticket_sync.update_owed(row_of(view.reference))
    # Meanwhile the visitor asks for the status: the ticket's older status must not win.
    status_sync.refresh_statuses("z@example.org", backend)
    assert row_of(view.reference).status is RequestStatus.RECEIVED
    with zendesk._state.lock:
        zendesk._state.faults.clear()
    with session_scope() as session:
        session.execute(update(PrivacyRequest).values(ticket_update_at=utcnow() - timedelta(seconds=1)))
    assert ticket_sync.push_all_due(backend) == 1
    assert zendesk.tickets[0]["due_at"].startswith(result["due"])
    assert not ticket_sync.update_owed(row_of(view.reference))

    act(view.reference, "refuse", "staff:maria", {"code": "exempt", "reason": "Legal hold."})
    ticket_sync.push_all_due(backend)
    assert zendesk.tickets[0]["status"] == "solved" and "rejected" in zendesk.tickets[0]["tags"]
    # Read back, the refusal stays a refusal.
    status_sync.refresh_statuses("z@example.org", backend)
    assert row_of(view.reference).status is RequestStatus.REJECTED


def test_status_changed_in_the_backend_moves_the_clock(zendesk):
    backend = backend_for(zendesk.url)
    view = record_request("b@example.org", RequestType.ACCESS, None, "rest", "c1", backend="zendesk")
    deliver_pending(backend)
    zendesk.set_status(int(zendesk.tickets[0]["id"]), "solved")
    status_sync.refresh_statuses("b@example.org", backend)
    row = row_of(view.reference)
    assert row.status is RequestStatus.COMPLETED and Clock.from_json(row.clock).state.value == "completed"


def test_queue_orders_filters_counts_and_exports(isolated_env):
    now = utcnow()
    late = record_request("a@example.org", RequestType.ACCESS, None, "rest", "c1", now=now - timedelta(days=40))
    soon = record_request("b@example.org", RequestType.DELETION, None, "rest", "c2", now=now - timedelta(days=27))
    fresh = record_request("c@example.org", RequestType.CORRECTION, None, "rest", "c3", now=now,
                           volunteered={"ccpa"})
    done = record_request("d@example.org", RequestType.ACCESS, None, "rest", "c4", now=now - timedelta(days=10))
    act(done.reference, "complete", "staff:maria")
    act(fresh.reference, "assign", "staff:maria", {"assignee": "maria"})
    items = desk_queue.queue()
    assert [i["reference"] for i in items] == [late.reference, soon.reference, fresh.reference, done.reference]
    assert [i["standing"] for i in items] == ["overdue", "due_soon", "on_time", "closed"]
    assert [i["reference"] for i in desk_queue.queue({"regime": "ccpa"})] == [fresh.reference]
    assert [i["reference"] for i in desk_queue.queue({"assignee": "maria"})] == [fresh.reference]
    assert [i["reference"] for i in desk_queue.queue({"status": "overdue"})] == [late.reference]
    figures = desk_queue.counters(items)
    assert (figures["open"], figures["overdue"], figures["due_this_week"]) == (3, 1, 1)
    assert figures["median_days_to_close"] == {"access": 10}
    csv_text = desk_queue.to_csv(items)
    assert csv_text.splitlines()[0].startswith("reference,type,status,received,due,days_left")
    assert late.reference in csv_text and "@" not in csv_text  # no addresses in the export


def test_detail_masks_the_address_and_reveal_is_audited(tracker_db):
    view = record_request("jane.doe@example.org", RequestType.ACCESS, None, "rest", "c1")
    item = desk_queue.detail(view.reference)
    assert item["email_masked"] == "j***@example.org" and "jane.doe" not in json.dumps(item)
    assert item["history"][0]["kind"] == "received" and item["per_regime"][0]["regime"] == "gdpr"
    assert act(view.reference, "reveal", "staff:tom")["email"] == "jane.doe@example.org"
    revealed, = audit_events("address_revealed")
    assert revealed.actor == "staff:tom"
