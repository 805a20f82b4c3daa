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

from imago_core.redaction import redact_all
from extensions.store_checks import ensure_sqlite_folder, require_database

logger = logging.getLogger(__name__)


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


class RedactingSQLTrackerStore(SQLTrackerStore):
    def __init__(self, domain=None, dialect: str = "sqlite", host=None, port=None, db: str = "rasa.db",
                 username=None, password=None, connect_wait_seconds: float = 20, **kwargs) -> None:
        # No silent in-memory fallback (extensions/store_checks.py): create the SQLite
        # folder first, and stop the server if the database cannot be reached.
        ensure_sqlite_folder(self.get_db_url(dialect, host, port, db, username, password))
        super().__init__(domain, dialect=dialect, host=host, port=port, db=db, username=username,
                         password=password, **kwargs)
        require_database(self.engine, self.Base.metadata, self.SQLEvent.__table__, float(connect_wait_seconds))

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
            already_stored = self._event_query(
                session, tracker.sender_id, fetch_events_from_all_sessions=False
            ).count()
            events = list(tracker.events)
            # Whether a message answers the code question depends on the events before
            # it, so the whole history is walked, but only new events are serialised.
            new_data = _masked(events, already_stored)
            for data, event in zip(new_data, events[already_stored:]):
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
        if self.event_broker is not None:
            self._publish(tracker.sender_id, new_data)
        logger.debug("Tracker stored (one-time codes masked)")
