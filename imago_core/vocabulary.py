"""The words the whole project shares: request types, request and delivery
statuses, escalation statuses. Plain enums, no database and no Rasa, so the
ticket backends, the records and the actions all import the one definition."""
from __future__ import annotations

import enum


class RequestType(str, enum.Enum):
    ACCESS = "access"
    DELETION = "deletion"
    CORRECTION = "correction"
    EXPORT = "export"
    MARKETING_OPTOUT = "marketing_optout"

    @property
    def label(self) -> str:
        """What the visitor is shown in a summary."""
        return _LABELS[self.value]

    @property
    def short(self) -> str:
        """The type inside a sentence: "your deletion request"."""
        return _SHORT[self.value]


_LABELS = {
    "access": "Access (a copy of your personal data)",
    "deletion": "Deletion of your personal data",
    "correction": "Correction of your personal data",
    "export": "Export (a machine-readable copy of your data)",
    "marketing_optout": "Marketing opt-out",
}
_SHORT = {
    "access": "access", "deletion": "deletion", "correction": "correction",
    "export": "export", "marketing_optout": "marketing opt-out",
}


def ticket_label(request_type: str) -> str:
    """The ticket's subject label: "Deletion request", "Escalation"."""
    if request_type == "escalation":
        return "Escalation"
    if request_type in _SHORT:
        short = _SHORT[request_type]
        return short[0].upper() + short[1:] + " request"
    return request_type.replace("_", " ").strip().capitalize() + " request"


class RequestStatus(str, enum.Enum):
    """A request's status in the visitor's words; every ticket backend maps onto these."""

    RECEIVED = "received"
    IN_PROGRESS = "in progress"
    WAITING_FOR_YOU = "waiting for you"
    COMPLETED = "completed"
    REJECTED = "rejected"
    # The backend no longer shows the ticket (deleted, merged away): staff are told,
    # and the visitor hears the plain truth that a person has the request.
    WITH_PRIVACY_TEAM = "with the privacy team"

    @property
    def is_open(self) -> bool:
        return self not in (RequestStatus.COMPLETED, RequestStatus.REJECTED)


class DeliveryState(str, enum.Enum):
    PENDING = "pending"  # recorded, not yet in the ticketing backend
    DELIVERED = "delivered"
    FAILED = "failed"  # permanent error: needs a person
    NOT_NEEDED = "not_needed"  # local backend: the database is the queue


class EscalationStatus(str, enum.Enum):
    WAITING = "waiting"  # the visitor waits for a person
    WITH_STAFF = "with staff"  # a member of staff has replied
    HANDED_BACK = "handed back"  # the assistant is back in charge
    FORWARDED = "forwarded"  # moved to a RocketChat Omnichannel department
