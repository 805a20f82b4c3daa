"""Rasa's SQL tracker store, with one-time codes masked before they are written.

Configured in endpoints.yml as `type: extensions.tracker_store.RedactingSQLTrackerStore`
with the usual SQLTrackerStore keys (SQLite by default, PostgreSQL in production).
"""
from __future__ import annotations

import json
import logging
from typing import List

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from extensions import startup
from extensions.long_sessions import DEFAULT_MAX_SESSION_EVENTS, session_start_events
from extensions.store_checks import ensure_sqlite_folder, require_database
from imago_core.identity.redaction import redact_all

startup.install()  # Rasa loads this store at startup: see extensions/startup.py

logger = logging.getLogger(__name__)
# Set on trackers by this store: how many of their events are stored (saves a count
# query per turn), and, once the store renewed their session, up to where.
_STORED = "_imago_stored"
_STORED_UP_TO = "_imago_stored_up_to"


def _context_only(event: Event) -> dict:
    """What redaction needs to know of an event that is already stored: only slot
    and loop changes (and when they happened) decide whether a later message answers
    the code question or may contain an outstanding code."""
    if isinstance(event, SlotSet):
        return {"event": "slot", "name": event.key, "value": event.value, "timestamp": event.timestamp}
    if isinstance(event, ActiveLoop):
        return {"event": "active_loop", "name": event.name}
    return {"event": event.type_name}


def _masked(events: List[Event], already_stored: int) -> List[dict]:
    """The new events, serialised and masked. Whether a message answers the code
    question depends on the events before it, so the whole history is walked, but
    only new events are serialised."""
    return redact_all([
        _context_only(event) if index < already_stored else event.as_dict()
        for index, event in enumerate(events)
    ])[already_stored:]


def _write_ahead_log(engine) -> None:
    """SQLite (the one-machine default) in WAL mode with synchronous=NORMAL: a commit
    no longer waits for several fsyncs of a rollback journal. Under load that wait,
    inside Rasa's event loop, was the largest single cost of a turn (py-spy: ~20 %,
    docs/benchmarks.md). A committed turn survives a crash of the server; a power cut
    may lose the last turns. PostgreSQL (production) is unaffected."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # connections opened before (creating the tables) get the pragmas too


class RedactingSQLTrackerStore(SQLTrackerStore):
    def __init__(self, domain=None, dialect: str = "sqlite", host=None, port=None, db: str = "rasa.db",
                 username=None, password=None, connect_wait_seconds: float = 20,
                 max_session_events: int = DEFAULT_MAX_SESSION_EVENTS, **kwargs) -> None:
        # No silent in-memory fallback (extensions/store_checks.py): create the SQLite
        # folder first, and stop the server if the database cannot be reached.
        ensure_sqlite_folder(self.get_db_url(dialect, host, port, db, username, password))
        super().__init__(domain, dialect=dialect, host=host, port=port, db=db, username=username,
                         password=password, **kwargs)
        require_database(self.engine, self.Base.metadata, self.SQLEvent.__table__, float(connect_wait_seconds))
        # endpoints.yml `max_session_events`: a new session (slots carried over) starts
        # past this many events, so a turn costs the same at turn 100 as at turn 5
        # (extensions/long_sessions.py); 0 leaves sessions to Rasa's expiry alone.
        self.max_session_events = int(max_session_events)
        if self.engine.dialect.name == "sqlite":
            _write_ahead_log(self.engine)

    async def _retrieve(self, sender_id, fetch_events_from_all_sessions):
        """Rasa's, reading only the event data instead of whole ORM rows."""
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions) \
                .with_entities(self.SQLEvent.data).all()
        if not (self.domain and rows):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, [json.loads(data) for (data,) in rows], self.domain.slots)
        if not fetch_events_from_all_sessions:
            setattr(tracker, _STORED, len(rows))  # what save() would otherwise count again
        return tracker

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's version publishes the events unmasked; an event broker gets what the
        database gets. (save() publishes on its own; this is for other callers.)"""
        if self.event_broker is None:
            return
        with self.session_scope() as session:
            already_stored = self._event_query(
                session, tracker.sender_id, fetch_events_from_all_sessions=False
            ).count()
        self._publish(tracker.sender_id, _masked(list(tracker.events), already_stored))

    def _publish(self, sender_id: str, masked_new_events: list) -> None:
        for data in masked_new_events:
            self.event_broker.publish({"sender_id": sender_id, **data})

    async def save(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            # A tracker saved again after this store started a new session for it:
            # everything up to that point is stored.
            already_stored = getattr(tracker, _STORED_UP_TO, None)
            new_session = None
            if already_stored is None:
                already_stored = getattr(tracker, _STORED, None)
                if already_stored is None:  # a tracker this store did not load
                    already_stored = self._event_query(
                        session, tracker.sender_id, fetch_events_from_all_sessions=False
                    ).count()
                new_session = session_start_events(tracker, self.max_session_events)
            events = list(tracker.events)
            written = events + (new_session or [])
            # Whether a message answers the code question depends on the events before
            # it, so the whole history is walked, but only new events are serialised.
            new_data = _masked(written, already_stored)
            for data, event in zip(new_data, written[already_stored:]):
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=(data.get("parse_data") or {})
                        .get("intent", {})
                        .get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()
        if new_session:
            setattr(tracker, _STORED_UP_TO, len(events))
            logger.debug("New conversation session started after %s events", len(events))
        elif getattr(tracker, _STORED_UP_TO, None) is not None:
            # Saved again after its new session: move the mark on, or the next save
            # would write these events a second time.
            setattr(tracker, _STORED_UP_TO, len(events))
        else:
            setattr(tracker, _STORED, len(events))
        if self.event_broker is not None:
            self._publish(tracker.sender_id, new_data)
        logger.debug("Tracker stored (one-time codes masked)")
