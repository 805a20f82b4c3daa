"""Delivery into the ticketing backend: at least once, never twice, whatever fails.

Driven against the fake Zendesk server (it speaks the documented Tickets API and
injects faults). The same paths against the real Request Tracker (retry while it is
down, a create whose answer is lost, the look-up before re-creating) are in
tests/test_delivery_rt.py, and a whole conversation into RT in tests/test_conversation_rt.py."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from imago_core.db import session_scope
from imago_core.delivery import deliver_pending, refresh_statuses
from imago_core.models import AuditEvent, DeliveryState, PrivacyRequest, RequestStatus, RequestType, utcnow
from imago_core.privacy_requests import record_request, requests_for
from imago_core.tickets.zendesk import ZendeskBackend
from tests.support.fake_zendesk import FakeZendesk
from tests.support.net import free_port


def backend_for(url: str, timeout: float = 2.0) -> ZendeskBackend:
    return ZendeskBackend("agent@imago.test", "zd-test-token", url=url, timeout=timeout)


def make_due_now() -> None:
    """Time passes: every scheduled retry is due."""
    with session_scope() as session:
        session.execute(update(PrivacyRequest).where(PrivacyRequest.delivery_state == DeliveryState.PENDING)
                        .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def rows():
    with session_scope() as session:
        return session.execute(select(PrivacyRequest).order_by(PrivacyRequest.id)).scalars().all()


def audit_events(name):
    with session_scope() as session:
        return session.execute(select(AuditEvent).where(AuditEvent.event == name)).scalars().all()


@pytest.fixture
def zendesk():
    server = FakeZendesk().start()
    yield server
    server.stop()


def record(n=1, email="visitor{}@example.org"):
    return [record_request(email.format(i), RequestType.DELETION, f"details {i}", "socketio", f"conv-{i}",
                           backend="zendesk") for i in range(n)]


def test_recorded_requests_start_pending_with_their_reference(isolated_env):
    view = record()[0]
    row = rows()[0]
    assert row.delivery_state is DeliveryState.PENDING and row.reference == view.reference


def test_backend_down_then_back_delivers_each_of_20_exactly_once(isolated_env):
    port = free_port()
    backend = backend_for(f"http://127.0.0.1:{port}")
    views = record(20)
    report = deliver_pending(backend)
    assert (report.delivered, report.pending) == (0, 20)
    assert all(r.delivery_state is DeliveryState.PENDING and r.delivery_attempts == 1 for r in rows())
    assert len(audit_events("delivery_retry_scheduled")) == 20

    server = FakeZendesk().start(port)  # the backend comes back
    try:
        make_due_now()
        report = deliver_pending(backend)
        assert (report.delivered, report.pending, report.failed) == (20, 0, 0)
        external_ids = [t["external_id"] for t in server.tickets]
        assert sorted(external_ids) == sorted(v.reference for v in views)
        assert len(server.creates()) == 20
        make_due_now()
        assert deliver_pending(backend).delivered == 0  # nothing left, nothing twice
        assert len(server.tickets) == 20
    finally:
        server.stop()


def test_timeout_after_the_ticket_was_created_makes_no_duplicate(isolated_env, zendesk):
    backend = backend_for(zendesk.url, timeout=0.5)
    view = record()[0]
    zendesk.inject("stall", stall_seconds=1.5)
    assert deliver_pending(backend).pending == 1
    retry = audit_events("delivery_retry_scheduled")[0]
    assert '"ambiguous": true' in retry.detail
    assert len(zendesk.tickets) == 1  # created even though the client timed out
    make_due_now()
    assert deliver_pending(backend).delivered == 1
    assert len(zendesk.tickets) == 1 and zendesk.tickets[0]["external_id"] == view.reference
    delivered = audit_events("delivered")[0]
    assert '"found_existing": true' in delivered.detail


def test_429_honours_retry_after(isolated_env, zendesk):
    backend = backend_for(zendesk.url)
    record()
    zendesk.inject("429", retry_after=120)
    before = utcnow()
    deliver_pending(backend)
    row = rows()[0]
    assert row.delivery_state is DeliveryState.PENDING
    assert row.next_attempt_at >= before + timedelta(seconds=119)
    assert deliver_pending(backend).delivered == 0  # not due yet
    make_due_now()
    assert deliver_pending(backend).delivered == 1


def test_500s_back_off_exponentially_then_deliver(isolated_env, zendesk):
    backend = backend_for(zendesk.url)
    record()
    zendesk.inject("500", times=3)
    delays = []
    for _ in range(3):
        started = utcnow()
        deliver_pending(backend)
        delays.append((rows()[0].next_attempt_at - started).total_seconds())
        make_due_now()
    assert delays[0] < delays[1] < delays[2]
    assert deliver_pending(backend).delivered == 1
    assert len(zendesk.tickets) == 1 and rows()[0].delivery_attempts == 4


def test_bad_credentials_fail_permanently_for_a_person_to_fix(isolated_env, zendesk):
    backend = ZendeskBackend("agent@imago.test", "wrong-token", url=zendesk.url, timeout=2)
    record()
    report = deliver_pending(backend)
    assert report.failed == 1 and rows()[0].delivery_state is DeliveryState.FAILED
    assert len(audit_events("delivery_failed")) == 1


def test_failures_are_logged_without_personal_data(isolated_env, zendesk, caplog):
    backend = backend_for(f"http://127.0.0.1:{free_port()}")
    record(1, email="very.private.person{}@example.org")
    deliver_pending(backend)
    assert "very.private.person" not in caplog.text
    assert all("very.private.person" not in (e.detail or "") for e in audit_events("delivery_retry_scheduled"))


def test_status_is_refreshed_from_the_backend(isolated_env, zendesk):
    backend = backend_for(zendesk.url)
    view = record()[0]
    deliver_pending(backend)
    zendesk.set_status(int(rows()[0].external_id), "pending")
    refresh_statuses("visitor0@example.org", backend)
    assert requests_for("visitor0@example.org")[0].status is RequestStatus.WAITING_FOR_YOU
    zendesk.set_status(int(rows()[0].external_id), "solved")
    refresh_statuses("visitor0@example.org", backend)
    assert requests_for("visitor0@example.org")[0].status is RequestStatus.COMPLETED
    assert [e.actor for e in audit_events("status_changed")] == ["backend:zendesk"] * 2


def test_status_refresh_survives_a_backend_outage(isolated_env, zendesk):
    backend = backend_for(zendesk.url)
    record()
    deliver_pending(backend)
    zendesk.inject("500", times=5)
    refresh_statuses("visitor0@example.org", backend)
    assert requests_for("visitor0@example.org")[0].status is RequestStatus.RECEIVED
