"""Recording requests, due dates, references and the staff command-line tool."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent, PrivacyRequest, RequestStatus, RequestType
from imago_core.requests.records import (
    REFERENCE_ALPHABET,
    new_reference,
    record_request,
    requests_for,
    set_status,
)
from imago_core.cli.staff import main as staff_cli
from imago_core.requests.clock_store import due_day
from imago_core.requests.clocks import Clock

UTC = timezone.utc


@pytest.mark.parametrize("received, request_type, due", [
    # GDPR's month ends Saturday 28 Feb and moves to Monday (Reg. 1182/71 Art. 3(4)); PDPO's 40 days are later.
    (datetime(2026, 1, 31, 12, tzinfo=UTC), RequestType.ACCESS, date(2026, 3, 2)),
    (datetime(2028, 1, 31, 12, tzinfo=UTC), RequestType.DELETION, date(2028, 2, 29)),
    (datetime(2026, 11, 29, 9, tzinfo=UTC), RequestType.CORRECTION, date(2026, 12, 29)),
    # PDPO s.35G: a marketing opt-out is due the day it arrives, in Hong Kong (already 2 Dec there).
    (datetime(2026, 12, 1, 20, tzinfo=UTC), RequestType.MARKETING_OPTOUT, date(2026, 12, 2)),
])
def test_recorded_due_date_is_the_clocks_earliest(isolated_env, received, request_type, due):
    view = record_request("due@example.org", request_type, None, "rest", "c-due", now=received)
    with session_scope() as session:
        row = session.execute(select(PrivacyRequest).where(PrivacyRequest.reference == view.reference)).scalar_one()
        assert due_day(row.due_at) == due
        assert Clock.from_json(row.clock).due == due and row.regimes == "gdpr,pdpo"
        assert row.due_at > row.received_at


def test_references_are_short_and_unambiguous():
    refs = {new_reference() for _ in range(500)}
    assert len(refs) == 500
    for ref in refs:
        assert ref.startswith("PRV-") and len(ref) == 10
        assert set(ref[4:]) <= set(REFERENCE_ALPHABET)
    assert not set("01OIL") & set(REFERENCE_ALPHABET)


def test_record_writes_every_field(isolated_env):
    now = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
    view = record_request("a@example.org", RequestType.CORRECTION, "name is wrong", "socketio", "conv-9", now=now)
    with session_scope() as session:
        row = session.execute(select(PrivacyRequest)).scalar_one()
        events = [e.event for e in session.execute(select(AuditEvent)).scalars()]
    assert (row.reference, row.request_type, row.email, row.details, row.channel, row.conversation_id) == \
        (view.reference, RequestType.CORRECTION, "a@example.org", "name is wrong", "socketio", "conv-9")
    # The last second of 29 December in Hong Kong (requests/clock_store.py: due_moment).
    assert row.received_at == now and row.due_at == datetime(2026, 12, 29, 15, 59, 59, tzinfo=UTC)
    assert row.status is RequestStatus.RECEIVED
    assert events == ["request_recorded"]


def test_closed_request_allows_a_new_one_of_the_same_type(isolated_env):
    first = record_request("a@example.org", RequestType.ACCESS, None, "rest", "c")
    set_status(first.reference, RequestStatus.COMPLETED)
    second = record_request("a@example.org", RequestType.ACCESS, None, "rest", "c")
    assert second.reference != first.reference and not second.duplicate


def test_requests_for_is_per_address(isolated_env):
    record_request("a@example.org", RequestType.ACCESS, None, "rest", "c")
    record_request("b@example.org", RequestType.ACCESS, None, "rest", "c")
    assert [v.request_type for v in requests_for("a@example.org")] == [RequestType.ACCESS]
    assert len(requests_for("c@example.org")) == 0


def test_set_status_audits_the_change(isolated_env):
    view = record_request("a@example.org", RequestType.ACCESS, None, "rest", "c")
    set_status(view.reference.lower(), RequestStatus.IN_PROGRESS, actor="staff:alice")
    with session_scope() as session:
        event = session.execute(select(AuditEvent).where(AuditEvent.event == "status_changed")).scalar_one()
    assert event.actor == "staff:alice" and '"to": "in progress"' in event.detail
    with pytest.raises(LookupError):
        set_status("PRV-ZZZZZZ", RequestStatus.COMPLETED)


def test_staff_cli_lists_filters_shows_and_changes_status(isolated_env, capsys):
    old = record_request("late@example.org", RequestType.DELETION, None, "rest", "c",
                         now=datetime(2020, 1, 1, tzinfo=UTC))
    new = record_request("new@example.org", RequestType.EXPORT, None, "rest", "c")

    assert staff_cli(["list"]) == 0
    out = capsys.readouterr().out
    assert old.reference in out and new.reference in out and "OVERDUE" in out

    assert staff_cli(["list", "--overdue"]) == 0
    out = capsys.readouterr().out
    assert old.reference in out and new.reference not in out

    assert staff_cli(["list", "--type", "export"]) == 0
    assert new.reference in capsys.readouterr().out

    assert staff_cli(["set-status", new.reference, "in-progress", "--by", "alice"]) == 0
    assert "in progress" in capsys.readouterr().out
    assert staff_cli(["list", "--status", "in_progress"]) == 0
    out = capsys.readouterr().out
    assert new.reference in out and old.reference not in out

    assert staff_cli(["show", new.reference]) == 0
    out = capsys.readouterr().out
    assert "request_recorded" in out and "status_changed" in out and "staff:alice" in out


def test_staff_cli_reports_bad_input_clearly(isolated_env, capsys):
    assert staff_cli(["show", "PRV-NOPE22"]) == 2
    assert "no request with reference" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        staff_cli(["list", "--status", "bogus"])
    assert "unknown status" in capsys.readouterr().err


def _parallel_identical_requests(count: int):
    """`count` threads file the same request at the same moment; returns their views."""
    import threading

    barrier = threading.Barrier(count)
    views, errors = [], []

    def file_one(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            views.append(record_request("Race@Example.org" if i % 2 else "race@example.org",
                                        RequestType.DELETION, None, "rest", f"conv-{i}"))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=file_one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return views


def assert_one_reference_for_parallel_requests(count: int = 12, rows_before: int = 0) -> None:
    from sqlalchemy import func, select

    from imago_core.storage.db import session_scope
    from imago_core.storage.models import PrivacyRequest

    views = _parallel_identical_requests(count)
    assert len(views) == count
    assert len({v.reference for v in views}) == 1, sorted({v.reference for v in views})
    assert sum(not v.duplicate for v in views) == 1
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(PrivacyRequest)).scalar_one() == rows_before + 1


def test_parallel_identical_requests_get_one_reference_on_sqlite(isolated_env):
    assert_one_reference_for_parallel_requests()


def test_a_closed_request_frees_its_type_for_a_new_one(isolated_env):
    from imago_core.requests.records import set_status

    first = record_request("again@example.org", RequestType.EXPORT, None, "rest", "c1")
    set_status(first.reference, RequestStatus.COMPLETED)
    second = record_request("again@example.org", RequestType.EXPORT, None, "rest", "c2")
    assert not second.duplicate and second.reference != first.reference
    assert record_request("again@example.org", RequestType.EXPORT, None, "rest", "c3").reference == second.reference


@contextmanager
def older_release_database(tmp_path, monkeypatch, *statements: str):
    """The project's database as an older release left it (built by `statements`),
    with the settings and engine pointed at it for the duration."""
    from sqlalchemy import create_engine

    from imago_core.storage import db as db_module
    from imago_core.settings import reset_settings_cache

    path = tmp_path / "old.db"
    old = create_engine(f"sqlite:///{path}")
    with old.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    old.dispose()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("OTP_SECRET", "test-secret-0123456789-abcdefghij")
    reset_settings_cache()
    db_module.reset_engine()
    try:
        yield db_module.get_engine()
    finally:
        db_module.reset_engine()
        reset_settings_cache()


def test_a_database_from_an_older_release_gets_the_new_columns(tmp_path, monkeypatch):
    """A privacy_requests table as the first release made it: the new nullable columns are
    added in place (with the unique open-request index), rows kept, and the rule holds."""
    from sqlalchemy import inspect

    with older_release_database(
        tmp_path, monkeypatch,
        "CREATE TABLE privacy_requests (id INTEGER PRIMARY KEY, reference VARCHAR(16) NOT NULL UNIQUE, "
        "request_type VARCHAR(32) NOT NULL, email VARCHAR(320) NOT NULL, details TEXT, channel VARCHAR(64), "
        "conversation_id VARCHAR(255), received_at DATETIME NOT NULL, due_at DATETIME NOT NULL, "
        "status VARCHAR(32) NOT NULL, status_changed_at DATETIME, backend VARCHAR(32) NOT NULL, "
        "delivery_state VARCHAR(32) NOT NULL, external_id VARCHAR(64), delivery_attempts INTEGER NOT NULL, "
        "next_attempt_at DATETIME, last_error VARCHAR(255))",
        "INSERT INTO privacy_requests VALUES (1, 'PRV-OLD234', 'access', 'old@example.org', NULL, 'rest', 'c0', "
        "'2026-01-01 00:00:00', '2026-02-01 00:00:00', 'completed', NULL, 'local', 'not_needed', NULL, 0, NULL, NULL)",
    ) as engine:
        columns = {c["name"] for c in inspect(engine).get_columns("privacy_requests")}
        assert "open_key" in columns
        assert_one_reference_for_parallel_requests(6, rows_before=1)


def test_an_old_escalations_table_gains_the_delivery_columns(tmp_path, monkeypatch):
    """An escalations table from before the outbox: the NOT NULL delivery columns are added
    with their defaults (rows already there get them), plus the delivery index, and the
    old row is readable and deliverable through the new columns."""
    from sqlalchemy import inspect

    from imago_core.storage import db as db_module
    from imago_core.storage.models import DeliveryState, Escalation

    with older_release_database(
        tmp_path, monkeypatch,
        "CREATE TABLE escalations (id INTEGER PRIMARY KEY, reference VARCHAR(16) NOT NULL UNIQUE, "
        "conversation_id VARCHAR(255) NOT NULL, channel VARCHAR(64), reason VARCHAR(64) NOT NULL, "
        "verified_email VARCHAR(320), open_requests TEXT, transcript TEXT NOT NULL, "
        "created_at DATETIME NOT NULL, status VARCHAR(32) NOT NULL, updated_at DATETIME NOT NULL, "
        "external_id VARCHAR(64))",
        "INSERT INTO escalations VALUES (1, 'ESC-OLD234', 'rest:c0', 'rest', 'asked', NULL, '[]', '[]', "
        "'2026-01-01 00:00:00', 'waiting', '2026-01-01 00:00:00', NULL)",
    ) as engine:
        inspector = inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("escalations")}
        for name in ("backend", "delivery_state", "delivery_attempts", "next_attempt_at", "last_error"):
            assert name in columns
        assert not columns["delivery_state"]["nullable"] and not columns["delivery_attempts"]["nullable"]
        assert "ix_escalations_delivery" in {i["name"] for i in inspector.get_indexes("escalations")}
        with session_scope() as session:
            row = session.execute(select(Escalation)).scalar_one()
            assert (row.backend, row.delivery_state, row.delivery_attempts) == ("local", DeliveryState.NOT_NEEDED, 0)
            row.delivery_state = DeliveryState.PENDING
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT delivery_state FROM escalations").scalar() == "pending"
        # Run again on the upgraded database: nothing left to add.
        assert db_module.add_missing_columns(engine, Escalation.metadata) == []


def test_a_not_null_column_without_a_scalar_default_is_refused(tmp_path):
    from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

    from imago_core.storage.db import add_missing_columns

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    metadata = MetaData()
    Table("things", metadata, Column("id", Integer, primary_key=True),
          Column("label", String(8), nullable=False, default=lambda: "x"))
    with pytest.raises(RuntimeError, match="no scalar default"):
        add_missing_columns(engine, metadata)
    engine.dispose()
