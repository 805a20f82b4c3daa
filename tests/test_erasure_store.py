"""Issue 23, finding 6: erasure and the purge never silently do nothing. The tracker
store's location is required where they run, and a store without an events table is
an error, not zero rows; the audit log never says "erased" for such a run."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from imago_core.cli import staff as staff_cli
from imago_core.storage import conversations as conversation_store
from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent, PrivacyRequest, RequestType, VerifiedConversation, utcnow
from imago_core.requests.records import record_request
from imago_core.requests.retention import purge
from imago_core.settings import ConfigError, reset_settings_cache
from tests.support.net import free_port
from tests.support.stack import ACTION_SERVER_TOKEN, ROOT

JANE = "jane@example.org"


def verified_deletion(conversation_id="conv-jane01"):
    now = utcnow()
    with session_scope() as session:
        session.add(VerifiedConversation(conversation_id=conversation_id, email=JANE, verified_at=now,
                                         expires_at=now + timedelta(minutes=30)))
    return record_request(JANE, RequestType.DELETION, None, "rest", conversation_id)


def audit_events():
    with session_scope() as session:
        return list(session.execute(select(AuditEvent.event).order_by(AuditEvent.id)).scalars())


@pytest.fixture(params=["no file", "no events table"])
def storeless(request, isolated_env, monkeypatch):
    """TRACKER_STORE_URL names a SQLite file that does not exist, or one without Rasa's table."""
    path = isolated_env / "elsewhere" / "tracker.db"
    if request.param == "no events table":
        path.parent.mkdir()
        sqlite3.connect(path).execute("create table other (id integer)").connection.close()
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    yield path
    conversation_store.dispose_engines()


def test_completing_a_deletion_against_a_store_without_events_fails_loudly(storeless, capsys):
    existed = storeless.exists()
    deletion = verified_deletion()
    assert staff_cli.main(["set-status", deletion.reference, "completed", "--by", "alice"]) != 0
    err = capsys.readouterr().err
    assert "NOT erased" in err and "TRACKER_STORE_URL" in err and JANE not in err
    events = audit_events()
    assert "assistant_data_erased" not in events and "assistant_data_erasure_failed" in events
    with session_scope() as session:
        # Nothing half-done: the link from the address to its conversations stays, so a
        # second try (once the store is fixed) finds them.
        assert session.execute(select(VerifiedConversation.email)).scalars().all() == [JANE]
        row = session.execute(select(PrivacyRequest)).scalar_one()
        assert "not erased" in (row.needs_attention or "")
    assert storeless.exists() == existed  # no empty SQLite file made on the way


def test_purge_against_a_store_without_events_fails_loudly(storeless, capsys):
    with pytest.raises(conversation_store.TrackerStoreMissing, match="TRACKER_STORE_URL"):
        purge()
    assert staff_cli.main(["purge"]) == 2
    assert "TRACKER_STORE_URL" in capsys.readouterr().err
    assert "retention_purge" not in audit_events()


def test_tracker_store_url_is_required_where_erasure_runs(isolated_env, monkeypatch):
    monkeypatch.delenv("TRACKER_STORE_URL", raising=False)
    reset_settings_cache()
    with pytest.raises(ConfigError, match="TRACKER_STORE_URL is not set"):
        conversation_store.tracker_engine()
    with pytest.raises(ConfigError, match="TRACKER_STORE_URL is not set"):
        purge()


def test_action_server_without_tracker_store_url_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRACKER_STORE_URL"}
    env.update(IMAGO_DOTENV="off", RASA_TELEMETRY_ENABLED="false", PYTHONPATH=str(ROOT),
               DATABASE_URL=f"sqlite:///{tmp_path / 'imago.db'}", OTP_SECRET="e2e-test-secret-0123456789abcdef",
               ACTION_SERVER_TOKEN=ACTION_SERVER_TOKEN)
    process = subprocess.Popen([sys.executable, "-m", "actions.server", "--port", str(free_port())], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail("the action server started without TRACKER_STORE_URL:\n" + output[-2000:])
    assert process.returncode != 0
    assert "TRACKER_STORE_URL is not set" in output
