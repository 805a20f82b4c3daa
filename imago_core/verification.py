"""Email verification by one-time code.

Rules (each has a test in tests/test_verification.py):
- 6-digit codes from `secrets`; only an HMAC-SHA256 of (conversation, address,
  code) under the server secret is stored, compared in constant time;
- valid CODE_TTL_MINUTES (10), single use, bound to one conversation and address;
- five wrong entries invalidate the code; a new code invalidates older ones;
- at most 3 codes an hour and 10 a day, per address and per conversation; a send
  that fails does not count;
- what the visitor sees never depends on whether the address is known to us: this
  module never looks at requests or customers;
- a verified conversation stays verified VERIFICATION_TTL_MINUTES (30).
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional

from sqlalchemy import select

from imago_core import audit
from imago_core.db import session_scope
from imago_core.mail import Mailer, MailError
from imago_core.models import CodeSend, OneTimeCode, VerifiedConversation, utcnow

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
MAX_FAILED_ATTEMPTS = 5
SENDS_PER_HOUR = 3
SENDS_PER_DAY = 10

# Pragmatic address check: one @, a dotted domain, no spaces or brackets.
_EMAIL = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})(?![\w-])"
)
_CODE = re.compile(r"(?<!\d)(\d[\s-]?){5}\d(?!\d)")


def extract_email(text: str) -> Optional[str]:
    """The address in what the visitor typed ("it's Jane@Example.org"), normalised,
    or None when there is not exactly one plausible address."""
    found = _EMAIL.findall(text or "")
    if len(found) != 1 or len(found[0]) > 254 or ".." in found[0]:
        return None
    local, domain = found[0].rsplit("@", 1)
    if local.startswith(".") or local.endswith("."):
        return None
    return f"{local}@{domain.lower()}"


def extract_code(text: str) -> Optional[str]:
    """The 6 digits of a typed code ("123 456", "code: 123-456"), or None."""
    match = _CODE.search(text or "")
    return re.sub(r"\D", "", match.group(0)) if match else None


def mask_email(email: str) -> str:
    """j***@example.org: enough for the visitor to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


