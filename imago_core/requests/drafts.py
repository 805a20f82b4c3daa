"""Request drafts: what the visitor was shown and confirmed, kept in the database.

Filing reads these, never the conversation's slots, so a typed `/intent{...}`
payload can neither invent a request nor skip the confirmation. A draft lives
DRAFT_TTL; each is claimed once, by a conditional update, when it is filed.
"""
from __future__ import annotations

from datetime import timedelta
from typing import List, Optional, Sequence

from sqlalchemy import select, update

from imago_core.identity.safe_text import (
    strip_controls,  # NUL, terminal escapes, bidi overrides
)
from imago_core.storage import audit
from imago_core.storage.addresses import canonical_address
from imago_core.storage.db import session_scope
from imago_core.storage.models import RequestDraft, RequestType, utcnow

DRAFT_TTL = timedelta(minutes=30)


def save_drafts(conversation_id: str, email: str, types: Sequence[RequestType], details: Optional[str]) -> None:
    """Replaces this conversation's open drafts with one per request type."""
    with session_scope() as session:
        for old in session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id, RequestDraft.consumed_at.is_(None)
        )).scalars():
            old.consumed_at = utcnow()
        for kind in types:
            session.add(RequestDraft(conversation_id=conversation_id, email=email, request_type=kind,
                                     details=strip_controls(details) if details and kind is RequestType.CORRECTION else None))


def save_draft(conversation_id: str, email: str, request_type: RequestType, details: Optional[str]) -> None:
    save_drafts(conversation_id, email, [request_type], details)


def take_drafts(conversation_id: str, email: str) -> List[RequestDraft]:
    """The confirmed drafts: this conversation's unconsumed, fresh ones for the
    verified address. Each is claimed by a conditional update, so a draft is filed
    once even if two filings race."""
    with session_scope() as session:
        drafts = session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id,
            RequestDraft.consumed_at.is_(None),
            RequestDraft.created_at > utcnow() - DRAFT_TTL,
        ).order_by(RequestDraft.id)).scalars().all()
        session.expunge_all()
    taken = []
    for draft in drafts:
        with session_scope() as session:
            claimed = session.execute(update(RequestDraft).where(
                RequestDraft.id == draft.id, RequestDraft.consumed_at.is_(None)
            ).values(consumed_at=utcnow())).rowcount == 1
        if claimed and draft.email == canonical_address(email):
            taken.append(draft)
    return taken


def discard_drafts(conversation_id: str) -> None:
    with session_scope() as session:
        for draft in session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id, RequestDraft.consumed_at.is_(None)
        )).scalars():
            draft.consumed_at = utcnow()
    audit.record("task_cancelled", conversation_id=conversation_id)
