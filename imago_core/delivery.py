"""Delivers recorded requests into the ticketing backend: at least once, never twice.

The request row is written before any remote call (imago_core/privacy_requests.py), in
state `pending`. This loop claims due rows, looks the reference up in the backend
whenever an earlier attempt was made (an ambiguous failure may have created the
ticket), creates the ticket otherwise, and on a transient failure (timeout,
connection error, 5xx, 429) schedules a retry with exponential backoff, honouring
Retry-After. Every attempt and its outcome goes to the audit log.

The ticket body is composed once, when the request is recorded, and stored on the
row (`ticket_body`), so every retry sends the same body under the same idempotency
key. A refusal keeps the backend's `details` on the row; a request the backend
refuses because the requester is suspended is filed without a requester (address in
the body) and flagged for the team's attention, never dropped. A request only ends
`failed` with a human-readable reason in `last_error`, and
`imago-requests deliver --retry PRV-...` puts it back in the queue.

Escalations to staff (imago_core/handoff.py) go through the same outbox, from their
own table, with the same retries and the same suspended-requester fallback (not
stored on the row: every attempt that meets the refusal sends the same fallback).
The loop runs inside the action server, started with it (imago_core/background.py),
woken after each new request or escalation and otherwise asleep until the next
retry is due; and as a command: `imago-requests deliver [--loop]`.
"""
from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update

