"""How old a conversation's proof of its address is (issue 23, finding 8).

A verification lasts VERIFICATION_TTL_MINUTES (30) for status lookups and most
requests. A deletion cannot be undone, so it needs a proof at most
DELETION_PROOF_MAX_AGE old: a copied widget session (browser storage, a shared
device) that inherits a verification can read, but not erase, without a code sent
to the address now. The widget's socket.io channel also reads the time of the
latest verification, to rotate the session id (extensions/channels/widget_session.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select

from imago_core.storage.addresses import canonical_address
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    RequestDraft,
    RequestType,
    VerifiedConversation,
    utcnow,
)

DELETION_PROOF_MAX_AGE = timedelta(minutes=10)


def latest_verification(conversation_id: str) -> Optional[datetime]:
    """When this conversation last proved an address (any, expired or not), or None."""
    with session_scope() as session:
        return session.execute(select(func.max(VerifiedConversation.verified_at)).where(
            VerifiedConversation.conversation_id == conversation_id)).scalar_one_or_none()


def deletion_needs_fresh_code(conversation_id: str, email: Optional[str], now: Optional[datetime] = None) -> bool:
    """True unless this conversation proved `email` within DELETION_PROOF_MAX_AGE."""
    if not email:
        return True
    now = now or utcnow()
    with session_scope() as session:
        latest = session.execute(select(func.max(VerifiedConversation.verified_at)).where(
            VerifiedConversation.conversation_id == conversation_id,
            VerifiedConversation.email == canonical_address(email),
            VerifiedConversation.expires_at > now)).scalar_one_or_none()
    return latest is None or now - latest > DELETION_PROOF_MAX_AGE


def has_pending_deletion(conversation_id: str) -> bool:
    """Whether the drafts this conversation confirmed hold a deletion (the drafts, not
    the slots, decide what is filed: imago_core/requests/drafts.py)."""
    with session_scope() as session:
        return session.execute(select(RequestDraft.id).where(
            RequestDraft.conversation_id == conversation_id, RequestDraft.consumed_at.is_(None),
            RequestDraft.request_type == RequestType.DELETION).limit(1)).first() is not None