class SendStatus(enum.Enum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    MAIL_FAILED = "mail_failed"


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    retry_at: Optional[datetime] = None


class CheckStatus(enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"  # too many wrong entries; the code is gone
    NO_CODE = "no_code"  # nothing outstanding for this conversation and address


@dataclass(frozen=True)
class CheckResult:
    status: CheckStatus
    attempts_left: int = 0


class Verifier:
    def __init__(self, secret: bytes, mailer: Mailer, code_ttl: timedelta = timedelta(minutes=10),
                 verified_ttl: timedelta = timedelta(minutes=30),
                 clock: Callable[[], datetime] = utcnow):
        if len(secret) < 16:
            raise ValueError("the verification secret must be at least 16 bytes")
        self._secret = secret
        self.mailer = mailer
        self.code_ttl, self.verified_ttl, self.clock = code_ttl, verified_ttl, clock

    # -- keyed hashes ---------------------------------------------------------------
    def address_key(self, email: str) -> str:
        return hmac.new(self._secret, b"address|" + email.lower().encode(), hashlib.sha256).hexdigest()

    def _code_hash(self, conversation_id: str, email: str, code: str) -> str:
        message = "|".join(["code", conversation_id, email.lower(), code]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # -- sending --------------------------------------------------------------------
    def request_code(self, conversation_id: str, email: str) -> SendResult:
        """Sends a new code (invalidating any outstanding one) unless a limit is hit."""
        now, key = self.clock(), self.address_key(email)
        retry_at = self._limited_until(conversation_id, key, now)
        if retry_at:
            audit.record("code_rate_limited", conversation_id=conversation_id, address_key=key)
            return SendResult(SendStatus.RATE_LIMITED, retry_at)

        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        with session_scope() as session:
            self._invalidate_outstanding(session, conversation_id, now)
            row = OneTimeCode(conversation_id=conversation_id, address_key=key,
                              code_hash=self._code_hash(conversation_id, email, code),
                              created_at=now, expires_at=now + self.code_ttl)
            session.add(row)
            session.flush()
            code_id = row.id
        try:
            self.mailer.send(email, "Your IMAGO privacy verification code", self._mail_body(code))
        except MailError:
            with session_scope() as session:
                session.get(OneTimeCode, code_id).invalidated_at = now
            audit.record("code_send_failed", conversation_id=conversation_id, address_key=key)
            return SendResult(SendStatus.MAIL_FAILED)
        with session_scope() as session:
            session.add(CodeSend(conversation_id=conversation_id, address_key=key, sent_at=now))
        audit.record("code_sent", conversation_id=conversation_id, address_key=key)
        return SendResult(SendStatus.SENT)

    def _mail_body(self, code: str) -> str:
        minutes = int(self.code_ttl.total_seconds() // 60)
        return (
            f"Your verification code is: {code}\n\n"
            f"Type it in the IMAGO privacy assistant chat. It is valid for {minutes} minutes "
            "and can be used once.\n\n"
            "If you did not ask for this code, you can ignore this message: nothing happens "
            "without the code.\n\n-- IMAGO Privacy Assistant\n"
        )

    def _limited_until(self, conversation_id: str, key: str, now: datetime) -> Optional[datetime]:
        """When the next send is allowed, or None if it is allowed now."""
        latest: Optional[datetime] = None
        with session_scope() as session:
            for column, value in ((CodeSend.address_key, key), (CodeSend.conversation_id, conversation_id)):
                for window, limit in ((timedelta(hours=1), SENDS_PER_HOUR), (timedelta(days=1), SENDS_PER_DAY)):
                    times = session.execute(
                        select(CodeSend.sent_at).where(column == value, CodeSend.sent_at > now - window)
                        .order_by(CodeSend.sent_at.desc())
                    ).scalars().all()
                    if len(times) >= limit:
                        # Free again when the oldest send still counting leaves the window.
                        until = times[limit - 1] + window
                        latest = max(latest, until) if latest else until
        return latest

    @staticmethod
    def _invalidate_outstanding(session, conversation_id: str, now: datetime) -> None:
        for row in session.execute(
            select(OneTimeCode).where(
                OneTimeCode.conversation_id == conversation_id,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.invalidated_at.is_(None),
            )
        ).scalars():
            row.invalidated_at = now

    # -- checking -------------------------------------------------------------------
    def check_code(self, conversation_id: str, email: str, typed: str) -> CheckResult:
        now, key = self.clock(), self.address_key(email)
        with session_scope() as session:
            row = session.execute(
                select(OneTimeCode).where(
                    OneTimeCode.conversation_id == conversation_id,
                    OneTimeCode.used_at.is_(None),
                    OneTimeCode.invalidated_at.is_(None),
                ).order_by(OneTimeCode.id.desc()).limit(1)
            ).scalar_one_or_none()
            if row is None or not hmac.compare_digest(row.address_key, key):
                result = CheckResult(CheckStatus.NO_CODE)
            elif row.expires_at <= now:
                row.invalidated_at = now
                result = CheckResult(CheckStatus.EXPIRED)
            elif hmac.compare_digest(row.code_hash, self._code_hash(conversation_id, email, typed or "")):
                row.used_at = now
                session.add(VerifiedConversation(conversation_id=conversation_id, email=email,
                                                 verified_at=now, expires_at=now + self.verified_ttl))
                result = CheckResult(CheckStatus.VERIFIED)
            else:
                row.failed_attempts += 1
                if row.failed_attempts >= MAX_FAILED_ATTEMPTS:
                    row.invalidated_at = now
                    result = CheckResult(CheckStatus.LOCKED)
                else:
                    result = CheckResult(CheckStatus.WRONG, MAX_FAILED_ATTEMPTS - row.failed_attempts)
        audit.record(
            {CheckStatus.VERIFIED: "verified", CheckStatus.WRONG: "wrong_code", CheckStatus.EXPIRED: "code_expired",
             CheckStatus.LOCKED: "code_locked", CheckStatus.NO_CODE: "code_without_request"}[result.status],
            conversation_id=conversation_id, address_key=key,
        )
        return result

    def verified_email(self, conversation_id: str) -> Optional[str]:
        """The address this conversation proved it owns, while the proof is fresh."""
        with session_scope() as session:
            return session.execute(
                select(VerifiedConversation.email).where(
                    VerifiedConversation.conversation_id == conversation_id,
                    VerifiedConversation.expires_at > self.clock(),
                ).order_by(VerifiedConversation.id.desc()).limit(1)
            ).scalar_one_or_none()


def verifier_from_settings() -> Verifier:
    from imago_core.mail import mailer_from_settings
    from imago_core.settings import get_settings

    settings = get_settings()
    return Verifier(settings.secret_bytes, mailer_from_settings(settings),
                    code_ttl=timedelta(minutes=settings.code_ttl_minutes),
                    verified_ttl=timedelta(minutes=settings.verification_ttl_minutes))
