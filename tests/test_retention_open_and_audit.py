"""Issue 23, finding 10: escalations still waiting for, or with, staff do not stay
forever, and audit rows older than the request retention are pseudonymised."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent, Escalation, EscalationStatus
from imago_core.requests.retention import purge
from imago_core.settings import get_settings, reset_settings_cache

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)


def escalation(reference, status, updated):
    with session_scope() as session:
        session.add(Escalation(reference=reference, conversation_id=f"conv-{reference}", reason="asked",
                               verified_email="ada@example.org", transcript='[{"who": "visitor", "text": "hi"}]',
                               created_at=updated, updated_at=updated, status=status))


def references():
    with session_scope() as session:
        return set(session.execute(select(Escalation.reference)).scalars())


def test_open_escalations_have_a_retention_limit(tracker_db):
    days = get_settings().open_escalation_retention_days
    assert days == 90  # the default (.env.example)
    escalation("ESC-WAIT01", EscalationStatus.WAITING, NOW - timedelta(days=days + 1))
    escalation("ESC-STAF01", EscalationStatus.WITH_STAFF, NOW - timedelta(days=days + 1))
    escalation("ESC-WAIT02", EscalationStatus.WAITING, NOW - timedelta(days=days - 1))
    escalation("ESC-STAF02", EscalationStatus.WITH_STAFF, NOW - timedelta(days=40))  # past the resolved limit
    report = purge(now=NOW)
    assert references() == {"ESC-WAIT02", "ESC-STAF02"}
    assert report.removed["open escalations"] == 2


def test_open_escalation_retention_is_at_least_the_conversation_retention(isolated_env, monkeypatch):
    import pytest

    from imago_core.settings import ConfigError

    monkeypatch.setenv("OPEN_ESCALATION_RETENTION_DAYS", "10")
    reset_settings_cache()
    with pytest.raises(ConfigError, match="OPEN_ESCALATION_RETENTION_DAYS"):
        get_settings()


def test_audit_rows_are_pseudonymised_after_the_request_retention(tracker_db):
    old = NOW - timedelta(days=get_settings().request_retention_days + 1)
    recent = NOW - timedelta(days=10)
    for at in (old, recent):
        audit.record("status_changed", conversation_id="web:0123456789abcdef", address_key="a" * 64,
                     actor="staff:alice", detail={"from": "received", "to": "completed", "note": "Ada called, tel 0170"})
    with session_scope() as session:
        rows = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        rows[0].at, rows[1].at = old, recent
    report = purge(now=NOW)
    with session_scope() as session:
        rows = session.execute(select(AuditEvent).where(AuditEvent.event == "status_changed")
                               .order_by(AuditEvent.id)).scalars().all()
    first, second = rows
    assert first.address_key is None and first.conversation_id is None
    assert json.loads(first.detail) == {"from": "received", "to": "completed"}  # the events stay, the note goes
    assert first.actor == "staff:alice" and first.at == old
    assert second.address_key == "a" * 64 and "note" in json.loads(second.detail)
    assert report.removed["audit rows pseudonymised"] == 1
    assert purge(now=NOW).removed["audit rows pseudonymised"] == 0  # once
