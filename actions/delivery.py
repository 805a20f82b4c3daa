"""Delivers recorded requests into the ticketing backend: at least once, never twice.

The request row is written before any remote call (actions/privacy_requests.py), in
state `pending`. This loop claims due rows, looks the reference up in the backend
whenever an earlier attempt was made (an ambiguous failure may have created the
ticket), creates the ticket otherwise, and on a transient failure (timeout,
connection error, 5xx, 429) schedules a retry with exponential backoff, honouring
Retry-After. Every attempt and its outcome goes to the audit log.

It runs inside the action server (a daemon thread woken after each new request)
and as a command: `imago-requests deliver [--loop]`.
"""
from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update

from actions import audit
from actions.db import session_scope
from actions.models import DeliveryState, PrivacyRequest, utcnow
from actions.privacy_requests import format_date
from actions.tickets.base import (
    PermanentBackendError,
    TicketBackend,
    TicketDraft,
    TicketRef,
    TransientBackendError,
)

logger = logging.getLogger(__name__)

BASE_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=15)
MAX_RETRY_AFTER = timedelta(hours=1)
# A claimed row is not picked up by another loop for this long.
CLAIM_LEASE = timedelta(minutes=2)
LOOP_INTERVAL_SECONDS = 30.0


@dataclass
class DeliveryReport:
    delivered: int = 0
    pending: int = 0
    failed: int = 0


def backoff(attempts: int, retry_after: Optional[float] = None) -> timedelta:
    """Exponential with jitter; never shorter than the server's Retry-After."""
    delay = min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    delay = delay * (0.8 + 0.4 * random.random())
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay


def draft_for(row: PrivacyRequest) -> TicketDraft:
    label = row.request_type.label
    body = "\n".join([
        f"Privacy request {row.reference}: {label}",
        "",
        f"Requester (verified by one-time code): {row.email}",
        f"Received: {row.received_at.isoformat()}",
        f"Due (GDPR Art. 12(3), one month): {format_date(row.due_at)}",
        f"Channel: {row.channel or '-'}",
        f"Conversation: {row.conversation_id or '-'}",
        "",
        "Details from the requester:",
        row.details or "(none)",
    ])
    return TicketDraft(
        reference=row.reference, request_type=row.request_type.value, requester_email=row.email,
        subject=f"[{row.reference}] {label}", body=body, due_at=row.due_at,
        tags=["privacy-request", row.request_type.value],
    )


