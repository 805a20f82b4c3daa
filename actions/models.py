"""The project's own records: one-time codes, verified conversations, privacy
requests and the append-only audit log (which outlives the rows it mentions)."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (
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
from sqlalchemy.orm import declarative_base, relationship

from actions.tickets.base import VisitorStatus

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


class RequestType(str, enum.Enum):
    ACCESS = "access"
    DELETION = "deletion"
    CORRECTION = "correction"
    EXPORT = "export"
    MARKETING_OPTOUT = "marketing_optout"

    @property
    def label(self) -> str:
        return {
            "access": "Access (a copy of your personal data)",
            "deletion": "Deletion of your personal data",
            "correction": "Correction of your personal data",
            "export": "Export (a machine-readable copy of your data)",
            "marketing_optout": "Marketing opt-out",
        }[self.value]

    @property
    def short(self) -> str:
        return {
            "access": "access", "deletion": "deletion", "correction": "correction",
            "export": "export", "marketing_optout": "marketing opt-out",
        }[self.value]


# Statuses in the visitor's words: one enum for the stored status and the backends'.
RequestStatus = VisitorStatus


class DeliveryState(str, enum.Enum):
    PENDING = "pending"  # recorded, not yet in the ticketing backend
    DELIVERED = "delivered"
    FAILED = "failed"  # permanent error: needs a person
    NOT_NEEDED = "not_needed"  # local backend: the database is the queue


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
    """One code actually sent; the rate limits count these."""

    __tablename__ = "code_sends"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    address_key = Column(String(64), nullable=False, index=True)
    sent_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class VerifiedConversation(Base):
    __tablename__ = "verified_conversations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    email = Column(String(320), nullable=False)
    verified_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)


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
    last_error = Column(String(255))

    audit = relationship("AuditEvent", back_populates="request", order_by="AuditEvent.id")

    __table_args__ = (Index("ix_requests_delivery", "delivery_state", "next_attempt_at"),)


class AuditEvent(Base):
    """Append-only: rows are only ever inserted. Never holds codes; addresses appear
    only as their keyed hash except on rows tied to a filed request."""

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


class EscalationStatus(str, enum.Enum):
    WAITING = "waiting"  # the visitor waits for a person
    WITH_STAFF = "with staff"  # a member of staff has replied
    HANDED_BACK = "handed back"  # the assistant is back in charge
    FORWARDED = "forwarded"  # moved to a RocketChat Omnichannel department


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
    transcript = Column(Text, nullable=False)  # JSON list of {who, text, at}
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    status = Column(_enum(EscalationStatus), nullable=False, default=EscalationStatus.WAITING)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)
    external_id = Column(String(64))  # ticket in the configured backend, when filed there
    # Filed through the same outbox as requests (actions/delivery.py): recorded first,
    # delivered with retries, looked up before any re-create.
    backend = Column(String(32), nullable=False, default="local")
    delivery_state = Column(_enum(DeliveryState), nullable=False, default=DeliveryState.NOT_NEEDED)
    delivery_attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime)
    last_error = Column(String(255))

    __table_args__ = (Index("ix_escalations_delivery", "delivery_state", "next_attempt_at"),)
