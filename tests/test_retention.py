"""Retention with an injected clock: after the period nothing of an old conversation
remains (tracker events and project rows); recent ones are untouched. Conversations
are written by the real tracker store, then purged by plain SQL."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import func, select

from imago_core.cli import staff as staff_cli
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    AuditEvent,
    CodeSend,
    Escalation,
    EscalationStatus,
    OneTimeCode,
    PrivacyRequest,
    RequestDraft,
    RequestStatus,
    RequestType,
    VerifiedConversation,
)
from imago_core.requests.deadlines import due_date
from imago_core.requests.retention import purge
from imago_core.settings import ConfigError, get_settings, reset_settings_cache
from extensions.tracker_store import RedactingSQLTrackerStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


async def write_conversation(path, sender: str, at: datetime, turns: int = 3) -> None:
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    events = []
    for turn in range(turns):
        stamp = at.timestamp() + turn
        events += [UserUttered(f"message {turn} of {sender}", timestamp=stamp),
                   ActionExecuted("utter_answer", timestamp=stamp), BotUttered("an answer", timestamp=stamp),
                   ActionExecuted("action_listen", timestamp=stamp)]
    await store.save(DialogueStateTracker.from_events(sender, events))
    store.engine.dispose()


def tracker_senders(path):
    with sqlite3.connect(path) as db:
        return {row[0]: row[1] for row in db.execute("select sender_id, count(*) from events group by sender_id")}


def add_project_rows(email: str, conversation: str, at: datetime, request_status=RequestStatus.COMPLETED,
                     escalation_status=EscalationStatus.HANDED_BACK):
    with session_scope() as session:
        session.add_all([
            RequestDraft(conversation_id=conversation, email=email, request_type=RequestType.ACCESS, created_at=at),
            VerifiedConversation(conversation_id=conversation, email=email, verified_at=at,
                                 expires_at=at + timedelta(minutes=30)),
            OneTimeCode(conversation_id=conversation, address_key="k" * 64, code_hash="h" * 64, created_at=at,
                        expires_at=at + timedelta(minutes=10)),
            CodeSend(conversation_id=conversation, address_key="k" * 64, sent_at=at),
            Escalation(reference=f"ESC-{conversation[-6:].upper()}", conversation_id=conversation, reason="asked",
                       verified_email=email, transcript="[]", created_at=at, updated_at=at,
                       status=escalation_status),
            PrivacyRequest(reference=f"PRV-{conversation[-6:].upper()}", request_type=RequestType.ACCESS,
                           email=email, conversation_id=conversation, received_at=at, due_at=due_date(at),
                           status=request_status, status_changed_at=at),
        ])


def counts():
    with session_scope() as session:
        return {model.__tablename__: session.execute(select(func.count(model.id))).scalar_one()
                for model in (RequestDraft, VerifiedConversation, OneTimeCode, CodeSend, Escalation, PrivacyRequest)}


async def test_old_conversation_is_gone_and_recent_one_untouched(tracker_db):
    await write_conversation(tracker_db, "old-aaaaaa", NOW - timedelta(days=31))
    await write_conversation(tracker_db, "new-bbbbbb", NOW - timedelta(days=29))
    # Started long ago, but the visitor came back yesterday: still in use.
    await write_conversation(tracker_db, "back-cccccc", NOW - timedelta(days=90))
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tracker_db))
    tracker = await store.retrieve("back-cccccc")
    tracker.update(UserUttered("I'm back", timestamp=(NOW - timedelta(days=1)).timestamp()))
    await store.save(tracker)
    store.engine.dispose()
    add_project_rows("old@example.org", "old-aaaaaa", NOW - timedelta(days=31))
    add_project_rows("new@example.org", "new-bbbbbb", NOW - timedelta(days=29))
    with session_scope() as session:  # verified 90 days ago, in the conversation still kept
        session.add(VerifiedConversation(conversation_id="back-cccccc", email="back@example.org",
                                         verified_at=NOW - timedelta(days=90), expires_at=NOW - timedelta(days=90)))
    before = tracker_senders(tracker_db)

    report = purge(now=NOW, batch_size=2)

    assert tracker_senders(tracker_db) == {"new-bbbbbb": before["new-bbbbbb"], "back-cccccc": before["back-cccccc"]}
    assert report.removed["conversations"] == 1 and report.removed["conversation events"] == before["old-aaaaaa"]
    with session_scope() as session:
        for model in (RequestDraft, OneTimeCode, CodeSend, Escalation):
            assert set(session.execute(select(model.conversation_id)).scalars()) == {"new-bbbbbb"}, model
        # A verification stays as long as its conversation: export and erasure find it by it.
        assert set(session.execute(select(VerifiedConversation.conversation_id)).scalars()) == \
            {"new-bbbbbb", "back-cccccc"}
    # Request records follow REQUEST_RETENTION_DAYS (1095 after completion), so both stay.
    assert counts()["privacy_requests"] == 2
    assert report.removed["drafts"] == report.removed["escalations"] == 1


async def test_request_records_stay_until_their_own_period_after_completion(tracker_db):
    add_project_rows("a@example.org", "conv-aaaaaa", NOW - timedelta(days=1096))  # completed long ago
    add_project_rows("b@example.org", "conv-bbbbbb", NOW - timedelta(days=1094))  # completed, not yet due
    add_project_rows("c@example.org", "conv-cccccc", NOW - timedelta(days=2000),  # still open: kept
                     request_status=RequestStatus.IN_PROGRESS, escalation_status=EscalationStatus.WAITING)
    with session_scope() as session:
        request_id = session.execute(select(PrivacyRequest.id).where(
            PrivacyRequest.reference == "PRV-AAAAAA")).scalar_one()
        session.add(AuditEvent(event="status_changed", request_id=request_id, at=NOW - timedelta(days=1096)))

    report = purge(now=NOW)

    with session_scope() as session:
        assert set(session.execute(select(PrivacyRequest.reference)).scalars()) == {"PRV-BBBBBB", "PRV-CCCCCC"}
        # An escalation still waiting for staff goes after OPEN_ESCALATION_RETENTION_DAYS
        # (issue 23; tests/test_retention_open_and_audit.py), even when its request is open.
        assert set(session.execute(select(Escalation.reference)).scalars()) == set()
        # The audit log outlives the request: its event stays, the link becomes empty.
        events = session.execute(select(AuditEvent.event, AuditEvent.request_id)).all()
    assert ("status_changed", None) in events
    assert ("retention_purge", None) in events
    assert report.removed["requests"] == 1


async def test_dry_run_counts_and_removes_nothing(tracker_db, capsys):
    await write_conversation(tracker_db, "old-dddddd", NOW - timedelta(days=40))
    add_project_rows("old@example.org", "old-dddddd", NOW - timedelta(days=40))
    before_rows, before_events = counts(), tracker_senders(tracker_db)

    report = purge(now=NOW, dry_run=True)

    assert report.removed["conversations"] == 1 and report.removed["conversation events"] == 12
    assert report.removed["drafts"] == report.removed["verifications"] == 1
    assert counts() == before_rows and tracker_senders(tracker_db) == before_events


async def test_cli_purge_prints_what_it_removed_by_kind(tracker_db, capsys):
    # The CLI purges as of the real clock: a conversation from two months ago is due.
    await write_conversation(tracker_db, "cli-eeeeee", datetime.now(timezone.utc) - timedelta(days=60))
    assert staff_cli.main(["purge", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "would remove        1 conversations" in dry and "would remove       12 conversation events" in dry
    assert tracker_senders(tracker_db) == {"cli-eeeeee": 12}

    assert staff_cli.main(["purge"]) == 0
    out = capsys.readouterr().out
    assert "removed        1 conversations" in out and "removed        0 requests" in out
    assert tracker_senders(tracker_db) == {}


def test_purge_of_a_store_without_conversations_removes_nothing(tracker_db):
    # A store without the events table is an error (tests/test_erasure_store.py).
    assert purge(now=NOW).removed["conversations"] == 0


def test_request_retention_below_45_days_is_refused(isolated_env, monkeypatch):
    monkeypatch.setenv("REQUEST_RETENTION_DAYS", "44")
    reset_settings_cache()
    with pytest.raises(ConfigError, match=r"REQUEST_RETENTION_DAYS=44 is too short: it must be at least 45 days"):
        get_settings()
    monkeypatch.setenv("REQUEST_RETENTION_DAYS", "45")
    reset_settings_cache()
    assert get_settings().request_retention_days == 45


def test_cli_purge_refuses_a_too_short_request_retention(isolated_env, monkeypatch, capsys):
    monkeypatch.setenv("REQUEST_RETENTION_DAYS", "30")
    reset_settings_cache()
    assert staff_cli.main(["purge"]) == 2
    assert "REQUEST_RETENTION_DAYS=30 is too short" in capsys.readouterr().err


def test_retention_defaults(isolated_env):
    settings = get_settings()
    assert (settings.conversation_retention_days, settings.request_retention_days) == (30, 1095)


def test_audit_log_of_a_purge_holds_counts_only(tracker_db):
    add_project_rows("someone@example.org", "conv-ffffff", NOW - timedelta(days=40))
    purge(now=NOW)
    with session_scope() as session:
        detail = session.execute(select(AuditEvent.detail).where(AuditEvent.event == "retention_purge")).scalar_one()
    assert "@" not in detail and json.loads(detail)["drafts"] == 1


@pytest.mark.e2e
def test_action_server_refuses_to_start_with_a_too_short_request_retention(tmp_path):
    import os
    import subprocess

    from tests.support.net import free_port
    from tests.support.stack import ROOT, VENV_BIN

    env = {**os.environ, "REQUEST_RETENTION_DAYS": "10", "IMAGO_DOTENV": "off", "RASA_TELEMETRY_ENABLED": "false",
           "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'imago.db'}",
           "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}"}
    result = subprocess.run([str(VENV_BIN / "rasa"), "run", "actions", "--port", str(free_port()), "--actions",
                             "actions"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "REQUEST_RETENTION_DAYS=10 is too short: it must be at least 45 days" in result.stdout + result.stderr
