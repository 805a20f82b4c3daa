"""The purge and the erasure on PostgreSQL (the production database): the tracker
store's events and the project's rows, by plain SQL, with a clock."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, text

from imago_core.storage import conversations as conversation_store
from imago_core.storage import db as db_module
from imago_core.storage.models import RequestStatus, RequestType
from imago_core.requests.records import record_request, set_status
from imago_core.requests.retention import purge
from imago_core.settings import reset_settings_cache
from extensions.tracker_store import RedactingSQLTrackerStore
from tests.support.services import postgres  # noqa: F401 - session fixture
from tests.test_retention import add_project_rows, counts

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def pg_urls(isolated_env, postgres, monkeypatch):  # noqa: F811
    project = postgres.create_database(f"imago_{uuid.uuid4().hex[:8]}")
    tracker = postgres.create_database(f"tracker_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("DATABASE_URL", project)
    monkeypatch.setenv("TRACKER_STORE_URL", tracker)
    reset_settings_cache()
    db_module.reset_engine()
    yield project, tracker
    db_module.reset_engine()
    conversation_store.dispose_engines()


async def save_conversation(url: str, sender: str, at: datetime) -> None:
    store = RedactingSQLTrackerStore(Domain.empty(), host=url)
    await store.save(DialogueStateTracker.from_events(sender, [
        UserUttered("hello", timestamp=at.timestamp()), BotUttered("hi", timestamp=at.timestamp() + 1)]))
    store.engine.dispose()


def tracker_senders(url: str):
    engine = create_engine(url)
    with engine.connect() as connection:
        senders = {row[0] for row in connection.execute(text("select distinct sender_id from events"))}
    engine.dispose()
    return senders


async def test_purge_on_postgresql(pg_urls):
    _, tracker = pg_urls
    for n in range(5):
        await save_conversation(tracker, f"old-{n:06d}", NOW - timedelta(days=31))
    await save_conversation(tracker, "new-000001", NOW - timedelta(days=1))
    add_project_rows("old@example.org", "old-000000", NOW - timedelta(days=31))
    add_project_rows("new@example.org", "new-000001", NOW - timedelta(days=1))

    report = purge(now=NOW, batch_size=2)

    assert tracker_senders(tracker) == {"new-000001"}
    assert report.removed["conversations"] == 5 and report.removed["conversation events"] == 10
    assert counts() == {"request_drafts": 1, "verified_conversations": 1, "one_time_codes": 1, "code_sends": 1,
                        "escalations": 1, "privacy_requests": 2}


async def test_erasure_on_postgresql(pg_urls):
    _, tracker = pg_urls
    await save_conversation(tracker, "conv-jane01", NOW)
    await save_conversation(tracker, "conv-sam001", NOW)
    add_project_rows("jane@example.org", "conv-jane01", NOW)
    deletion = record_request("jane@example.org", RequestType.DELETION, None, "rest", "conv-jane01")
    set_status(deletion.reference, RequestStatus.COMPLETED)
    assert tracker_senders(tracker) == {"conv-sam001"}
