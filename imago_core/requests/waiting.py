"""A paused request resumes when the visitor answers the team's question in the chat.

The question goes by mail (requests/notices.py) and says they can answer in the chat.
Any message of theirs in the conversation that filed the request, after the pause,
counts as the answer: the clock resumes (actor "visitor") and the team reads the answer
in the request's transcript on the desk. Checked by the action server's job and each
time the desk lists or opens requests, so the queue never shows an answered request as
still waiting. The answer's text is not copied into the audit log, which outlives the
request: the transcript is where it lives.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import List

from sqlalchemy import select

from imago_core.requests import clock_store
from imago_core.requests.clocks import ClockError, ClockState, EventKind
from imago_core.requests.reactions import after_status_change
from imago_core.storage import audit
from imago_core.storage.conversations import conversation_events, tracker_engine
from imago_core.storage.db import session_scope
from imago_core.storage.models import PrivacyRequest, RequestStatus

logger = logging.getLogger(__name__)


def _answered_since(conversation_id: str, since: datetime) -> bool:
    cutoff = since.timestamp()
    for event in conversation_events(tracker_engine(), conversation_id):
        if event.get("event") == "user" and (event.get("text") or "").strip() \
                and float(event.get("timestamp") or 0) > cutoff:
            return True
    return False


def resume_answered() -> List[str]:
    """Resumes every waiting request whose visitor has written since the pause; returns
    the references resumed."""
    with session_scope() as session:
        rows = session.execute(select(PrivacyRequest.id, PrivacyRequest.conversation_id).where(
            PrivacyRequest.status == RequestStatus.WAITING_FOR_YOU,
            PrivacyRequest.conversation_id.isnot(None))).all()
    resumed = []
    for request_id, conversation_id in rows:
        with session_scope() as session:
            row = session.get(PrivacyRequest, request_id)
            try:
                clock = clock_store.clock_of(row)
            except ClockError:
                continue
            pauses = [e for e in clock.history if e.kind is EventKind.PAUSED]
            if clock.state is not ClockState.WAITING_FOR_VISITOR or not pauses:
                continue
            if not _answered_since(conversation_id, pauses[-1].at):
                continue
            now = clock_store.at_least_last(clock, datetime.now(timezone.utc))
            clock_store.store(row, clock.resume(now, "visitor", "answered in the chat"))
            audit.record("visitor_answered", request_id=row.id, actor="visitor", session=session,
                         detail={"where": "chat"})
            resumed.append(row.reference)
        after_status_change(request_id, "visitor")
    return resumed
