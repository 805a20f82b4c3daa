"""The ticket follows the request's clock: each change of clock state (an extension, a
pause, a completion, a refusal) moves the ticket's Due (RT's `Due`, Zendesk's `due_at`)
and its status.

An update is owed from the moment the clock changed (`ticket_update_at`), whatever the
backend is doing: `push` claims the row, calls the backend, and clears the mark only when
the backend took it. A transient failure (timeout, 5xx, 429, refused credentials) is
retried with the delivery's backoff; a request whose ticket is not delivered yet waits
(the ticket will be created with the current Due, and updated after). So nothing is lost
while the backend is down. The Rasa server (where the desk runs) pushes at once; the
action server's job retries (imago_core/service.py).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update

from imago_core.delivery.outbox import configured_backend
from imago_core.delivery.retry import backoff
from imago_core.delivery.tickets.base import (
    PermanentBackendError,
    TicketBackend,
    TicketRef,
    TransientBackendError,
)
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import DeliveryState, PrivacyRequest, utcnow

logger = logging.getLogger(__name__)
CLAIM_LEASE = timedelta(minutes=2)
WAIT_FOR_DELIVERY = timedelta(seconds=30)


def _claim(request_id: int, seen: datetime, now: datetime) -> bool:
    with session_scope() as session:
        result = session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == request_id, PrivacyRequest.ticket_update_at == seen)
            .values(ticket_update_at=now + CLAIM_LEASE,
                    ticket_update_attempts=func.coalesce(PrivacyRequest.ticket_update_attempts, 0) + 1)
            .execution_options(synchronize_session=False))
        return result.rowcount == 1


def push(request_id: int, backend: Optional[TicketBackend] = None, now: Optional[datetime] = None) -> bool:
    """Updates the ticket of one request if an update is owed and due. True when done."""
    now = now or utcnow()
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        if row is None or row.ticket_update_at is None or row.ticket_update_at > now:
            return False
        seen, state, backend_name = row.ticket_update_at, row.delivery_state, row.backend
        if state in (DeliveryState.NOT_NEEDED, DeliveryState.FAILED):
            row.ticket_update_at = None  # no ticket to follow (local queue), or a person must file it first
            return False
        if state is DeliveryState.PENDING:
            row.ticket_update_at = now + WAIT_FOR_DELIVERY
            return False
    backend = backend if backend is not None else configured_backend()
    if backend is None or backend.name != backend_name:
        return False
    if not _claim(request_id, seen, now):
        return False
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        ref, due_at, status = TicketRef(backend.name, row.external_id), row.due_at, row.status
        attempts = row.ticket_update_attempts or 1
    try:
        backend.update(ref, due_at=due_at, status=status)
    except NotImplementedError:
        return _done(request_id, backend, due_at, status, supported=False)
    except TransientBackendError as exc:
        delay = backoff(attempts, exc.retry_after)
        _again(request_id, utcnow() + delay, f"ticket update failed, retry in {round(delay.total_seconds())}s: {exc}")
        logger.warning("ticket update of request #%s failed (attempt %s): %s", request_id, attempts, exc)
        return False
    except PermanentBackendError as exc:
        # Retrying the same update will not help, but the clock still moved: flag it, retry rarely.
        _again(request_id, utcnow() + timedelta(hours=6), f"ticket update refused by {backend.name}: {exc}",
               attention=True)
        logger.error("ticket update of request #%s refused by %s: %s", request_id, backend.name, exc)
        return False
    return _done(request_id, backend, due_at, status, supported=True)


def _again(request_id: int, when: datetime, error: str, attention: bool = False) -> None:
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        # Only if no newer change re-marked it meanwhile (that one is due now anyway).
        if row.ticket_update_at is not None:
            row.ticket_update_at = when
        row.last_error = error[:255]
        if attention:
            row.needs_attention = error[:255]


def _done(request_id: int, backend: TicketBackend, due_at, status, supported: bool) -> bool:
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        if row.due_at == due_at and row.status is status:  # else a newer change is owed: keep the mark
            row.ticket_update_at, row.ticket_update_attempts = None, None
        else:
            row.ticket_update_at = utcnow()
        if supported:
            audit.record("ticket_updated", request_id=request_id, session=session,
                         detail={"backend": backend.name, "due": due_at.isoformat(), "status": status.value})
    return supported


def push_all_due(backend: Optional[TicketBackend] = None, limit: int = 100) -> int:
    now = utcnow()
    with session_scope() as session:
        ids = session.execute(select(PrivacyRequest.id).where(PrivacyRequest.ticket_update_at <= now)
                              .order_by(PrivacyRequest.ticket_update_at).limit(limit)).scalars().all()
    return sum(1 for request_id in ids if push(request_id, backend, now))


def update_owed(row: PrivacyRequest) -> bool:
    """An update of this row's ticket is still owed: its status read back from the backend
    is older than ours and must not overwrite it (requests/status_sync.py)."""
    return row.ticket_update_at is not None
