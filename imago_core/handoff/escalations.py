"""Hand-off of a conversation to the privacy team's staff.

The action server records an Escalation (transcript with codes masked, channel,
verified address, open requests), queues it for the configured ticket backend
(the same outbox and retries as requests, imago_core/delivery/outbox.py; its ticket is
imago_core/handoff/tickets.py) and pauses the conversation. The staff console
(extensions/channels/staff.py) lists escalations, replies and hands back.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterable, List, Optional

from sqlalchemy import select

from imago_core.delivery.loop import kick
from imago_core.requests.deadlines import format_date
from imago_core.requests.records import new_reference, requests_for
from imago_core.requests.transcript import TRANSCRIPT_LIMIT, transcript_from_events  # noqa: F401 - re-exported
from imago_core.settings import get_settings
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    DeliveryState,
    Escalation,
    EscalationStatus,
    utcnow,
)

logger = logging.getLogger(__name__)


def create_escalation(conversation_id: str, channel: str, reason: str, events: Iterable[Dict[str, Any]],
                      verified_email: Optional[str], language: Optional[str] = None) -> Escalation:
    transcript = transcript_from_events(events)
    open_requests = []
    if verified_email:
        open_requests = [
            {"reference": v.reference, "type": v.request_type.value, "status": v.status.value,
             "due": format_date(v.due_at)}
            # Every request on file for the address, closed ones too: a complaint is often
            # about an earlier request ("you deleted nothing and still email me").
            for v in requests_for(verified_email, conversation_id)
        ]
    with session_scope() as session:
        existing = session.execute(select(Escalation).where(
            Escalation.conversation_id == conversation_id,
            Escalation.status.in_([EscalationStatus.WAITING, EscalationStatus.WITH_STAFF]),
        )).scalar_one_or_none()
        if existing is not None:  # asking twice does not queue twice
            existing.transcript, existing.updated_at = json.dumps(transcript), utcnow()
            existing.language = language or existing.language
            existing.open_requests = json.dumps(open_requests)
            return existing
        # Recorded first, filed by the delivery loop with retries (the local backend
        # needs no ticket: the staff console reads this table).
        backend = get_settings().ticket_backend
        row = Escalation(reference="ESC-" + new_reference()[4:], conversation_id=conversation_id, channel=channel,
                         reason=reason, verified_email=verified_email, open_requests=json.dumps(open_requests),
                         transcript=json.dumps(transcript), status=EscalationStatus.WAITING, backend=backend,
                         language=language,
                         delivery_state=DeliveryState.NOT_NEEDED if backend == "local" else DeliveryState.PENDING,
                         next_attempt_at=None if backend == "local" else utcnow())
        session.add(row)
        session.flush()
        audit.record("escalated", conversation_id=conversation_id, session=session,
                     detail={"escalation": row.reference, "reason": reason, "channel": channel})
    kick()
    return row


def list_escalations(include_closed: bool = False) -> List[Escalation]:
    with session_scope() as session:
        query = select(Escalation).order_by(Escalation.created_at.desc())
        if not include_closed:
            query = query.where(Escalation.status.in_([EscalationStatus.WAITING, EscalationStatus.WITH_STAFF]))
        return session.execute(query).scalars().all()


def get_escalation(reference: str) -> Optional[Escalation]:
    with session_scope() as session:
        return session.execute(select(Escalation).where(Escalation.reference == reference)).scalar_one_or_none()


def set_escalation_status(reference: str, status: EscalationStatus, actor: str) -> Optional[Escalation]:
    with session_scope() as session:
        row = session.execute(select(Escalation).where(Escalation.reference == reference)).scalar_one_or_none()
        if row is None:
            return None
        row.status, row.updated_at = status, utcnow()
        audit.record("escalation_" + status.name.lower(), conversation_id=row.conversation_id, actor=actor,
                     session=session, detail={"escalation": reference})
        return row


def record_forward_outcome(reference: str, forwarded: bool, reason: str) -> Optional[Escalation]:
    """What became of a livechat hand-off that Rocket.Chat was asked to forward.

    Forwarded: the room is with Rocket.Chat's human agents now, so the escalation
    leaves the staff console's queue (status FORWARDED). Refused (missing permission,
    same department, no agent online...): the escalation stays WAITING, so the staff
    console (and the ticket, when a backend is configured) remains the way a person
    reaches the visitor; the reason is kept in the audit log.
    """
    with session_scope() as session:
        row = session.execute(select(Escalation).where(Escalation.reference == reference)).scalar_one_or_none()
        if row is None:
            return None
        if forwarded:
            row.status, row.updated_at = EscalationStatus.FORWARDED, utcnow()
        audit.record("escalation_forwarded" if forwarded else "escalation_forward_refused",
                     conversation_id=row.conversation_id, session=session,
                     detail={"escalation": reference, "reason": reason[:120]})
        return row
