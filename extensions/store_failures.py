"""A tracker store that is away fails the turn, instead of starting it afresh or
keeping it in memory (issue 21).

Rasa wraps every tracker store in `FailSafeTrackerStore` (rasa/core/tracker_store.py):
when `retrieve` fails it returns None, so the processor starts the conversation over
with an empty tracker (a visitor who has just typed their code is asked what they
want); when `save` fails it saves into an in-memory store of that one process, which
the other replicas never see and a restart loses, and the visitor is answered as if
all was well. Measured in the chaos run (bench/chaos/) while PostgreSQL restarted.

Here both re-raise the store's error. The turn then fails before anything of it is
stored, and the channel runs it again once PostgreSQL is back
(extensions/channels/turns.py); SQLAlchemy replaces the pooled connections that the
restart broke on the way.
"""
from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def install() -> None:
    """Called once from extensions/startup.py."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    async def retrieve(self, sender_id):
        try:
            return await self._tracker_store.retrieve(sender_id)
        except Exception as exc:
            logger.error("tracker store unavailable on retrieve (%s): the turn fails and is run again",
                         type(exc).__name__)
            raise

    async def save(self, tracker):
        try:
            await self._tracker_store.save(tracker)
        except Exception as exc:
            logger.error("tracker store unavailable on save (%s): the turn is not stored and is run again",
                         type(exc).__name__)
            raise

    FailSafeTrackerStore.retrieve = retrieve
    FailSafeTrackerStore.save = save
