"""Delivers recorded items into the ticketing backend: at least once, never twice.

A row is written before any remote call (by the domain that owns it), in state
`pending`. This pass claims due rows, looks the reference up in the backend whenever
an earlier attempt was made (an ambiguous failure may have created the ticket),
creates the ticket otherwise, and on a transient failure (timeout, connection error,
5xx, 429) schedules a retry with exponential backoff, honouring Retry-After. Every
attempt and its outcome goes to the audit log, through the item's kind.

What a row is, and what its ticket says, is the kind's business
(`imago_core.delivery.kinds`): requests and escalations register themselves. A
backend that refuses the requester as suspended gets the same ticket filed without a
requester (address in the body, flagged for the team), never dropped. A row only ends
`failed` with a human-readable reason in `last_error`.

The pass runs in a loop inside the action server (`imago_core.delivery.loop`) and
as a command: `imago-requests deliver [--loop]`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update

from imago_core.delivery.kinds import OutboxKind, registered
from imago_core.delivery.retry import backoff
from imago_core.delivery.tickets.base import (
    BackendAuthError,
    PermanentBackendError,
    RequesterSuspendedError,
    TicketBackend,
    TicketDraft,
    TicketRef,
    TransientBackendError,
)
from imago_core.delivery.tickets.factory import create_backend
from imago_core.storage.db import session_scope
from imago_core.storage.models import DeliveryState, utcnow

logger = logging.getLogger(__name__)

# A claimed row is not picked up by another loop for this long.
CLAIM_LEASE = timedelta(minutes=2)
SUSPENDED_TAG = "requester_suspended"


@dataclass
class DeliveryReport:
    delivered: int = 0
    pending: int = 0
    failed: int = 0


def without_requester_body(body: str, email: str) -> str:
    """The fixed body with a note on top, for a ticket filed without its suspended requester.
    Deterministic, so a retry of the fallback sends the same body too."""
    return (f"ATTENTION: the requester's user in the ticketing system is suspended, so this ticket was "
            f"filed without a requester. Reply to {email} directly (not from this ticket), and only "
            f"after checking why the user was suspended.\n\n{body}")


def without_requester(draft: TicketDraft) -> TicketDraft:
    """A ticket with no requester and the address in the body."""
    return replace(draft, requester_email="", body=without_requester_body(draft.body, draft.requester_email),
                   tags=[*draft.tags, SUSPENDED_TAG])


def configured_backend() -> Optional[TicketBackend]:
    return create_backend()


def _claim(kind: OutboxKind, row_id: int, seen_next_attempt: Optional[datetime], now: datetime) -> bool:
    """Atomically takes a row for this attempt; False if another loop took it."""
    model = kind.model
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


def _prepare(row_id: int, kind: OutboxKind):
    with session_scope() as session:
        row = session.get(kind.model, row_id)
        return kind.draft(row), row.delivery_attempts


def _create(backend: TicketBackend, kind: OutboxKind, row_id: int, draft: TicketDraft, attempts: int):
    """The ticket for this row: found (an earlier attempt may have created it without
    hearing back; after Zendesk's two-hour key window this lookup is the only guard
    against a duplicate) or created now. Returns (ref, draft sent, found existing)."""
    ref: Optional[TicketRef] = backend.find_by_reference(draft.reference) if attempts > 1 else None
    if ref is not None:
        return ref, draft, True
    try:
        return backend.create(draft), draft, False
    except RequesterSuspendedError as exc:
        draft = kind.without_requester(backend, row_id, draft, exc)
        logger.warning("%s #%s: requester suspended in %s; filing without a requester", kind.name, row_id,
                       backend.name)
        return backend.create(draft), draft, False


def _retry_later(backend: TicketBackend, kind: OutboxKind, row_id: int, attempts: int,
                 exc: TransientBackendError) -> DeliveryState:
    delay = backoff(attempts, exc.retry_after)
    with session_scope() as session:
        row = session.get(kind.model, row_id)
        row.next_attempt_at = utcnow() + delay
        row.last_error = str(exc)[:255]
        if isinstance(exc, BackendAuthError):
            kind.on_credentials_refused(row, backend.name, delay)
        kind.audit("delivery_retry_scheduled", row, session,
                   {"attempt": attempts, "backend": backend.name, "error": str(exc)[:200],
                    "ambiguous": exc.ambiguous, "retry_in_seconds": round(delay.total_seconds())})
    logger.warning("delivery of %s #%s to %s failed (attempt %s, retry in %ss): %s",
                   kind.name, row_id, backend.name, attempts, round(delay.total_seconds()), exc)
    return DeliveryState.PENDING


def _give_up(backend: TicketBackend, kind: OutboxKind, row_id: int, attempts: int,
             exc: PermanentBackendError) -> DeliveryState:
    reason = str(exc) or type(exc).__name__
    with session_scope() as session:
        row = session.get(kind.model, row_id)
        row.delivery_state, row.last_error, row.next_attempt_at = DeliveryState.FAILED, reason[:255], None
        detail = {"attempt": attempts, "backend": backend.name, "error": reason[:200], "details": exc.details}
        hint = kind.on_failed(row, exc, detail)
        kind.audit("delivery_failed", row, session, detail)
    logger.error("%s #%s cannot be delivered to %s (needs a person): %s%s", kind.name, row_id, backend.name,
                 reason, f"; after fixing it run: {hint}" if hint else "")
    return DeliveryState.FAILED


def _delivered(backend: TicketBackend, kind: OutboxKind, row_id: int, attempts: int, ref: TicketRef,
               draft: TicketDraft, found_existing: bool) -> DeliveryState:
    with session_scope() as session:
        row = session.get(kind.model, row_id)
        row.delivery_state, row.external_id = DeliveryState.DELIVERED, ref.external_id
        row.next_attempt_at, row.last_error = None, None
        detail = {"attempt": attempts, "backend": backend.name, "ticket": ref.external_id,
                  "found_existing": found_existing}
        kind.on_delivered(row, draft, detail)
        kind.audit(kind.delivered_event, row, session, detail)
    logger.info("%s #%s delivered to %s as ticket %s", kind.name, row_id, backend.name, ref.external_id)
    return DeliveryState.DELIVERED


def _deliver_one(backend: TicketBackend, kind: OutboxKind, row_id: int) -> DeliveryState:
    draft, attempts = _prepare(row_id, kind)
    try:
        ref, draft, found_existing = _create(backend, kind, row_id, draft, attempts)
    except TransientBackendError as exc:
        return _retry_later(backend, kind, row_id, attempts, exc)
    except PermanentBackendError as exc:
        return _give_up(backend, kind, row_id, attempts, exc)
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the other rows of the pass
        delay = backoff(attempts)
        logger.exception("delivery of %s #%s to %s hit an unexpected error; retry in %ss",
                         kind.name, row_id, backend.name, round(delay.total_seconds()))
        with session_scope() as session:
            row = session.get(kind.model, row_id)
            row.next_attempt_at = utcnow() + delay
            row.last_error = f"unexpected error ({type(exc).__name__}); see the delivery log"
        return DeliveryState.PENDING
    return _delivered(backend, kind, row_id, attempts, ref, draft, found_existing)


def deliver_pending(backend: Optional[TicketBackend] = None, limit: int = 100) -> DeliveryReport:
    """One pass over the due pending items of every registered kind, for the configured backend."""
    backend = backend if backend is not None else configured_backend()
    report = DeliveryReport()
    if backend is None:
        return report
    for kind in registered():
        _deliver_due(backend, kind, limit, report)
    return report


def _deliver_due(backend: TicketBackend, kind: OutboxKind, limit: int, report: DeliveryReport) -> None:
    model, now = kind.model, utcnow()
    with session_scope() as session:
        due = session.execute(
            select(model.id, model.next_attempt_at)
            .where(model.delivery_state == DeliveryState.PENDING,
                   model.backend == backend.name,
                   model.next_attempt_at <= now)
            .order_by(model.next_attempt_at).limit(limit)
        ).all()
    for row_id, next_attempt in due:
        if not _claim(kind, row_id, next_attempt, now):
            continue
        state = _deliver_one(backend, kind, row_id)
        if state is DeliveryState.DELIVERED:
            report.delivered += 1
        elif state is DeliveryState.FAILED:
            report.failed += 1
    with session_scope() as session:
        report.pending += session.execute(
            select(func.count(model.id)).where(model.delivery_state == DeliveryState.PENDING,
                                               model.backend == backend.name)
        ).scalar_one()


def next_due() -> Optional[datetime]:
    """When the earliest pending item of any kind falls due (None: nothing pending)."""
    with session_scope() as session:
        dues = [session.execute(select(func.min(kind.model.next_attempt_at))
                                .where(kind.model.delivery_state == DeliveryState.PENDING)).scalar_one()
                for kind in registered()]
    dues = [due for due in dues if due is not None]
    return min(dues) if dues else None
