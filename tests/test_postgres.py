"""The project's records and the redacting tracker store on a real PostgreSQL
(the production database), not only SQLite."""
from __future__ import annotations

import re
import threading
import uuid

import pytest
from sqlalchemy import func, select

from imago_core.storage import db as db_module
from imago_core.storage.db import session_scope
from imago_core.delivery.outbox import _claim
from imago_core.requests.tickets import REQUEST_KIND
from imago_core.storage.models import OneTimeCode, PrivacyRequest, RequestType
from imago_core.requests.records import record_request
from imago_core.settings import reset_settings_cache
from imago_core.identity.codes import CheckStatus, SendStatus, Verifier
from tests.support.services import postgres  # noqa: F401 - session fixture
from tests.test_verification import RecordingMailer
from tests.support.trackers import stored_event_text


@pytest.fixture
def pg_env(isolated_env, postgres, monkeypatch):  # noqa: F811
    url = postgres.create_database(f"imago_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings_cache()
    db_module.reset_engine()
    yield url
    db_module.reset_engine()


def test_schema_is_created_on_postgresql(pg_env):
    engine = db_module.get_engine()
    assert engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        tables = {row[0] for row in connection.exec_driver_sql(
            "select tablename from pg_tables where schemaname = 'public'")}
    assert {"one_time_codes", "code_sends", "privacy_requests", "audit_events", "escalations"} <= tables


def test_verification_and_requests_on_postgresql(pg_env):
    mailer = RecordingMailer()
    verifier = Verifier(b"postgres-test-secret-0123456789", mailer)
    assert verifier.request_code("c1", "pg@example.org").status is SendStatus.SENT
    code = re.search(r"\d{6}", mailer.sent[-1][2]).group(0)
    assert verifier.check_code("c1", "pg@example.org", code).status is CheckStatus.VERIFIED
    with session_scope() as session:
        assert code not in str(session.execute(select(OneTimeCode.code_hash)).scalar_one())
    first = record_request("pg@example.org", RequestType.EXPORT, None, "rest", "c1", backend="zendesk")
    again = record_request("pg@example.org", RequestType.EXPORT, None, "rest", "c1", backend="zendesk")
    assert again.duplicate and again.reference == first.reference
    with session_scope() as session:
        row = session.execute(select(PrivacyRequest)).scalar_one()
        assert row.received_at.tzinfo is not None and row.due_at > row.received_at


def test_concurrent_delivery_loops_claim_each_row_once(pg_env):
    for n in range(10):
        record_request(f"u{n}@example.org", RequestType.ACCESS, None, "rest", f"c{n}", backend="zendesk")
    with session_scope() as session:
        due = session.execute(select(PrivacyRequest.id, PrivacyRequest.next_attempt_at)).all()
    wins = []
    lock = threading.Lock()
    from imago_core.storage.models import utcnow

    def loop():
        for request_id, seen in due:
            if _claim(REQUEST_KIND, request_id, seen, utcnow()):
                with lock:
                    wins.append(request_id)

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(r for r, _ in due)  # every row claimed, none twice
    with session_scope() as session:
        assert session.execute(select(func.sum(PrivacyRequest.delivery_attempts))).scalar() == 10


async def test_tracker_store_masks_codes_on_postgresql(postgres):  # noqa: F811
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from extensions.tracker_store import RedactingSQLTrackerStore

    name = f"tracker_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="postgresql", host="127.0.0.1", port=postgres.port,
                                     db=name, username=postgres.user)
    tracker = DialogueStateTracker.from_events("pg-conv", [
        ActionExecuted("action_listen"), UserUttered("delete my data"),
        SlotSet("requested_slot", "email"), UserUttered("jane@example.org 123456 is my zip"),
        SlotSet("requested_slot", "otp_code"), UserUttered("the code is 482913"),
        SlotSet("otp_code", "482913"),
    ])
    await store.save(tracker)
    with store.session_scope() as session:
        stored = stored_event_text(row.data for row in session.query(store.SQLEvent).filter_by(sender_id="pg-conv"))
    assert "482913" not in stored and "the code is ******" in stored
    assert "123456 is my zip" in stored  # only answers to the code question are masked
    restored = await store.retrieve("pg-conv")
    assert restored.latest_message.text == "the code is ******"


def test_parallel_identical_requests_get_one_reference_on_postgresql(pg_env):
    from tests.test_privacy_requests import assert_one_reference_for_parallel_requests

    assert_one_reference_for_parallel_requests()


def test_an_old_escalations_table_gains_the_delivery_columns_on_postgresql(pg_env):
    """As on SQLite (tests/test_privacy_requests.py): the NOT NULL delivery columns are
    added with `NOT NULL DEFAULT <literal>`, the row already there gets the defaults."""
    from sqlalchemy import create_engine, inspect

    from imago_core.storage.models import DeliveryState, Escalation

    old = create_engine(pg_env)
    with old.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE escalations (id SERIAL PRIMARY KEY, reference VARCHAR(16) NOT NULL UNIQUE, "
            "conversation_id VARCHAR(255) NOT NULL, channel VARCHAR(64), reason VARCHAR(64) NOT NULL, "
            "verified_email VARCHAR(320), open_requests TEXT, transcript TEXT NOT NULL, "
            "created_at TIMESTAMP NOT NULL, status VARCHAR(32) NOT NULL, updated_at TIMESTAMP NOT NULL, "
            "external_id VARCHAR(64))")
        connection.exec_driver_sql(
            "INSERT INTO escalations (reference, conversation_id, channel, reason, open_requests, transcript, "
            "created_at, status, updated_at) VALUES ('ESC-OLD234', 'rest:c0', 'rest', 'asked', '[]', '[]', "
            "'2026-01-01 00:00:00', 'waiting', '2026-01-01 00:00:00')")
    old.dispose()
    inspector = inspect(db_module.get_engine())
    columns = {c["name"]: c for c in inspector.get_columns("escalations")}
    assert not columns["delivery_state"]["nullable"] and not columns["backend"]["nullable"]
    assert "ix_escalations_delivery" in {i["name"] for i in inspector.get_indexes("escalations")}
    with session_scope() as session:
        row = session.execute(select(Escalation)).scalar_one()
        assert (row.backend, row.delivery_state, row.delivery_attempts) == ("local", DeliveryState.NOT_NEEDED, 0)
