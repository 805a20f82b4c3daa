"""An escalation as an outbox item: the ticket the privacy team gets for a hand-off.

Escalations go through the same outbox as requests, from their own table, with the
same retries and the same suspended-requester fallback (not stored on the row:
every attempt that meets the refusal sends the same fallback).
"""
from __future__ import annotations

import json
from typing import Any, Dict

from imago_core.delivery.kinds import OutboxKind, register
from imago_core.delivery.outbox import without_requester
from imago_core.delivery.tickets.base import (
    RequesterSuspendedError,
    TicketBackend,
    TicketDraft,
)
from imago_core.language.texts import language_label
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import Escalation


def escalation_draft(row: Escalation) -> TicketDraft:
    """The ticket the privacy team gets for an escalation."""
    transcript = "\n".join(f"[{line['who']}] {line['text']}" for line in json.loads(row.transcript))
    requests_text = "\n".join(f"- {r['reference']} {r['type']}: {r['status']}, due {r['due']}"
                              for r in json.loads(row.open_requests or "[]")) or "(none)"
    return TicketDraft(
        reference=row.reference, request_type="escalation", requester_email=row.verified_email or "",
        subject=f"[{row.reference}] Conversation escalated to the privacy team ({row.reason})",
        body=f"Channel: {row.channel}\nConversation: {row.conversation_id}\n"
             f"Visitor's language (answer in it): {language_label(row.language)}\n"
             f"Verified address: {row.verified_email or '(not verified)'}\n\nRequests on file for this address:\n{requests_text}\n\n"
             f"Transcript (one-time codes masked):\n{transcript}\n",
        tags=["privacy-escalation"])


def _audit(event: str, row: Escalation, session, detail: Dict[str, Any]) -> None:
    audit.record("escalation_" + event, conversation_id=row.conversation_id, session=session,
                 detail={"escalation": row.reference, **detail})


def _without_requester(backend: TicketBackend, row_id: int, draft: TicketDraft,
                       exc: RequesterSuspendedError) -> TicketDraft:
    with session_scope() as session:
        _audit("requester_suspended", session.get(Escalation, row_id), session,
               {"backend": backend.name, "details": exc.details})
    return without_requester(draft)


def _on_delivered(row: Escalation, draft: TicketDraft, detail: Dict[str, Any]) -> None:
    detail["without_requester"] = not draft.requester_email and bool(row.verified_email)


ESCALATION_KIND = register(OutboxKind(
    name="escalation", model=Escalation, draft=escalation_draft, audit=_audit,
    without_requester=_without_requester, delivered_event="ticket_filed", on_delivered=_on_delivered,
))
