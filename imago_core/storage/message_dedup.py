"""Exactly-once intake for chat events, shared by every replica through the database.

A chat server re-sends an event it believes failed (Rocket.Chat's Omnichannel webhook
re-sends after a timeout, a 5xx or a 429). `claim_once(key)` inserts the key into a
table with a unique constraint: the first caller gets True, every later caller (in
this process or another replica) gets False. Process memory would not see the
other replicas, so it is never used for this.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from imago_core.storage.db import session_scope
from imago_core.storage.models import InboundMarker, utcnow

KEEP_FOR = timedelta(days=1)  # far longer than any re-send schedule (5 tries, 20 s apart)
PURGE_EVERY_SECONDS = 600.0
_purge_lock = threading.Lock()
_last_purge = 0.0


def claim_once(key: str) -> bool:
    """True for the first caller with `key`, False for every later one.

    Raises SQLAlchemy errors other than the duplicate key (database down): the
    caller decides (the RocketChat webhook answers 503 so that the event is re-sent).
    """
    _purge_now_and_then()
    try:
        with session_scope() as session:
            session.add(InboundMarker(key=key[:255]))
    except IntegrityError:
        return False
    return True


def was_claimed(key: str) -> bool:
    with session_scope() as session:
        found = session.execute(select(InboundMarker.id).where(InboundMarker.key == key[:255])).first()
        return found is not None


def _purge_now_and_then() -> None:
    """Deletes old markers at most once every PURGE_EVERY_SECONDS per process."""
    global _last_purge
    with _purge_lock:
        if time.monotonic() - _last_purge < PURGE_EVERY_SECONDS:
            return
        _last_purge = time.monotonic()
    with session_scope() as session:
        session.execute(delete(InboundMarker).where(InboundMarker.created_at < utcnow() - KEEP_FOR))
