"""Rasa's SQL tracker store, with one-time codes masked before they are written.

Configured in endpoints.yml as `type: extensions.tracker_store.RedactingSQLTrackerStore`
with the usual SQLTrackerStore keys (SQLite by default, PostgreSQL in production).
"""
from __future__ import annotations

import json
import logging

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from extensions.redaction import redact_all

logger = logging.getLogger(__name__)


class RedactingSQLTrackerStore(SQLTrackerStore):
    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)

        # The whole history is redacted (cheap: a few dozen events) because whether a
        # message is a code answer depends on the events before it.
        all_events = redact_all([event.as_dict() for event in tracker.events])
        with self.session_scope() as session:
            already_stored = self._event_query(
                session, tracker.sender_id, fetch_events_from_all_sessions=False
            ).count()
            events = list(tracker.events)
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
