"""A machine-readable copy (GDPR Art. 20) of what the assistant itself holds about
a verified address: its conversations (codes masked), requests and escalations.

When an access or export request is filed, the copy is mailed as a JSON attachment
to the verified address (the one that just proved it receives our mail), and the
visitor is told so. IMAGO's other systems are answered by the privacy team through
the ticket, as before.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.engine import Engine

from imago_core.identity.redaction import mask_code_like, redact_all
from imago_core.language.texts import bilingual, text
from imago_core.mail import Mailer, MailError, mailer_from_settings
from imago_core.requests.erasure import conversations_of
from imago_core.settings import ConfigError
from imago_core.storage import audit
from imago_core.storage import conversations as conversation_store
from imago_core.storage.addresses import canonical_address
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    Escalation,
    PrivacyRequest,
    RequestType,
    VerifiedConversation,
    utcnow,
)

logger = logging.getLogger(__name__)

EXPORTED_TYPES = {RequestType.ACCESS, RequestType.EXPORT}
FORMAT = "imago-privacy-assistant-export/1"


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return moment.isoformat() if moment else None


def _messages(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Visitor and assistant messages; codes masked as the tracker store masks them
    and, in the visitor's lines, any other 6-digit run too."""
    lines = []
    for event in redact_all(events):
        if event.get("event") not in ("user", "bot") or not event.get("text"):
            continue
        at = event.get("timestamp")
        lines.append({
            "from": "visitor" if event["event"] == "user" else "assistant",
            "at": datetime.utcfromtimestamp(at).isoformat() + "Z" if isinstance(at, (int, float)) else None,
            "text": mask_code_like(event["text"]) if event["event"] == "user" else event["text"],
        })
    return lines


def build_export(email: str, now: Optional[datetime] = None, tracker_engine: Optional[Engine] = None) -> Dict[str, Any]:
    engine = tracker_engine or conversation_store.tracker_engine()
    email = canonical_address(email)
    with session_scope() as session:
        verified = session.execute(select(VerifiedConversation).where(VerifiedConversation.email == email)
                                   .order_by(VerifiedConversation.verified_at)).scalars().all()
        requests = session.execute(select(PrivacyRequest).where(PrivacyRequest.email == email)
                                   .order_by(PrivacyRequest.received_at)).scalars().all()
        escalations = session.execute(select(Escalation).where(Escalation.verified_email == email)
                                      .order_by(Escalation.created_at)).scalars().all()
        verified_at = {}
        for row in verified:
            verified_at.setdefault(row.conversation_id, row.verified_at)
        return {
            "format": FORMAT,
            "generated_at": _iso(now or utcnow()),
            "email": email,
            "note": "What the IMAGO privacy assistant itself holds about this address. Conversations are "
                    "those in which this address was verified; one-time codes are masked.",
            "conversations": [
                {"conversation_id": conversation_id, "verified_at": _iso(verified_at.get(conversation_id)),
                 "messages": _messages(conversation_store.conversation_events(engine, conversation_id))}
                for conversation_id in sorted(conversations_of(email))
            ],
            "requests": [
                {"reference": r.reference, "type": r.request_type.value, "status": r.status.value,
                 "received_at": _iso(r.received_at), "due_at": _iso(r.due_at),
                 "status_changed_at": _iso(r.status_changed_at), "channel": r.channel, "details": r.details}
                for r in requests
            ],
            "escalations": [
                {"reference": e.reference, "created_at": _iso(e.created_at), "status": e.status.value,
                 "reason": e.reason, "channel": e.channel, "transcript": json.loads(e.transcript or "[]")}
                for e in escalations
            ],
        }


def mail_export(email: str, reference: str, mailer: Optional[Mailer] = None, language: str = "en") -> None:
    export = build_export(email)
    # In the visitor's language with the English below it (data/texts/<language>.yml).
    body = f"{bilingual(language, 'mail.export.body', reference=reference)}\n\n{text(language, 'mail.signature')}\n"
    subject, english = (text(language, "mail.export.subject", reference=reference),
                        text("en", "mail.export.subject", reference=reference))
    attachment = (f"imago-assistant-data-{reference}.json", json.dumps(export, indent=2).encode("utf-8"),
                  "application/json")
    (mailer or mailer_from_settings()).send(email, subject if subject == english else f"{subject} / {english}",
                                            body, [attachment])


def after_request_filed(request_type: RequestType, reference: str, email: str, duplicate: bool,
                        mailer: Optional[Mailer] = None, language: str = "en") -> Optional[str]:
    """Mails the export for a newly filed access or export request; returns the
    sentence that tells the visitor what happened (None for other requests)."""
    if request_type not in EXPORTED_TYPES or duplicate:
        return None
    try:
        mail_export(email, reference, mailer, language)
    except (MailError, ConfigError, conversation_store.TrackerStoreMissing) as exc:
        # Without the tracker store the copy would lack the conversations: none is sent.
        audit.record("assistant_export_failed", detail={"reference": reference, "why": type(exc).__name__})
        return text(language, "request.export_failed")
    audit.record("assistant_export_mailed", detail={"reference": reference})
    return text(language, "request.export_mailed")
