"""How fresh the visitor's proof of their address must be for a deletion (issue 23,
finding 8): a deletion can't be undone, so a verification older than
DELETION_PROOF_MAX_AGE asks for a code sent now (imago_core/identity/verification_age.py)."""
from __future__ import annotations

from typing import Optional

from rasa_sdk import Tracker

from actions.request_form.common import current_types
from imago_core.identity.codes import get_verifier
from imago_core.identity.verification_age import (
    deletion_needs_fresh_code,
    has_pending_deletion,
)
from imago_core.storage.models import RequestType


def minutes_of(age) -> int:
    return int(age.total_seconds() // 60)


def deletion_proof_stale(tracker: Tracker) -> Optional[str]:
    """The verified address, when a deletion is confirmed on a proof older than
    DELETION_PROOF_MAX_AGE; None otherwise."""
    if RequestType.DELETION not in current_types(tracker):
        return None
    verifier = get_verifier()
    email = verifier.verified_email(tracker.sender_id)
    if email and deletion_needs_fresh_code(tracker.sender_id, email, now=verifier.clock()):
        return email
    return None


def deletion_blocked(conversation_id: str, email: str) -> bool:
    """A confirmed deletion draft (the drafts decide what is filed) on a stale proof."""
    return has_pending_deletion(conversation_id) and \
        deletion_needs_fresh_code(conversation_id, email, now=get_verifier().clock())
