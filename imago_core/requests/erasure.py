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

from imago_core.settings import ConfigError
from imago_core.storage import audit
from imago_core.storage import conversations as conversation_store
from imago_core.storage.addresses import canonical_address
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
    email = canonical_address(email)
    with session_scope() as session:
        verified = session.execute(
            select(VerifiedConversation.conversation_id).where(VerifiedConversation.email == email)).scalars().all()
        filed = session.execute(select(PrivacyRequest.conversation_id).where(
            PrivacyRequest.email == email, PrivacyRequest.conversation_id.is_not(None))).scalars().all()
    return set(verified) | set(filed)


class ErasureFailed(RuntimeError):
    """A completed deletion whose erasure did not run; the message says what to fix
    and how to run it again (no address in it)."""


def erase_assistant_data(email: str, request_id: Optional[int] = None, actor: str = "assistant",
                         tracker_engine: Optional[Engine] = None) -> Dict[str, int]:
    engine = tracker_engine or conversation_store.tracker_engine()
    # Before anything is deleted: a wrong store must not erase the links (verifications)
    # that a second try, against the right store, needs to find the conversations.
    conversation_store.require_store(engine)
    email = canonical_address(email)
    conversations = sorted(conversations_of(email))
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
        if request_id is not None:
            request = session.get(PrivacyRequest, request_id)
            if request is not None and (request.needs_attention or "").startswith("assistant data not erased"):
                request.needs_attention = None  # an earlier failure, now made good
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
        email, reference = row.email, row.reference
    try:
        return erase_assistant_data(email, request_id=request_id, actor=actor)
    except Exception as exc:  # noqa: BLE001 - whatever stopped it, the audit must not say "erased"
        reason = str(exc) if isinstance(exc, (conversation_store.TrackerStoreMissing, ConfigError)) \
            else type(exc).__name__  # a driver's message may quote the address
        _record_failure(request_id, reference, actor, reason)
        raise ErasureFailed(
            f"{reference} is completed, but the assistant's own data was NOT erased: {reason}. "
            f"Fix this, then run `imago-requests set-status {reference} completed` again to erase it."
        ) from exc


def _record_failure(request_id: int, reference: str, actor: str, reason: str) -> None:
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        # Shown by `imago-requests list/show` until a later erasure succeeds.
        row.needs_attention = f"assistant data not erased: {reason}"[:255]
        audit.record("assistant_data_erasure_failed", request_id=request_id, actor=actor, session=session,
                     detail={"reason": reason[:200]})
    logger.error("assistant data NOT erased for request #%s: %s", request_id, reason)

