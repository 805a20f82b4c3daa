"""Rasa's SQL tracker store, with one-time codes masked before they are written.

Configured in endpoints.yml as `type: extensions.tracker_store.RedactingSQLTrackerStore`
with the usual SQLTrackerStore keys (SQLite by default, PostgreSQL in production).
"""
from __future__ import annotations

import json
import logging

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from extensions import startup
from extensions.redaction import redact_all

startup.install()  # Rasa loads this store at startup: see extensions/startup.py

logger = logging.getLogger(__name__)


def _context_only(event: Event) -> dict:
    """What redaction needs to know of an event that is already stored: only slot
    and loop changes decide whether a later message answers the code question."""
    if isinstance(event, SlotSet):
        return {"event": "slot", "name": event.key, "value": event.value}
    if isinstance(event, ActiveLoop):
        return {"event": "active_loop", "name": event.name}
    return {"event": event.type_name}


class RedactingSQLTrackerStore(SQLTrackerStore):
    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)

        with self.session_scope() as session:
            already_stored = self._event_query(
                session, tracker.sender_id, fetch_events_from_all_sessions=False
            ).count()
            events = list(tracker.events)
            # Whether a message answers the code question depends on the events before
            # it, so the whole history is walked, but only new events are serialised.
            all_events = redact_all([
                _context_only(event) if index < already_stored else event.as_dict()
                for index, event in enumerate(events)
            ])
            for data, event in zip(all_events[already_stored:], events[already_stored:]):
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
        logger.debug("Tracker stored (one-time codes masked)")
