"""Delivery into the ticketing backend: at least once, never twice, whatever fails.

Driven against the fake Zendesk server (it speaks the documented Tickets API and
injects faults). The same paths against the real Request Tracker (retry while it is
down, a create whose answer is lost, the look-up before re-creating) are in
tests/test_delivery_rt.py, and a whole conversation into RT in tests/test_conversation_rt.py."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from imago_core.storage.db import session_scope
from imago_core.delivery.outbox import deliver_pending
from imago_core.requests.status_sync import refresh_statuses
from imago_core.storage.models import AuditEvent, DeliveryState, PrivacyRequest, RequestStatus, RequestType, utcnow
from imago_core.requests.records import record_request, requests_for
from imago_core.delivery.tickets.zendesk import ZendeskBackend
from imago_core.delivery.tickets.zendesk_auth import OAuthClientCredentials
from tests.support.fake_zendesk import IDEMPOTENCY_WINDOW_SECONDS, FakeZendesk
from tests.support.net import free_port


def backend_for(url: str, timeout: float = 2.0, secret: str = "zd-client-secret") -> ZendeskBackend:
    auth = OAuthClientCredentials("imago_privacy_assistant", secret, "tickets:read tickets:write")
    return ZendeskBackend(url=url, timeout=timeout, auth=auth)


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
    backend.find_by_reference("PRV-WARMUP")  # the token request must not take the fault
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


def test_refused_credentials_keep_the_queue_and_it_recovers_once_the_secret_is_fixed(isolated_env, zendesk):
    record(3)
    report = deliver_pending(backend_for(zendesk.url, secret="wrong-secret"))  # Zendesk refuses the secret

    assert report.failed == 0 and report.pending == 3
    for row in rows():
        assert row.delivery_state is DeliveryState.PENDING and "ZENDESK_CLIENT_SECRET" in row.last_error
        assert row.needs_attention.startswith("credentials refused by zendesk: fix the secret")
        wait = (row.next_attempt_at - utcnow()).total_seconds()
        assert 850 < wait <= 3600  # a long wait, not the 5 s backoff
    assert zendesk.creates() == [] and audit_events("delivery_failed") == []
    assert deliver_pending(backend_for(zendesk.url)).delivered == 0  # not due yet

    make_due_now()  # the admin has fixed the secret; the next due pass delivers everything
    assert deliver_pending(backend_for(zendesk.url)).delivered == 3
    assert len(zendesk.tickets) == 3
    assert all(r.delivery_state is DeliveryState.DELIVERED and r.needs_attention is None for r in rows())


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


# --- Zendesk as it really is (issue 14) ------------------------------------------


def row_for(reference):
    with session_scope() as session:
        return session.execute(select(PrivacyRequest).where(PrivacyRequest.reference == reference)).scalar_one()


def test_lost_answer_retried_after_the_key_expired_is_found_by_the_lookup(isolated_env, zendesk):
    """Past Zendesk's two-hour key window only the external_id lookup prevents a duplicate."""
    backend = backend_for(zendesk.url, timeout=0.5)
    view = record()[0]
    backend.find_by_reference("PRV-WARMUP")  # the token request must not take the fault
    zendesk.inject("stall", stall_seconds=1.5)
    assert deliver_pending(backend).pending == 1
    assert len(zendesk.tickets) == 1  # made, but the answer was lost

    zendesk.clock.advance(IDEMPOTENCY_WINDOW_SECONDS + 60)  # the Idempotency-Key has expired
    make_due_now()
    assert deliver_pending(backend).delivered == 1

    assert len(zendesk.tickets) == 1 and zendesk.tickets[0]["external_id"] == view.reference
    assert len(zendesk.creates()) == 1, "a second create was sent: only the key would have stopped it"
    assert row_for(view.reference).external_id == str(zendesk.tickets[0]["id"])
    assert '"found_existing": true' in audit_events("delivered")[0].detail


