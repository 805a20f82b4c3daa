"""Audit rows older than the request retention are pseudonymised (issue 23, finding 10).

The audit log outlives the rows it mentions: it proves what happened to a request
(received, verified, erased) long after the request record itself is gone. What it
needs for that is the event, its time, the actor and the counts. What it no longer
needs after REQUEST_RETENTION_DAYS is what links a row to a person:

- `address_key`: an HMAC of the address, so anyone holding OTP_SECRET and an
  address can find every row about it;
- `conversation_id`: the conversation (and through it a tracker, a ticket);
- a staff `note` in the detail: free text, which can name anyone.

Those are cleared; the rest stays. A row once cleared matches no longer, so each
row is rewritten once, in bounded batches like the rest of the purge.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import or_, select, update

from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent

FREE_TEXT_KEYS = ("note",)


def _linkable():
    return or_(AuditEvent.address_key.is_not(None), AuditEvent.conversation_id.is_not(None),
               *[AuditEvent.detail.like(f'%"{key}":%') for key in FREE_TEXT_KEYS])


def _without_free_text(detail):
    if not detail:
        return detail
    try:
        data = json.loads(detail)
    except ValueError:
        return None  # unreadable: nothing worth keeping as proof
    if not isinstance(data, dict):
        return detail
    return json.dumps({k: v for k, v in data.items() if k not in FREE_TEXT_KEYS}, sort_keys=True) or None


def pseudonymise_audit(before: datetime, dry_run: bool = False, batch_size: int = 2000) -> int:
    """Clears what links audit rows older than `before` to a person; returns how many."""
    with session_scope() as session:
        rows = session.execute(select(AuditEvent.id, AuditEvent.detail).where(
            AuditEvent.at < before, _linkable()).order_by(AuditEvent.id)).all()
    if dry_run:
        return len(rows)
    for start in range(0, len(rows), batch_size):
        with session_scope() as session:
            for row_id, detail in rows[start:start + batch_size]:
                session.execute(update(AuditEvent).where(AuditEvent.id == row_id).values(
                    address_key=None, conversation_id=None, detail=_without_free_text(detail)))
    return len(rows)
