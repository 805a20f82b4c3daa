"""A privacy request as an outbox item: the ticket the privacy team gets for it.

The ticket body is composed once, when the request is recorded, and stored on the
row (`ticket_body`), so every retry sends the same body under the same idempotency
key. A refusal keeps the backend's `details` on the row; a request the backend
refuses because the requester is suspended is filed without a requester (address in
the body) and flagged for the team's attention, never dropped; bad credentials flag
the request too, since nothing is wrong with it and a person must fix the secret.
"""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Dict, Optional

from imago_core.delivery.kinds import OutboxKind, register
from imago_core.delivery.outbox import SUSPENDED_TAG, without_requester_body
from imago_core.delivery.tickets.base import (
    RequesterSuspendedError,
    TicketBackend,
    TicketDraft,
)
from imago_core.language.texts import language_label
from imago_core.requests.deadlines import format_date
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import PrivacyRequest

CREDENTIALS_ATTENTION = "credentials refused by"  # starts the needs_attention text; cleared on delivery


def compose_ticket_body(row: PrivacyRequest) -> str:
    """The ticket text for a request; stored on the row when it is recorded."""
    return "\n".join([
        f"Privacy request {row.reference}: {row.request_type.label}",
        "",
        f"Requester (verified by one-time code): {row.email}",
        f"Received: {row.received_at.isoformat()}",
        # The ticket's Due field follows the clock (requests/ticket_sync.py); this line is the date at filing.
        f"Due at filing (the earliest of {(row.regimes or 'gdpr').replace(',', ', ')}): {format_date(row.due_at)}",
        f"Channel: {row.channel or '-'}",
        f"Visitor's language (answer in it): {language_label(row.language)}",
        f"Conversation: {row.conversation_id or '-'}",
        "",
        "Details from the requester:",
        row.details or "(none)",
    ])


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


def _draft(row: PrivacyRequest) -> TicketDraft:
    if row.ticket_body is None:  # recorded before bodies were stored: fix it now, before any send
        row.ticket_body = compose_ticket_body(row)
    return draft_for(row)


def _audit(event: str, row: PrivacyRequest, session, detail: Dict[str, Any]) -> None:
    audit.record(event, request_id=row.id, session=session, detail=detail)


def _file_without_requester(backend: TicketBackend, request_id: int, _draft_sent: TicketDraft,
                            exc: RequesterSuspendedError) -> TicketDraft:
    """Marks the row (before the fallback is sent, so every later attempt sends the same one)."""
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        row.filed_without_requester = True
        row.needs_attention = (f"requester suspended in {backend.name}: ticket filed without a requester; "
                               "reply to the address in the ticket body directly")
        row.last_error_details = json.dumps(exc.details) if exc.details else None
        audit.record("requester_suspended", request_id=request_id, session=session,
                     detail={"backend": backend.name, "details": exc.details})
        return draft_for(row)


def _credentials_attention(backend_name: str, retry_in: timedelta) -> str:
    minutes = max(round(retry_in.total_seconds() / 60), 1)
    return (f"{CREDENTIALS_ATTENTION} {backend_name}: fix the secret the last error names; delivery "
            f"retries by itself (next in about {minutes} min) or run: imago-requests deliver --retry <reference>")


def _on_credentials_refused(row: PrivacyRequest, backend_name: str, retry_in: timedelta) -> None:
    row.needs_attention = _credentials_attention(backend_name, retry_in)[:255]


def _on_failed(row: PrivacyRequest, exc: Exception, detail: Dict[str, Any]) -> Optional[str]:
    details = getattr(exc, "details", None)
    row.last_error_details = json.dumps(details) if details else None
    detail["retry"] = retry_hint(row.reference)
    return detail["retry"]


def _on_delivered(row: PrivacyRequest, _draft_sent: TicketDraft, detail: Dict[str, Any]) -> None:
    if (row.needs_attention or "").startswith(CREDENTIALS_ATTENTION):
        row.needs_attention = None
    if not row.filed_without_requester:
        row.last_error_details = None
    detail["without_requester"] = bool(row.filed_without_requester)


REQUEST_KIND = register(OutboxKind(
    name="request", model=PrivacyRequest, draft=_draft, audit=_audit,
    without_requester=_file_without_requester, delivered_event="delivered",
    on_delivered=_on_delivered, on_failed=_on_failed, on_credentials_refused=_on_credentials_refused,
))