def test_without_the_lookup_an_expired_key_would_make_a_duplicate(isolated_env, zendesk):
    """The counter-test: the fake really forgets keys, so the test above can fail."""
    backend = backend_for(zendesk.url)
    view = record()[0]
    deliver_pending(backend)
    zendesk.clock.advance(IDEMPOTENCY_WINDOW_SECONDS + 60)
    from imago_core.requests.tickets import draft_for

    backend.create(draft_for(row_for(view.reference)))
    assert len(zendesk.tickets) == 2


def test_ticket_body_is_fixed_when_the_request_is_recorded(isolated_env, zendesk, monkeypatch):
    import imago_core.requests.tickets as request_tickets

    view = record()[0]
    stored = row_for(view.reference).ticket_body
    assert stored and view.reference in stored and "details 0" in stored
    # A newer version composes bodies differently, and the details are edited: neither
    # may change what is sent under the request's Idempotency-Key.
    monkeypatch.setattr(request_tickets, "compose_ticket_body", lambda row: "a different body")
    with session_scope() as session:
        session.execute(update(PrivacyRequest).values(details="edited later"))
    deliver_pending(backend_for(zendesk.url))
    assert zendesk.tickets[0]["description"] == stored


def test_access_token_expiring_mid_run_delivers_every_request_once(isolated_env, zendesk):
    backend = backend_for(zendesk.url)
    first = record(3)
    assert deliver_pending(backend).delivered == 3
    zendesk.expire_access_tokens()
    second = [record_request(f"later{i}@example.org", RequestType.ACCESS, None, "socketio", f"c-{i}",
                             backend="zendesk") for i in range(3)]
    report = deliver_pending(backend)
    assert (report.delivered, report.pending, report.failed) == (3, 0, 0)
    assert sorted(t["external_id"] for t in zendesk.tickets) == sorted(v.reference for v in first + second)
    assert len(zendesk.token_requests()) == 2
    assert [r.status for r in zendesk.creates()].count(401) == 1


def test_suspended_requester_is_delivered_without_requester_and_flagged(isolated_env, zendesk, capsys):
    from imago_core.cli.staff import main

    zendesk.suspend_user("visitor0@example.org")
    view = record()[0]
    report = deliver_pending(backend_for(zendesk.url))
    assert report.delivered == 1

    (ticket,) = zendesk.tickets
    assert ticket["external_id"] == view.reference
    assert ticket["requester"] == {"email": zendesk.email}  # not the suspended user
    assert "visitor0@example.org" in ticket["description"] and "suspended" in ticket["description"]
    assert "requester_suspended" in ticket["tags"]
    assert [c.headers["idempotency-key"] for c in zendesk.creates()] == [view.reference,
                                                                         f"{view.reference}/no-requester"]
    row = row_for(view.reference)
    assert row.delivery_state is DeliveryState.DELIVERED and row.filed_without_requester
    assert "suspended" in row.needs_attention
    assert json.loads(row.last_error_details)["requester"][0]["error"] == "UserSuspended"
    assert "visitor0@example.org" not in row.last_error_details
    assert len(audit_events("requester_suspended")) == 1

    assert main(["show", view.reference]) == 0
    shown = capsys.readouterr().out
    assert "ATTENTION: requester suspended" in shown
    assert "requester: UserSuspended" in shown
    main(["list"])
    assert "ATTENTION" in capsys.readouterr().out


def test_suspended_requester_fallback_answer_lost_is_found_not_duplicated(isolated_env, zendesk):
    zendesk.suspend_user("visitor0@example.org")
    backend = backend_for(zendesk.url, timeout=0.5)
    view = record()[0]
    backend.find_by_reference("PRV-WARMUP")
    # First create: 422 (answered). Second (the fallback) stalls after making the ticket.
    original_create = backend.create
    calls = []

    def create(draft):
        calls.append(draft.requester_email)
        if len(calls) == 2:
            zendesk.inject("stall", stall_seconds=1.5)
        return original_create(draft)

    backend.create = create
    assert deliver_pending(backend).pending == 1
    make_due_now()
    assert deliver_pending(backend).delivered == 1
    assert len(zendesk.tickets) == 1 and row_for(view.reference).filed_without_requester


