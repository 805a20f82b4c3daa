"""Request statuses read back from the ticket backend, where the privacy team works.

A status that changed in the backend is stored and reacted to like one set with
`imago-requests set-status` (`imago_core.requests.reactions`).
"""
from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy import select

from imago_core.delivery.outbox import configured_backend
from imago_core.delivery.tickets.base import (
    PermanentBackendError,
    TicketBackend,
    TicketNotFoundError,
    TicketRef,
    TransientBackendError,
)
from imago_core.requests import clock_store
from imago_core.requests.clocks import ClockError
from imago_core.requests.erasure import ErasureFailed
from imago_core.requests.reactions import after_status_change
from imago_core.requests.ticket_sync import update_owed
from imago_core.storage import audit
from imago_core.storage.addresses import canonical_address
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    DeliveryState,
    PrivacyRequest,
    RequestStatus,
    RequestType,
    utcnow,
)

logger = logging.getLogger(__name__)


def refresh_statuses(email: str, backend: Optional[TicketBackend] = None) -> None:
    """Reads the status of this address's delivered tickets back from the backend.
    A backend that does not answer leaves the stored status as it is."""
    backend = backend if backend is not None else configured_backend()
    if backend is None:
        return
    with session_scope() as session:
        rows = session.execute(select(PrivacyRequest.id, PrivacyRequest.external_id, PrivacyRequest.status).where(
            PrivacyRequest.email == canonical_address(email), PrivacyRequest.backend == backend.name,
            PrivacyRequest.delivery_state == DeliveryState.DELIVERED)).all()
    for request_id, external_id, current in rows:
        try:
            remote = backend.status(TicketRef(backend.name, external_id))
        except TicketNotFoundError as exc:
            if current is not RequestStatus.WITH_PRIVACY_TEAM:
                _ticket_missing(backend, request_id, external_id, current, exc)
            continue
        except (TransientBackendError, PermanentBackendError) as exc:
            logger.warning("status of request #%s not refreshed from %s: %s", request_id, backend.name, exc)
            continue
        if remote is not current:
            if _take_remote_status(backend, request_id, current, remote):
                try:
                    after_status_change(request_id, actor=f"backend:{backend.name}")
                except ErasureFailed:
                    pass  # recorded on the request (needs_attention) and in the audit log; the status still reads


def _take_remote_status(backend: TicketBackend, request_id: int, current: RequestStatus,
                        remote: RequestStatus) -> bool:
    """Stores a status changed in the backend, moving the clock with it. Not while an
    update of ours is still owed to the ticket: then the backend's status is the older one.
    A refusal made in the backend has no reason code: the status is taken, and the team is
    asked to record the code and reasons on the desk (the visitor's mail needs them)."""
    actor = f"backend:{backend.name}"
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        if update_owed(row) or row.status is not current:
            return False
        try:
            clock = clock_store.toward_status(clock_store.clock_of(row), remote, actor, utcnow())
            if remote is RequestStatus.WAITING_FOR_YOU:
                # The question was asked from the ticket, which mails the requestor itself;
                # a mail of ours would only say "a question was asked in the ticket system".
                clock = clock.notified(clock.history[-1].at, actor, "question")
            clock_store.store(row, clock)
            row.ticket_update_at = None  # the ticket already says this
        except ClockError as exc:
            row.status, row.status_changed_at = remote, utcnow()
            row.needs_attention = f"set to {remote.value} in {backend.name}: {exc}"[:255]
        audit.record("status_changed", request_id=request_id, actor=actor,
                     session=session, detail={"from": current.value, "to": row.status.value})
    return True


def refresh_open_deletions(backend: Optional[TicketBackend] = None) -> int:
    """Reads back from the ticket backend the status of open deletion requests filed
    there (daily, with the purge), so one completed in the backend erases our copy
    even if the visitor never asks for the status. Returns the addresses checked."""
    with session_scope() as session:
        emails = session.execute(select(PrivacyRequest.email).distinct().where(
            PrivacyRequest.request_type == RequestType.DELETION,
            PrivacyRequest.status.in_([s for s in RequestStatus if s.is_open]),
            PrivacyRequest.delivery_state == DeliveryState.DELIVERED,
        )).scalars().all()
    for email in emails:
        refresh_statuses(email, backend)
    return len(emails)


def _ticket_missing(backend: TicketBackend, request_id: int, external_id: str, current: RequestStatus,
                    exc: Exception) -> None:
    """A delivered ticket answers 404: staff must find out why; the visitor is told
    a person has the request, which stays true whatever happened to the ticket."""
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        row.status, row.status_changed_at = RequestStatus.WITH_PRIVACY_TEAM, utcnow()
        row.needs_attention = (f"ticket {external_id} not found in {backend.name} (HTTP 404: deleted or merged); "
                               "the visitor sees 'with the privacy team'")
        audit.record("ticket_missing", request_id=request_id, actor=f"backend:{backend.name}", session=session,
                     detail={"ticket": external_id, "from": current.value, "to": RequestStatus.WITH_PRIVACY_TEAM.value})
    logger.error("request #%s: ticket %s is gone from %s (%s); flagged for the privacy team",
                 request_id, external_id, backend.name, exc)
