"""The one interface every ticket backend implements.

A backend turns a recorded privacy request into a ticket in the privacy team's
system and reads its status back. Backends never see the database: the delivery
loop (imago_core/delivery/outbox.py) owns retries and bookkeeping, and a backend only says,
through the exception it raises, whether a failure is worth retrying.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import List, Optional

from imago_core.vocabulary import RequestStatus, ticket_label


@dataclass(frozen=True)
class TicketDraft:
    reference: str  # e.g. PRV-7K3M9Q; unique, also used to find a ticket again
    request_type: str  # access | deletion | correction | export | marketing_optout | escalation
    requester_email: str
    subject: str
    body: str  # plain text: details and context
    due_at: Optional[datetime] = None
    tags: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class TicketRef:
    backend: str
    external_id: str
    url: Optional[str] = None


class BackendError(Exception):
    """A backend call failed. Messages never contain personal data."""


class TransientBackendError(BackendError):
    """Worth retrying later: timeout, connection error, 5xx, 429.

    `ambiguous` means the ticket may have been created anyway (the request reached
    the server but no answer came back), so look the reference up before re-creating.
    """

    def __init__(self, message: str, retry_after: Optional[float] = None, ambiguous: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


AUTH_RETRY_SECONDS = 900


class BackendAuthError(TransientBackendError):
    """The backend refused our credentials (401/403 after a renewal, a refused token).

    Transient, with a long wait: nothing the request holds is wrong, so once an admin
    fixes the secret the queue delivers by itself. Delivery flags the request meanwhile."""

    def __init__(self, message: str, retry_after: Optional[float] = AUTH_RETRY_SECONDS):
        super().__init__(message, retry_after=retry_after)


class PermanentBackendError(BackendError):
    """Retrying will not help (bad credentials, validation error): needs a person.

    `details` is the backend's field-by-field explanation (Zendesk's 422 `details`),
    with the values we sent blanked out: {"requester": [{"error": ..., "description": ...}]}.
    """

    def __init__(self, message: str, details: Optional[dict] = None):
        super().__init__(message)
        self.details = details


class RequesterSuspendedError(PermanentBackendError):
    """The requester's account in the backend is suspended, so a ticket naming them is refused.
    The delivery loop files the ticket without a requester instead."""


class TicketNotFoundError(PermanentBackendError):
    """A ticket we filed is gone from the backend (deleted or merged away)."""


class TicketBackend:
    name = "abstract"

    def create(self, draft: TicketDraft) -> TicketRef:
        raise NotImplementedError

    def find_by_reference(self, reference: str) -> Optional[TicketRef]:
        """The ticket already filed for this reference, if any."""
        raise NotImplementedError

    def status(self, ref: TicketRef) -> RequestStatus:
        raise NotImplementedError

    def update(self, ref: TicketRef, due_at: Optional[datetime] = None,
               status: Optional[RequestStatus] = None) -> None:
        """Moves the ticket's due date and status to the request's (a clock changed on the
        desk). A backend without it raises NotImplementedError and its tickets keep the
        Due they were created with."""
        raise NotImplementedError


def ticket_subject(draft: TicketDraft) -> str:
    """`[PRV-7K3M9Q] Deletion request`: the reference and the request type, always.

    The reference in brackets is what staff search for and what the RT backend
    finds a ticket by, so it leads; the draft's own subject follows when it says
    more than the type. One line: subjects end up in e-mail headers.
    """
    tag = f"[{draft.reference}]"
    label = ticket_label(draft.request_type)
    text = " ".join(draft.subject.replace(tag, " ").split()).strip(" -:")
    if not text or text.lower() == label.lower():
        return f"{tag} {label}"
    if label.lower() in text.lower():
        return f"{tag} {text}"
    return f"{tag} {label}: {text}"