def test_refusal_keeps_details_fails_with_reason_and_retry_puts_it_back(isolated_env, zendesk, capsys, monkeypatch):
    import imago_core.delivery.outbox as delivery
    from imago_core.cli.staff import main

    view = record_request("not-an-address", RequestType.ACCESS, None, "socketio", "c", backend="zendesk")
    deliver_pending(backend_for(zendesk.url))
    row = row_for(view.reference)
    assert row.delivery_state is DeliveryState.FAILED
    assert "HTTP 422 RecordInvalid" in row.last_error and "requester: InvalidValue" in row.last_error
    assert json.loads(row.last_error_details) == {
        "requester": [{"error": "InvalidValue", "description": "Requester: Email <value sent> is invalid"}]}

    main(["show", view.reference])
    shown = capsys.readouterr().out
    assert "requester: InvalidValue: Requester: Email <value sent> is invalid" in shown
    assert f"imago-requests deliver --retry {view.reference}" in shown

    # A retry while the cause is still there fails again, with the reason printed.
    monkeypatch.setattr(delivery, "configured_backend", lambda: backend_for(zendesk.url))
    assert main(["deliver", "--retry", view.reference]) == 1
    assert f"{view.reference}: failed: Zendesk create ticket" in capsys.readouterr().out

    # Staff fix the address (here: in the database, body recomposed) and retry from the CLI.
    with session_scope() as session:
        session.execute(update(PrivacyRequest).values(email="fixed@example.org", ticket_body=None))
    assert main(["deliver", "--retry", view.reference.lower(), "--by", "alice"]) == 0
    assert f"{view.reference}: delivered (ticket 1)" in capsys.readouterr().out
    retries = audit_events("delivery_retry_requested")
    assert retries[-1].actor.startswith("staff:alice (os ") and "HTTP 422" in retries[-1].detail
    assert row_for(view.reference).last_error_details is None


def test_retry_refuses_unknown_and_delivered_requests(isolated_env, zendesk, capsys):
    from imago_core.cli.staff import main

    view = record()[0]
    deliver_pending(backend_for(zendesk.url))
    assert main(["deliver", "--retry", "PRV-NOSUCH"]) == 2
    assert main(["deliver", "--retry", view.reference]) == 2
    assert "already delivered" in capsys.readouterr().err


def test_hold_is_in_progress_for_the_visitor(isolated_env, zendesk):
    backend = backend_for(zendesk.url)
    record()
    deliver_pending(backend)
    zendesk.set_status(int(rows()[0].external_id), "hold")
    refresh_statuses("visitor0@example.org", backend)
    assert requests_for("visitor0@example.org")[0].status is RequestStatus.IN_PROGRESS


def test_a_deleted_ticket_is_reported_to_staff_and_shown_as_with_the_privacy_team(isolated_env, zendesk, caplog):
    backend = backend_for(zendesk.url)
    view = record()[0]
    deliver_pending(backend)
    zendesk.delete(int(rows()[0].external_id))

    refresh_statuses("visitor0@example.org", backend)
    refresh_statuses("visitor0@example.org", backend)  # reported once, not on every read

    assert requests_for("visitor0@example.org")[0].status is RequestStatus.WITH_PRIVACY_TEAM
    assert RequestStatus.WITH_PRIVACY_TEAM.value == "with the privacy team"
    row = row_for(view.reference)
    assert "not found" in row.needs_attention and "404" in row.needs_attention
    assert len(audit_events("ticket_missing")) == 1
    assert "gone from zendesk" in caplog.text


def test_an_unexpected_error_keeps_the_request_pending_with_a_reason(isolated_env, zendesk):
    backend = backend_for(zendesk.url)
    record(2)

    def broken(draft):
        raise KeyError("bug")

    original, backend.create = backend.create, broken
    report = deliver_pending(backend)
    assert (report.delivered, report.pending, report.failed) == (0, 2, 0)  # both rows tried
    assert all("unexpected error (KeyError)" in r.last_error for r in rows())
    backend.create = original
    make_due_now()
    assert deliver_pending(backend).delivered == 2
