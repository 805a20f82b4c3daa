"""Recording and reading privacy requests (the project's own queue).

A request is recorded here before any ticketing backend is called (the outbox,
imago_core/delivery/outbox.py, files it afterwards), so the visitor's reference and
due date hold whatever the backend does.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, List, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from imago_core.requests import clock_store
from imago_core.requests.clocks import ClockError
from imago_core.requests.reactions import after_clock_change, after_status_change
from imago_core.requests.tickets import compose_ticket_body
from imago_core.storage import audit
from imago_core.storage.addresses import canonical_address
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    DeliveryState,
    PrivacyRequest,
    RequestStatus,
    RequestType,
    open_request_key,
    utcnow,
)

# No 0/O, 1/I/L or U: a reference read aloud or retyped stays unambiguous.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PREFIX = "PRV-"
REFERENCE_LENGTH = 6
OPEN_STATUSES = [s for s in RequestStatus if s.is_open]


def new_reference() -> str:
    return REFERENCE_PREFIX + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


@dataclass(frozen=True)
class RequestView:
    reference: str
    request_type: RequestType
    status: RequestStatus
    received_at: datetime
    due_at: datetime
    duplicate: bool = False

    @classmethod
    def of(cls, row: PrivacyRequest, duplicate: bool = False) -> "RequestView":
        return cls(row.reference, row.request_type, row.status, row.received_at, row.due_at, duplicate)

    @property
    def overdue(self) -> bool:
        return self.status.is_open and self.due_at < utcnow()


def record_request(email: str, request_type: RequestType, details: Optional[str], channel: Optional[str],
                   conversation_id: Optional[str], backend: str = "local",
                   now: Optional[datetime] = None, address_key: Optional[str] = None, *,
                   volunteered: Iterable[str] = (), language: Optional[str] = None) -> RequestView:
    """Records a request, or returns the open one of the same type for the address.

    Its legal clock opens here: the regimes of the REGIMES setting plus those the visitor
    `volunteered` in the conversation ("I live in California"), the due date the earliest
    of theirs. Atomic: the insert carries the open-request key, which the database keeps
    unique, so of two parallel identical requests one is inserted and the other is
    answered with its reference."""
    now = now or utcnow()
    key = open_request_key(email, request_type)
    clock = clock_store.open_clock(request_type, now, volunteered)
    for _ in range(5):  # a reference collision is astronomically rare; retry anyway
        existing = _open_request(key)
        if existing is not None:
            audit.record("duplicate_request_answered", conversation_id=conversation_id,
                         address_key=address_key, request_id=existing.id)
            return RequestView.of(existing, duplicate=True)
        try:
            with session_scope() as session:
                row = insert_request(session, email=email, request_type=request_type, details=details,
                                     channel=channel, conversation_id=conversation_id, backend=backend, now=now,
                                     key=key, clock=clock, language=language, address_key=address_key)
                view, request_id = RequestView.of(row), row.id
        except IntegrityError:
            continue  # another conversation won the race (answered above next time), or a reference clash
        after_clock_change(request_id)  # a receipt confirmation, where CCPA applies
        return view
    raise RuntimeError("could not record the request")


def insert_request(session, *, email: str, request_type: RequestType, details: Optional[str],
                   channel: Optional[str], conversation_id: Optional[str], backend: str, now: datetime,
                   key: str, clock, language: Optional[str], address_key: Optional[str],
                   **columns) -> PrivacyRequest:
    """Adds a new request row with its opened legal `clock`, in `session` (the caller's
    transaction), its ticket body fixed and its recording audited. The flush checks the
    reference's and the open key's uniqueness here: an IntegrityError is the caller's to
    retry. `columns`: further columns the caller sets (the filing's confirmation mail)."""
    row = PrivacyRequest(
        reference=new_reference(), request_type=request_type, email=email,
        details=details, channel=channel, conversation_id=conversation_id,
        received_at=now, due_at=clock_store.due_moment(clock.due), status=RequestStatus.RECEIVED,
        status_changed_at=now, backend=backend, open_key=key,
        clock=clock.to_json(), regimes=",".join(clock.regimes), language=language or "en",
        notice_check_at=now,
        delivery_state=DeliveryState.NOT_NEEDED if backend == "local" else DeliveryState.PENDING,
        next_attempt_at=None if backend == "local" else now,
        **columns,
    )
    session.add(row)
    session.flush()
    if backend != "local":
        # Fixed now: every delivery attempt sends this same text (imago_core/requests/tickets.py).
        row.ticket_body = compose_ticket_body(row)
    audit.record("request_recorded", conversation_id=conversation_id, address_key=address_key,
                 request_id=row.id, session=session,
                 detail={"type": request_type.value, "channel": channel, "backend": backend,
                         "regimes": list(clock.regimes), "due": clock.due.isoformat()})
    return row


def _open_request(key: str) -> Optional[PrivacyRequest]:
    with session_scope() as session:
        return session.execute(
            select(PrivacyRequest).where(PrivacyRequest.open_key == key)
        ).scalar_one_or_none()


def requests_for(email: str, conversation_id: Optional[str] = None) -> List[RequestView]:
    with session_scope() as session:
        rows = session.execute(
            select(PrivacyRequest).where(PrivacyRequest.email == canonical_address(email))
            .order_by(PrivacyRequest.received_at)
        ).scalars().all()
        for row in rows:
            audit.record("status_read", conversation_id=conversation_id, request_id=row.id, session=session)
        return [RequestView.of(row) for row in rows]


def requests_filed_in(conversation_id: str) -> List[RequestView]:
    """The requests this conversation filed, oldest first: their facts answer the
    visitor's questions about them ("how long will it take?", "what's next?")."""
    with session_scope() as session:
        rows = session.execute(
            select(PrivacyRequest).where(PrivacyRequest.conversation_id == conversation_id)
            .order_by(PrivacyRequest.received_at)
        ).scalars().all()
        for row in rows:
            audit.record("status_read", conversation_id=conversation_id, request_id=row.id, session=session)
        return [RequestView.of(row) for row in rows]


def request_by_reference(session, reference: str) -> PrivacyRequest:
    """The request with this reference (any case), or LookupError naming it."""
    row = session.execute(
        select(PrivacyRequest).where(PrivacyRequest.reference == reference.strip().upper())
    ).scalar_one_or_none()
    if row is None:
        raise LookupError(f"no request with reference {reference}")
    return row


def set_status(reference: str, status: RequestStatus, actor: str = "staff", note: Optional[str] = None) -> RequestView:
    """A status set by name (`imago-requests set-status`): moves the legal clock the same
    way (a refusal needs its code: ValueError, see `imago-requests refuse`)."""
    with session_scope() as session:
        row = request_by_reference(session, reference)
        previous = row.status
        try:
            clock = clock_store.toward_status(clock_store.clock_of(row), status, actor, utcnow(), note)
        except ClockError as exc:
            raise ValueError(str(exc)) from exc
        clock_store.store(row, clock)
        audit.record("status_changed", request_id=row.id, actor=actor, session=session,
                     detail={"from": previous.value, "to": row.status.value, **({"note": note} if note else {})})
        view, request_id = RequestView.of(row), row.id
    after_status_change(request_id, actor)
    return view


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
