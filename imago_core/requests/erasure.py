"""Erasure of the assistant's own data when a deletion request is completed.

When staff mark a deletion request completed (`imago-requests set-status ...
completed`, or the ticket backend's status read back), the assistant deletes its
own copy: the conversations verified for that address (tracker-store events),
drafts, escalations, verifications and codes. It keeps the request record and the
audit entries, which prove the erasure happened (counts only, no text).

A conversation belongs to an address only through a verification in it
(VerifiedConversation) or a request filed from it; nothing is guessed from text.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional, Set

from sqlalchemy import delete, or_, select
from sqlalchemy.engine import Engine

from imago_core.storage import audit

from imago_core.storage import conversations as conversation_store
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    CodeSend,
    ErasedConversation,
    Escalation,
    OneTimeCode,
    PrivacyRequest,
    RequestDraft,
    RequestStatus,
    RequestType,
    VerifiedConversation,
    utcnow,
)

logger = logging.getLogger(__name__)


def conversations_of(email: str) -> Set[str]:
    """Conversations linked to the address by a verification (or a request filed from one)."""
    with session_scope() as session:
        verified = session.execute(
            select(VerifiedConversation.conversation_id).where(VerifiedConversation.email == email)).scalars().all()
        filed = session.execute(select(PrivacyRequest.conversation_id).where(
            PrivacyRequest.email == email, PrivacyRequest.conversation_id.is_not(None))).scalars().all()
    return set(verified) | set(filed)


def erase_assistant_data(email: str, request_id: Optional[int] = None, actor: str = "assistant",
                         tracker_engine: Optional[Engine] = None) -> Dict[str, int]:
    conversations = sorted(conversations_of(email))
    engine = tracker_engine or conversation_store.tracker_engine()
    removed = {"conversations": len(conversations), "conversation events": 0}
    for batch in conversation_store.batched(conversations, 500):
        removed["conversation events"] += conversation_store.delete_conversations(engine, batch)
    with session_scope() as session:
        for kind, model, condition in (
            ("drafts", RequestDraft, or_(RequestDraft.email == email, RequestDraft.conversation_id.in_(conversations))),
            ("escalations", Escalation, or_(Escalation.verified_email == email,
                                            Escalation.conversation_id.in_(conversations))),
            ("codes", OneTimeCode, OneTimeCode.conversation_id.in_(conversations)),
            ("code sends", CodeSend, CodeSend.conversation_id.in_(conversations)),
            ("verifications", VerifiedConversation, VerifiedConversation.email == email),
        ):
            removed[kind] = session.execute(
                delete(model).where(condition).execution_options(synchronize_session=False)).rowcount
        # Remembered so that a history written back by a turn in progress is erased again.
        session.add_all([ErasedConversation(conversation_id=c, erased_at=utcnow()) for c in conversations])
        audit.record("assistant_data_erased", request_id=request_id, actor=actor, session=session, detail=removed)
    logger.info("assistant data erased for request #%s: %s", request_id, removed)
    return removed


def erase_if_deletion_completed(request_id: int, actor: str = "assistant") -> Optional[Dict[str, int]]:
    """A completed deletion request erases the assistant's own data for its address
    (imago_core.requests.reactions calls this after every status change)."""
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        if row is None or row.request_type is not RequestType.DELETION or row.status is not RequestStatus.COMPLETED:
            return None
        email = row.email
    return erase_assistant_data(email, request_id=request_id, actor=actor)