def _claim(request_id: int, seen_next_attempt: Optional[datetime], now: datetime) -> bool:
    """Atomically takes a row for this attempt; False if another loop took it."""
    with session_scope() as session:
        result = session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == request_id,
                   PrivacyRequest.delivery_state == DeliveryState.PENDING,
                   PrivacyRequest.next_attempt_at == seen_next_attempt)
            .values(next_attempt_at=now + CLAIM_LEASE,
                    delivery_attempts=PrivacyRequest.delivery_attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


def _deliver_one(backend: TicketBackend, request_id: int) -> DeliveryState:
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        draft, attempts = draft_for(row), row.delivery_attempts
    try:
        ref: Optional[TicketRef] = backend.find_by_reference(draft.reference) if attempts > 1 else None
        found_existing = ref is not None
        if ref is None:
            ref = backend.create(draft)
    except TransientBackendError as exc:
        delay = backoff(attempts, exc.retry_after)
        with session_scope() as session:
            row = session.get(PrivacyRequest, request_id)
            row.next_attempt_at = utcnow() + delay
            row.last_error = str(exc)[:255]
            audit.record("delivery_retry_scheduled", request_id=request_id, session=session,
                         detail={"attempt": attempts, "backend": backend.name, "error": str(exc)[:200],
                                 "ambiguous": exc.ambiguous, "retry_in_seconds": round(delay.total_seconds())})
        logger.warning("delivery of request #%s to %s failed (attempt %s, retry in %ss): %s",
                       request_id, backend.name, attempts, round(delay.total_seconds()), exc)
        return DeliveryState.PENDING
    except PermanentBackendError as exc:
        with session_scope() as session:
            row = session.get(PrivacyRequest, request_id)
            row.delivery_state, row.last_error, row.next_attempt_at = DeliveryState.FAILED, str(exc)[:255], None
            audit.record("delivery_failed", request_id=request_id, session=session,
                         detail={"attempt": attempts, "backend": backend.name, "error": str(exc)[:200]})
        logger.error("request #%s cannot be delivered to %s (needs a person): %s", request_id, backend.name, exc)
        return DeliveryState.FAILED
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        row.delivery_state, row.external_id = DeliveryState.DELIVERED, ref.external_id
        row.next_attempt_at, row.last_error = None, None
        audit.record("delivered", request_id=request_id, session=session,
                     detail={"attempt": attempts, "backend": backend.name, "ticket": ref.external_id,
                             "found_existing": found_existing})
    logger.info("request #%s delivered to %s as ticket %s", request_id, backend.name, ref.external_id)
    return DeliveryState.DELIVERED


def deliver_pending(backend: Optional[TicketBackend] = None, limit: int = 100) -> DeliveryReport:
    """One pass over the due pending requests of the configured backend."""
    backend = backend if backend is not None else _configured_backend()
    report = DeliveryReport()
    if backend is None:
        return report
    now = utcnow()
    with session_scope() as session:
        due = session.execute(
            select(PrivacyRequest.id, PrivacyRequest.next_attempt_at)
            .where(PrivacyRequest.delivery_state == DeliveryState.PENDING,
                   PrivacyRequest.backend == backend.name,
                   PrivacyRequest.next_attempt_at <= now)
            .order_by(PrivacyRequest.next_attempt_at).limit(limit)
        ).all()
    for request_id, next_attempt in due:
        if not _claim(request_id, next_attempt, now):
            continue
        state = _deliver_one(backend, request_id)
        if state is DeliveryState.DELIVERED:
            report.delivered += 1
        elif state is DeliveryState.FAILED:
            report.failed += 1
    with session_scope() as session:
        report.pending = session.execute(
            select(func.count(PrivacyRequest.id)).where(PrivacyRequest.delivery_state == DeliveryState.PENDING,
                                                        PrivacyRequest.backend == backend.name)
        ).scalar_one()
    return report


def refresh_statuses(email: str, backend: Optional[TicketBackend] = None) -> None:
    """Reads the status of this address's delivered tickets back from the backend.
    A backend that does not answer leaves the stored status as it is."""
    backend = backend if backend is not None else _configured_backend()
    if backend is None:
        return
    with session_scope() as session:
        rows = session.execute(select(PrivacyRequest.id, PrivacyRequest.external_id, PrivacyRequest.status).where(
            PrivacyRequest.email == email, PrivacyRequest.backend == backend.name,
            PrivacyRequest.delivery_state == DeliveryState.DELIVERED)).all()
    for request_id, external_id, current in rows:
        try:
            remote = backend.status(TicketRef(backend.name, external_id))
        except (TransientBackendError, PermanentBackendError) as exc:
            logger.warning("status of request #%s not refreshed from %s: %s", request_id, backend.name, exc)
            continue
        if remote is not current:
            with session_scope() as session:
                row = session.get(PrivacyRequest, request_id)
                row.status, row.status_changed_at = remote, utcnow()
                audit.record("status_changed", request_id=request_id, actor=f"backend:{backend.name}",
                             session=session, detail={"from": current.value, "to": remote.value})
            from actions.erasure import after_status_change  # a completed deletion erases our own copy

            after_status_change(request_id, actor=f"backend:{backend.name}")


def _configured_backend() -> Optional[TicketBackend]:
    from actions.tickets.factory import create_backend

    return create_backend()


# -- the loop inside the action server ---------------------------------------------
_wake = threading.Event()
_loop_thread: Optional[threading.Thread] = None
_loop_lock = threading.Lock()


def run_forever(interval: float = LOOP_INTERVAL_SECONDS, stop: Optional[threading.Event] = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            deliver_pending()
        except Exception:  # noqa: BLE001 - the loop must survive anything; the rows stay pending
            logger.exception("delivery pass failed; requests stay pending")
        _wake.wait(interval)
        _wake.clear()


def kick() -> None:
    """Called after a request is recorded: deliver it now, in the background."""
    global _loop_thread
    from actions.settings import get_settings

    if get_settings().ticket_backend == "local":
        return
    with _loop_lock:
        if _loop_thread is None or not _loop_thread.is_alive():
            _loop_thread = threading.Thread(target=run_forever, name="ticket-delivery", daemon=True)
            _loop_thread.start()
    _wake.set()
