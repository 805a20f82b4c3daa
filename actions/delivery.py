"""Delivers recorded requests into the ticketing backend: at least once, never twice.

The request row is written before any remote call (actions/privacy_requests.py), in
state `pending`. This loop claims due rows, looks the reference up in the backend
whenever an earlier attempt was made (an ambiguous failure may have created the
ticket), creates the ticket otherwise, and on a transient failure (timeout,
connection error, 5xx, 429) schedules a retry with exponential backoff, honouring
Retry-After. Every attempt and its outcome goes to the audit log.

Escalations to staff (actions/handoff.py) go through the same outbox, from their own
table. The loop runs inside the action server, started with it (actions/background.py)
and woken after each new request or escalation, and as a command:
`imago-requests deliver [--loop]`.
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
from actions.models import DeliveryState, Escalation, PrivacyRequest, utcnow
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
MIN_WAIT_SECONDS = 0.5


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


@dataclass(frozen=True)
class Outbox:
    """One kind of record the loop delivers: its table, its ticket, its audit names."""

    model: type
    audit_prefix: str  # "" for requests ("delivered"), "escalation_" for escalations

    def draft(self, row) -> TicketDraft:
        if self.model is Escalation:
            from actions.handoff import escalation_draft

            return escalation_draft(row)
        return draft_for(row)

    def audit(self, event: str, row, session, detail: dict) -> None:
        if self.model is Escalation:
            audit.record(self.audit_prefix + event, conversation_id=row.conversation_id, session=session,
                         detail={"escalation": row.reference, **detail})
        else:
            audit.record(event, request_id=row.id, session=session, detail=detail)


REQUESTS = Outbox(PrivacyRequest, "")
ESCALATIONS = Outbox(Escalation, "escalation_")
OUTBOXES = (REQUESTS, ESCALATIONS)


def _claim(row_id: int, seen_next_attempt: Optional[datetime], now: datetime, outbox: Outbox = REQUESTS) -> bool:
    """Atomically takes a row for this attempt; False if another loop took it."""
    model = outbox.model
    with session_scope() as session:
        result = session.execute(
            update(model)
            .where(model.id == row_id,
                   model.delivery_state == DeliveryState.PENDING,
                   model.next_attempt_at == seen_next_attempt)
            .values(next_attempt_at=now + CLAIM_LEASE,
                    delivery_attempts=model.delivery_attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


def _deliver_one(backend: TicketBackend, row_id: int, outbox: Outbox = REQUESTS) -> DeliveryState:
    model = outbox.model
    with session_scope() as session:
        row = session.get(model, row_id)
        draft, attempts = outbox.draft(row), row.delivery_attempts
    try:
        ref: Optional[TicketRef] = backend.find_by_reference(draft.reference) if attempts > 1 else None
        found_existing = ref is not None
        if ref is None:
            ref = backend.create(draft)
    except TransientBackendError as exc:
        delay = backoff(attempts, exc.retry_after)
        with session_scope() as session:
            row = session.get(model, row_id)
            row.next_attempt_at = utcnow() + delay
            row.last_error = str(exc)[:255]
            outbox.audit("delivery_retry_scheduled", row, session,
                         {"attempt": attempts, "backend": backend.name, "error": str(exc)[:200],
                          "ambiguous": exc.ambiguous, "retry_in_seconds": round(delay.total_seconds())})
        logger.warning("delivery of %s #%s to %s failed (attempt %s, retry in %ss): %s", model.__tablename__,
                       row_id, backend.name, attempts, round(delay.total_seconds()), exc)
        return DeliveryState.PENDING
    except PermanentBackendError as exc:
        with session_scope() as session:
            row = session.get(model, row_id)
            row.delivery_state, row.last_error, row.next_attempt_at = DeliveryState.FAILED, str(exc)[:255], None
            outbox.audit("delivery_failed", row, session,
                         {"attempt": attempts, "backend": backend.name, "error": str(exc)[:200]})
        logger.error("%s #%s cannot be delivered to %s (needs a person): %s", model.__tablename__, row_id,
                     backend.name, exc)
        return DeliveryState.FAILED
    with session_scope() as session:
        row = session.get(model, row_id)
        row.delivery_state, row.external_id = DeliveryState.DELIVERED, ref.external_id
        row.next_attempt_at, row.last_error = None, None
        outbox.audit("delivered" if outbox is REQUESTS else "ticket_filed", row, session,
                     {"attempt": attempts, "backend": backend.name, "ticket": ref.external_id,
                      "found_existing": found_existing})
    logger.info("%s #%s delivered to %s as ticket %s", model.__tablename__, row_id, backend.name, ref.external_id)
    return DeliveryState.DELIVERED


def deliver_pending(backend: Optional[TicketBackend] = None, limit: int = 100) -> DeliveryReport:
    """One pass over the due pending requests and escalations of the configured backend."""
    backend = backend if backend is not None else _configured_backend()
    report = DeliveryReport()
    if backend is None:
        return report
    for outbox in OUTBOXES:
        _deliver_due(backend, outbox, limit, report)
    return report


def _deliver_due(backend: TicketBackend, outbox: Outbox, limit: int, report: DeliveryReport) -> None:
    model, now = outbox.model, utcnow()
    with session_scope() as session:
        due = session.execute(
            select(model.id, model.next_attempt_at)
            .where(model.delivery_state == DeliveryState.PENDING,
                   model.backend == backend.name,
                   model.next_attempt_at <= now)
            .order_by(model.next_attempt_at).limit(limit)
        ).all()
    for row_id, next_attempt in due:
        if not _claim(row_id, next_attempt, now, outbox):
            continue
        state = _deliver_one(backend, row_id, outbox)
        if state is DeliveryState.DELIVERED:
            report.delivered += 1
        elif state is DeliveryState.FAILED:
            report.failed += 1
    with session_scope() as session:
        report.pending += session.execute(
            select(func.count(model.id)).where(model.delivery_state == DeliveryState.PENDING,
                                               model.backend == backend.name)
        ).scalar_one()


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


def _configured_backend() -> Optional[TicketBackend]:
    from actions.tickets.factory import create_backend

    return create_backend()


# -- the loop inside the action server ---------------------------------------------
# Started with the action server (actions/background.py, via rasa_sdk_plugins/);
# the actions only wake it.
_wake = threading.Event()


def run_forever(interval: float = LOOP_INTERVAL_SECONDS, stop: Optional[threading.Event] = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            deliver_pending()
        except Exception:  # noqa: BLE001 - the loop must survive anything; the rows stay pending
            logger.exception("delivery pass failed; requests stay pending")
        _wake.wait(_seconds_until_next_due(interval))
        _wake.clear()


def _seconds_until_next_due(interval: float) -> float:
    """A retry falls due at its backoff time, not at the next fixed tick."""
    try:
        with session_scope() as session:
            dues = [session.execute(select(func.min(outbox.model.next_attempt_at))
                                    .where(outbox.model.delivery_state == DeliveryState.PENDING)).scalar_one()
                    for outbox in OUTBOXES]
    except Exception:  # noqa: BLE001 - the database may be down; try again at the next tick
        return interval
    dues = [due for due in dues if due is not None]
    if not dues:
        return interval
    return min(interval, max(MIN_WAIT_SECONDS, (min(dues) - utcnow()).total_seconds()))


def kick() -> None:
    """Called after a request or escalation is recorded: deliver it now, not at the next tick."""
    _wake.set()
