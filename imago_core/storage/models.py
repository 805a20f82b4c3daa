"""The project's own records: one-time codes, verified conversations, privacy
requests and the append-only audit log (which outlives the rows it mentions)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import declarative_base, relationship, validates

from imago_core.storage.addresses import canonical_address
from imago_core.vocabulary import (
    DeliveryState,
    EscalationStatus,
    RequestStatus,
    RequestType,
)

__all__ = [  # the vocabulary is re-exported: records and their enums come from one place
    "Base", "utcnow", "OneTimeCode", "CodeSend", "VerifiedConversation", "RequestDraft", "PrivacyRequest",
    "AuditEvent", "Escalation", "RequestType", "RequestStatus", "DeliveryState", "EscalationStatus",
]

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores UTC, always returns timezone-aware datetimes (SQLite forgets tzinfo)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class OneTimeCode(Base):
    __tablename__ = "one_time_codes"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    address_key = Column(String(64), nullable=False, index=True)  # HMAC of the address
    code_hash = Column(String(64), nullable=False)  # HMAC of conversation|address|code
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)
    failed_attempts = Column(Integer, nullable=False, default=0)
    used_at = Column(UTCDateTime)
    invalidated_at = Column(UTCDateTime)


class CodeSend(Base):
    """One send slot, reserved before the mail goes out (and deleted if it fails);
    the rate limits count these. `address_key` is the key of the address with any
    +tag removed; `mailed` is false when the per-address ceiling held the mail back."""

    __tablename__ = "code_sends"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    address_key = Column(String(64), nullable=False, index=True)
    client_key = Column(String(64), index=True)  # HMAC of the client's network, when known
    mailed = Column(Boolean, nullable=False, default=True)
    sent_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class VerifiedConversation(Base):
    __tablename__ = "verified_conversations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    email = Column(String(320), nullable=False)
    verified_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)

    @validates("email")
    def _canonical(self, _key, email):  # one spelling per address (imago_core/storage/addresses.py)
        return canonical_address(email)


def _enum(enum_class):
    # Stored as the readable values ("in progress"), not the Python names.
    return Enum(enum_class, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class RequestDraft(Base):
    """What the visitor was shown to confirm; filing reads this, never slots."""

    __tablename__ = "request_drafts"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    email = Column(String(320), nullable=False)
    request_type = Column(_enum(RequestType), nullable=False)
    details = Column(Text)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    consumed_at = Column(UTCDateTime)
    # The request this draft was filed as (set in the filing's own transaction), so a
    # turn run again after a crash answers with it (imago_core/requests/filing.py).
    filed_reference = Column(String(16))

    @validates("email")
    def _canonical(self, _key, email):  # one spelling per address (imago_core/storage/addresses.py)
        return canonical_address(email)


class PrivacyRequest(Base):
    __tablename__ = "privacy_requests"

    id = Column(Integer, primary_key=True)
    reference = Column(String(16), nullable=False, unique=True)
    request_type = Column(_enum(RequestType), nullable=False)
    email = Column(String(320), nullable=False, index=True)
    details = Column(Text)
    channel = Column(String(64))
    conversation_id = Column(String(255))
    received_at = Column(UTCDateTime, nullable=False, default=utcnow)
    due_at = Column(UTCDateTime, nullable=False)
    status = Column(_enum(RequestStatus), nullable=False, default=RequestStatus.RECEIVED)
    status_changed_at = Column(UTCDateTime)
    # Delivery into the ticketing backend (the outbox pattern: recorded first).
    backend = Column(String(32), nullable=False, default="local")
    delivery_state = Column(_enum(DeliveryState), nullable=False, default=DeliveryState.NOT_NEEDED)
    external_id = Column(String(64))
    delivery_attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime)
    last_error = Column(String(255))  # human-readable; set on every failure
    # The backend's field-by-field explanation of a refusal (Zendesk 422 `details`), JSON,
    # with the values sent blanked out.
    last_error_details = Column(Text)
    # The ticket text, fixed when the request is recorded: a retry sends the same body
    # under the same idempotency key (Zendesk refuses a changed one).
    ticket_body = Column(Text)
    # The language the visitor wrote in (en, zh-Hant, zh-Hans): the team answers in it.
    language = Column(String(16))
    # Filed without a requester because theirs is suspended in the backend.
    filed_without_requester = Column(Boolean, default=False)
    # Why the privacy team must look at this request (suspended requester, ticket gone), or None.
    needs_attention = Column(String(255))
    # The legal clocks (imago_core/requests/clocks/): the regimes that apply ("gdpr,pdpo,ccpa")
    # and the clock's history as JSON (Clock.to_json()), the one stored truth of its dates;
    # due_at is derived from it on every change. NULL on rows recorded before the clocks.
    regimes = Column(String(64))
    clock = Column(Text)
    language = Column(String(16))  # the visitor's language, for the mails they are owed
    assignee = Column(String(64))  # the staff member working on it (a staff token's name)
    # The ticket's Due and status must be updated in the backend from this moment on
    # (NULL: nothing owed); retried with backoff like a delivery (requests/ticket_sync.py).
    ticket_update_at = Column(UTCDateTime, index=True)
    ticket_update_attempts = Column(Integer)
    # A notice the law says the visitor must get may be unsent since then (NULL: none);
    # requests/notices.py sends what the clock says is pending and clears it.
    notice_check_at = Column(UTCDateTime, index=True)
    # The filing's confirmation mail to the verified address (imago_core/requests/confirmation.py):
    # due from the filing on, sent at least once by the action that filed or, after a crash, the loop.
    confirmation_due_at = Column(UTCDateTime)
    confirmation_sent_at = Column(UTCDateTime)

    # "address|type" while the request is open, NULL once closed: the unique index makes
    # "one open request per address and type" the database's rule, so two parallel
    # identical requests cannot both be inserted (NULLs never collide, on SQLite or PostgreSQL).
    open_key = Column(String(400), unique=True)

    audit = relationship("AuditEvent", back_populates="request", order_by="AuditEvent.id")

    __table_args__ = (Index("ix_requests_delivery", "delivery_state", "next_attempt_at"),)

    @validates("email")
    def _canonical(self, _key, email):  # one spelling per address (imago_core/storage/addresses.py)
        return canonical_address(email)

    @validates("status")
    def _keep_open_key(self, _key, status):
        status = RequestStatus(status)
        if not status.is_open:
            self.open_key = None
        elif self.email and self.request_type:
            self.open_key = open_request_key(self.email, self.request_type)
        return status


def open_request_key(email: str, request_type) -> str:
    return f"{canonical_address(email)}|{RequestType(request_type).value}"


class AuditEvent(Base):
    """Append-only: rows are only ever inserted, and after REQUEST_RETENTION_DAYS
    pseudonymised by the purge (imago_core/storage/audit_pseudonyms.py). Never holds codes;
    addresses appear only as their keyed hash."""

    __tablename__ = "audit_events"

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    event = Column(String(64), nullable=False)
    conversation_id = Column(String(255), index=True)
    address_key = Column(String(64), index=True)
    request_id = Column(Integer, ForeignKey("privacy_requests.id", ondelete="SET NULL"), index=True)
    actor = Column(String(64), nullable=False, default="assistant")
    detail = Column(Text)

    request = relationship("PrivacyRequest", back_populates="audit")


class Escalation(Base):
    """A conversation handed to a person. The transcript is stored with one-time
    codes masked; the staff console reads it from here."""

    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True)
    reference = Column(String(16), nullable=False, unique=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64))
    reason = Column(String(64), nullable=False)  # asked | urgent | not understood
    verified_email = Column(String(320))
    open_requests = Column(Text)  # JSON list of {reference, type, status, due}
    language = Column(String(16))  # the visitor's language (en, zh-Hant, zh-Hans)
    transcript = Column(Text, nullable=False)  # JSON list of {who, text, at}
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    status = Column(_enum(EscalationStatus), nullable=False, default=EscalationStatus.WAITING)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)
    external_id = Column(String(64))  # ticket in the configured backend, when filed there
    # Filed through the same outbox as requests (imago_core/delivery/outbox.py): recorded first,
    # delivered with retries, looked up before any re-create.
    backend = Column(String(32), nullable=False, default="local")
    delivery_state = Column(_enum(DeliveryState), nullable=False, default=DeliveryState.NOT_NEEDED)
    delivery_attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime)
    last_error = Column(String(255))

    __table_args__ = (Index("ix_escalations_delivery", "delivery_state", "next_attempt_at"),)

    @validates("verified_email")
    def _canonical(self, _key, email):  # one spelling per address (imago_core/storage/addresses.py)
        return canonical_address(email)


class InboundMarker(Base):
    """One row per inbound event already taken (a chat message id, a closed room).

    The unique key makes "first one wins" hold across re-sends and across replicas
    sharing the database; rows are purged after a day (see imago_core/storage/message_dedup.py).
    """

    __tablename__ = "inbound_markers"

    id = Column(Integer, primary_key=True)
    key = Column(String(255), nullable=False, unique=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class ErasedConversation(Base):
    """A conversation erased for a completed deletion request. If the Rasa server was
    in the middle of a turn of it, it writes the history back when the turn ends; the
    daily purge deletes those events again (timestamp <= erased_at). Kept for
    CONVERSATION_RETENTION_DAYS; holds no address."""

    __tablename__ = "erased_conversations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    erased_at = Column(UTCDateTime, nullable=False, default=utcnow)



class AddressFailure(Base):
    """One slot (imago_core/identity/address_budget.py) of an address's failure budget: a code compared and found wrong, or
    (for the moment of the comparison) one being compared. Holds no address, no code."""

    __tablename__ = "address_failures"

    id = Column(Integer, primary_key=True)
    address_key = Column(String(64), nullable=False, index=True)  # HMAC of the canonical address
    failed_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class AddressLockNotice(Base):
    """The owner was told their address is locked: at most one such mail per window."""

    __tablename__ = "address_lock_notices"

    id = Column(Integer, primary_key=True)
    address_key = Column(String(64), nullable=False, index=True)
    sent_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