from imago_core import audit
from imago_core.addresses import canonical_address
from imago_core.db import session_scope
from imago_core.models import DeliveryState, Escalation, PrivacyRequest, RequestStatus, utcnow
from imago_core.privacy_requests import format_date, request_by_reference
from imago_core.tickets.base import (
    BackendAuthError,
    PermanentBackendError,
    RequesterSuspendedError,
    TicketBackend,
    TicketDraft,
    TicketNotFoundError,
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


SUSPENDED_TAG = "requester_suspended"
CREDENTIALS_ATTENTION = "credentials refused by"  # starts the needs_attention text; cleared on delivery


def _credentials_attention(backend_name: str, retry_in: timedelta) -> str:
    minutes = max(round(retry_in.total_seconds() / 60), 1)
    return (f"{CREDENTIALS_ATTENTION} {backend_name}: fix the secret the last error names; delivery "
            f"retries by itself (next in about {minutes} min) or run: imago-requests deliver --retry <reference>")


def compose_ticket_body(row: PrivacyRequest) -> str:
    """The ticket text for a request; stored on the row when it is recorded."""
    return "\n".join([
        f"Privacy request {row.reference}: {row.request_type.label}",
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


def without_requester_body(body: str, email: str) -> str:
    """The fixed body with a note on top, for a ticket filed without its suspended requester.
    Deterministic, so a retry of the fallback sends the same body too."""
    return (f"ATTENTION: the requester's user in the ticketing system is suspended, so this ticket was "
            f"filed without a requester. Reply to {email} directly (not from this ticket), and only "
            f"after checking why the user was suspended.\n\n{body}")


def draft_for(row: PrivacyRequest) -> TicketDraft:
    body = row.ticket_body or compose_ticket_body(row)
    requester, tags = row.email, ["privacy-request", row.request_type.value]
    if row.filed_without_requester:
        requester, body, tags = "", without_requester_body(body, row.email), tags + [SUSPENDED_TAG]
    return TicketDraft(
        reference=row.reference, request_type=row.request_type.value, requester_email=requester,
        subject=f"[{row.reference}] {row.request_type.label}", body=body, due_at=row.due_at, tags=tags,
    )


def retry_hint(reference: str) -> str:
    return f"imago-requests deliver --retry {reference}"


@dataclass(frozen=True)
class Outbox:
    """One kind of record the loop delivers: its table, its ticket, its audit names."""

    model: type
    audit_prefix: str  # "" for requests ("delivered"), "escalation_" for escalations

    @property
    def is_requests(self) -> bool:
        return self.model is PrivacyRequest

    def audit(self, event: str, row, session, detail: dict) -> None:
        if self.is_requests:
            audit.record(event, request_id=row.id, session=session, detail=detail)
        else:
            audit.record(self.audit_prefix + event, conversation_id=row.conversation_id, session=session,
                         detail={"escalation": row.reference, **detail})


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


def _prepare(row_id: int, outbox: Outbox):
    with session_scope() as session:
        row = session.get(outbox.model, row_id)
        if not outbox.is_requests:
            from imago_core.handoff import escalation_draft

            return escalation_draft(row), row.delivery_attempts
        if row.ticket_body is None:  # recorded before bodies were stored: fix it now, before any send
            row.ticket_body = compose_ticket_body(row)
        return draft_for(row), row.delivery_attempts


def _file_without_requester(backend: TicketBackend, request_id: int, exc: RequesterSuspendedError) -> TicketDraft:
    """Marks the row (before the fallback is sent, so every later attempt sends the same one)."""
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        row.filed_without_requester = True
        row.needs_attention = (f"requester suspended in {backend.name}: ticket filed without a requester; "
                               "reply to the address in the ticket body directly")
        row.last_error_details = json.dumps(exc.details) if exc.details else None
        audit.record("requester_suspended", request_id=request_id, session=session,
                     detail={"backend": backend.name, "details": exc.details})
        draft = draft_for(row)
    logger.warning("request #%s: requester suspended in %s; filing without a requester", request_id, backend.name)
    return draft


def without_requester(draft: TicketDraft) -> TicketDraft:
    """An escalation's ticket with no requester and the address in the body (as for requests)."""
    return replace(draft, requester_email="", body=without_requester_body(draft.body, draft.requester_email),
                   tags=[*draft.tags, SUSPENDED_TAG])


def _escalation_without_requester(backend: TicketBackend, row_id: int, draft: TicketDraft,
                                  exc: RequesterSuspendedError) -> TicketDraft:
    with session_scope() as session:
        ESCALATIONS.audit("requester_suspended", session.get(Escalation, row_id), session,
                          {"backend": backend.name, "details": exc.details})
    logger.warning("escalation #%s: requester suspended in %s; filing without a requester", row_id, backend.name)
    return without_requester(draft)


def _deliver_one(backend: TicketBackend, row_id: int, outbox: Outbox = REQUESTS) -> DeliveryState:
    model, what = outbox.model, "request" if outbox.is_requests else "escalation"
    draft, attempts = _prepare(row_id, outbox)
    found_existing = False
    try:
        # An earlier attempt may have created the ticket without hearing back: look first.
        # After Zendesk's two-hour key window this lookup is the only guard against a duplicate.
        ref: Optional[TicketRef] = backend.find_by_reference(draft.reference) if attempts > 1 else None
        found_existing = ref is not None
        if ref is None:
            try:
                ref = backend.create(draft)
            except RequesterSuspendedError as exc:
                if outbox.is_requests:
                    draft = _file_without_requester(backend, row_id, exc)
                else:
                    draft = _escalation_without_requester(backend, row_id, draft, exc)
                ref = backend.create(draft)
    except TransientBackendError as exc:
        delay = backoff(attempts, exc.retry_after)
        with session_scope() as session:
            row = session.get(model, row_id)
            row.next_attempt_at = utcnow() + delay
            row.last_error = str(exc)[:255]
            if isinstance(exc, BackendAuthError) and outbox.is_requests:
                # nothing wrong with the request: a person fixes the secret
                row.needs_attention = _credentials_attention(backend.name, delay)[:255]
            outbox.audit("delivery_retry_scheduled", row, session,
                         {"attempt": attempts, "backend": backend.name, "error": str(exc)[:200],
                          "ambiguous": exc.ambiguous, "retry_in_seconds": round(delay.total_seconds())})
        logger.warning("delivery of %s #%s to %s failed (attempt %s, retry in %ss): %s",
                       what, row_id, backend.name, attempts, round(delay.total_seconds()), exc)
        return DeliveryState.PENDING
    except PermanentBackendError as exc:
        reason = str(exc) or type(exc).__name__
        hint = retry_hint(draft.reference) if outbox.is_requests else None
        with session_scope() as session:
            row = session.get(model, row_id)
            row.delivery_state, row.last_error, row.next_attempt_at = DeliveryState.FAILED, reason[:255], None
            detail = {"attempt": attempts, "backend": backend.name, "error": reason[:200], "details": exc.details}
            if outbox.is_requests:
                row.last_error_details = json.dumps(exc.details) if exc.details else None
                detail["retry"] = hint
            outbox.audit("delivery_failed", row, session, detail)
        logger.error("%s #%s cannot be delivered to %s (needs a person): %s%s", what, row_id, backend.name, reason,
                     f"; after fixing it run: {hint}" if hint else "")
        return DeliveryState.FAILED
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the other rows of the pass
        delay = backoff(attempts)
        logger.exception("delivery of %s #%s to %s hit an unexpected error; retry in %ss",
                         what, row_id, backend.name, round(delay.total_seconds()))
        with session_scope() as session:
            row = session.get(model, row_id)
            row.next_attempt_at = utcnow() + delay
            row.last_error = f"unexpected error ({type(exc).__name__}); see the delivery log"
        return DeliveryState.PENDING
    with session_scope() as session:
        row = session.get(model, row_id)
        row.delivery_state, row.external_id = DeliveryState.DELIVERED, ref.external_id
        row.next_attempt_at, row.last_error = None, None
        detail = {"attempt": attempts, "backend": backend.name, "ticket": ref.external_id,
                  "found_existing": found_existing}
        if outbox.is_requests:
            if (row.needs_attention or "").startswith(CREDENTIALS_ATTENTION):
                row.needs_attention = None
            if not row.filed_without_requester:
                row.last_error_details = None
            detail["without_requester"] = bool(row.filed_without_requester)
        else:
            detail["without_requester"] = not draft.requester_email and bool(row.verified_email)
        outbox.audit("delivered" if outbox.is_requests else "ticket_filed", row, session, detail)
    logger.info("%s #%s delivered to %s as ticket %s", what, row_id, backend.name, ref.external_id)
    return DeliveryState.DELIVERED


def retry_delivery(reference: str, actor: str = "staff") -> None:
    """Puts a failed (or waiting) request back in the queue, due now. The next attempt
    looks the reference up before creating, as every retry does."""
    with session_scope() as session:
        row = request_by_reference(session, reference)
        if row.delivery_state is DeliveryState.DELIVERED:
            raise ValueError(f"{row.reference} is already delivered (ticket {row.external_id})")
        if row.delivery_state is DeliveryState.NOT_NEEDED:
            raise ValueError(f"{row.reference} was recorded with the local backend: there is nothing to deliver")
        previous = row.delivery_state
        row.delivery_state, row.next_attempt_at = DeliveryState.PENDING, utcnow()
        audit.record("delivery_retry_requested", request_id=row.id, actor=actor, session=session,
                     detail={"from": previous.value, "last_error": row.last_error})


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
            with session_scope() as session:
                row = session.get(PrivacyRequest, request_id)
                row.status, row.status_changed_at = remote, utcnow()
                audit.record("status_changed", request_id=request_id, actor=f"backend:{backend.name}",
                             session=session, detail={"from": current.value, "to": remote.value})
            from imago_core.erasure import ErasureFailed, after_status_change  # a completed deletion erases our own copy

            try:
                after_status_change(request_id, actor=f"backend:{backend.name}")
            except ErasureFailed:
                pass  # recorded on the request (needs_attention) and in the audit log; the status still reads


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


def _configured_backend() -> Optional[TicketBackend]:
    from imago_core.tickets.factory import create_backend

    return create_backend()


# -- the loop inside the action server ---------------------------------------------
# Started with the action server (imago_core/background.py, via rasa_sdk_plugins/);
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
