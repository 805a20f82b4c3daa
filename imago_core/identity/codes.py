"""Email verification by one-time code.

Rules (each has a test in tests/test_verification.py):
- 6-digit codes from `secrets`; only an HMAC-SHA256 of (conversation, address,
  code) under the server secret is stored, compared in constant time;
- valid CODE_TTL_MINUTES (10), single use, bound to one conversation and address;
- five wrong entries invalidate the code; a new code invalidates older ones;
- at most 3 codes an hour and 10 a day per conversation, 10 an hour and 30 a day
  per client network; at most 3 mails per address (+tags folded) in 15 minutes,
  whoever asks, held back silently; slots are reserved atomically before the send
  and released if it fails;
- wrong guesses are counted by one atomic UPDATE each, so parallel guesses cannot
  outrun the limit of five;
- what the visitor sees never depends on whether the address is known to us: this
  module never looks at requests or customers;
- a verified conversation stays verified VERIFICATION_TTL_MINUTES (30).
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, List, Optional

from sqlalchemy import case, delete, select, update

from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.locks import serialise
from imago_core.mail import Mailer, MailError, mailer_from_settings
from imago_core.settings import get_settings
from imago_core.storage.models import CodeSend, OneTimeCode, VerifiedConversation, utcnow

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
MAX_FAILED_ATTEMPTS = 5
SENDS_PER_HOUR = 3
SENDS_PER_DAY = 10
# Limits per conversation and per client network: the visitor's own sends.
CONVERSATION_LIMITS = ((timedelta(hours=1), SENDS_PER_HOUR), (timedelta(days=1), SENDS_PER_DAY))
CLIENT_LIMITS = ((timedelta(hours=1), 10), (timedelta(days=1), 30))
# Ceiling per address, whoever asks: short, so strangers can delay the owner by at
# most ADDRESS_WINDOW, never lock them out for a day.
ADDRESS_SENDS_PER_WINDOW = 3
ADDRESS_WINDOW = timedelta(minutes=15)

# Pragmatic address check: one @, a dotted domain, no spaces or brackets.
_EMAIL = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})(?![\w-])"
)
_CODE = re.compile(r"(?<!\d)(\d[\s-]?){5}\d(?!\d)")


# What may wrap a bare value: spaces, quotes, brackets, a final full stop.
_WRAPPING = " \t\r\n\"'<>().。"


def is_only_email_or_code(text: str) -> bool:
    """Whether the message is nothing but one address or one code, as the request
    flow reads them (so that an address's words are never read as an intent)."""
    text = text or ""
    if len(text) > 400:
        return False
    value = text.strip(_WRAPPING)
    return bool(_EMAIL.fullmatch(value) or _CODE.fullmatch(value))


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
                 clock: Callable[[], datetime] = utcnow, client_limits=CLIENT_LIMITS):
        if len(secret) < 16:
            raise ValueError("the verification secret must be at least 16 bytes")
        self._secret = secret
        self.mailer = mailer
        self.code_ttl, self.verified_ttl, self.clock = code_ttl, verified_ttl, clock
        self.client_limits = client_limits

    # -- keyed hashes ---------------------------------------------------------------
    def address_key(self, email: str) -> str:
        return hmac.new(self._secret, b"address|" + email.lower().encode(), hashlib.sha256).hexdigest()

    def _code_hash(self, conversation_id: str, email: str, code: str) -> str:
        message = "|".join(["code", conversation_id, email.lower(), code]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # -- sending --------------------------------------------------------------------
    def client_key(self, client_address: Optional[str]) -> Optional[str]:
        """A keyed hash of the visitor's network (IPv4 address, IPv6 /64), or None."""
        network = client_network(client_address)
        if network is None:
            return None
        return hmac.new(self._secret, b"client|" + network.encode(), hashlib.sha256).hexdigest()

    def request_code(self, conversation_id: str, email: str, client_address: Optional[str] = None) -> SendResult:
        """Sends a new code (invalidating any outstanding one) unless a limit is hit.

        The visitor's own limits (this conversation, this client) answer RATE_LIMITED
        with the time they free up. The per-address ceiling, which other people can
        fill, never shows: the code is created as usual and only the mail is held
        back, so the reply is SENT and reveals nothing about other requesters.
        """
        now, key = self.clock(), self.address_key(email)
        limit_key, client = self.address_key(limit_address(email)), self.client_key(client_address)
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        with session_scope() as session:
            serialise(session, "code_sends")  # count and reserve as one step
            retry_at = _own_limit_until(session, conversation_id, client, now, self.client_limits)
            if retry_at:
                audit.record("code_rate_limited", conversation_id=conversation_id, address_key=key,
                             session=session)
                return SendResult(SendStatus.RATE_LIMITED, retry_at)
            mailed = _address_sends(session, limit_key, now) < ADDRESS_SENDS_PER_WINDOW
            self._invalidate_outstanding(session, conversation_id, now)
            row = OneTimeCode(conversation_id=conversation_id, address_key=key,
                              code_hash=self._code_hash(conversation_id, email, code),
                              created_at=now, expires_at=now + self.code_ttl)
            slot = CodeSend(conversation_id=conversation_id, address_key=limit_key, client_key=client,
                            mailed=mailed, sent_at=now)
            session.add_all([row, slot])
            session.flush()
            code_id, slot_id = row.id, slot.id
        if not mailed:
            audit.record("code_held_back", conversation_id=conversation_id, address_key=key)
            return SendResult(SendStatus.SENT)
        try:
            self.mailer.send(email, "Your IMAGO privacy verification code", self._mail_body(code))
        except MailError:
            with session_scope() as session:  # release the slot: a failed send does not count
                session.execute(update(OneTimeCode).where(OneTimeCode.id == code_id).values(invalidated_at=now))
                session.execute(delete(CodeSend).where(CodeSend.id == slot_id))
            audit.record("code_send_failed", conversation_id=conversation_id, address_key=key)
            return SendResult(SendStatus.MAIL_FAILED)
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

    @staticmethod
    def _invalidate_outstanding(session, conversation_id: str, now: datetime) -> None:
        session.execute(update(OneTimeCode).where(
            OneTimeCode.conversation_id == conversation_id,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.invalidated_at.is_(None),
        ).values(invalidated_at=now))

    # -- checking -------------------------------------------------------------------
    def check_code(self, conversation_id: str, email: str, typed: str) -> CheckResult:
        now, key = self.clock(), self.address_key(email)
        with session_scope() as session:
            row = session.execute(
                select(OneTimeCode.id, OneTimeCode.address_key, OneTimeCode.code_hash, OneTimeCode.expires_at)
                .where(
                    OneTimeCode.conversation_id == conversation_id,
                    OneTimeCode.used_at.is_(None),
                    OneTimeCode.invalidated_at.is_(None),
                ).order_by(OneTimeCode.id.desc()).limit(1)
            ).one_or_none()
        if row is None or not hmac.compare_digest(row.address_key, key):
            result = CheckResult(CheckStatus.NO_CODE)
        elif row.expires_at <= now:
            with session_scope() as session:
                session.execute(_live(row.id).values(invalidated_at=now))
            result = CheckResult(CheckStatus.EXPIRED)
        elif hmac.compare_digest(row.code_hash, self._code_hash(conversation_id, email, typed or "")):
            result = self._use(row.id, conversation_id, email, now)
        else:
            result = _count_wrong_guess(row.id, now)
        audit.record(
            {CheckStatus.VERIFIED: "verified", CheckStatus.WRONG: "wrong_code", CheckStatus.EXPIRED: "code_expired",
             CheckStatus.LOCKED: "code_locked", CheckStatus.NO_CODE: "code_without_request"}[result.status],
            conversation_id=conversation_id, address_key=key,
        )
        return result

    def _use(self, code_id: int, conversation_id: str, email: str, now: datetime) -> CheckResult:
        """Consumes the code only if it is still live at this instant: parallel wrong
        guesses that have just killed it, or a parallel right one, win."""
        with session_scope() as session:
            if session.execute(_live(code_id).values(used_at=now)).rowcount != 1:
                return CheckResult(CheckStatus.NO_CODE)
            session.add(VerifiedConversation(conversation_id=conversation_id, email=email,
                                             verified_at=now, expires_at=now + self.verified_ttl))
        return CheckResult(CheckStatus.VERIFIED)

    def verified_email(self, conversation_id: str) -> Optional[str]:
        """The address this conversation proved it owns, while the proof is fresh."""
        with session_scope() as session:
            return session.execute(
                select(VerifiedConversation.email).where(
                    VerifiedConversation.conversation_id == conversation_id,
                    VerifiedConversation.expires_at > self.clock(),
                ).order_by(VerifiedConversation.id.desc()).limit(1)
            ).scalar_one_or_none()


def _live(code_id: int):
    """An UPDATE of the code that matches only while it is unused and valid."""
    return update(OneTimeCode).where(
        OneTimeCode.id == code_id, OneTimeCode.used_at.is_(None), OneTimeCode.invalidated_at.is_(None)
    ).execution_options(synchronize_session=False)


def _count_wrong_guess(code_id: int, now: datetime) -> CheckResult:
    """One atomic increment per wrong guess; the fifth kills the code in the same
    statement, so parallel guesses cannot share a count (no read-modify-write)."""
    with session_scope() as session:
        counted = session.execute(
            _live(code_id).where(OneTimeCode.failed_attempts < MAX_FAILED_ATTEMPTS).values(
                failed_attempts=OneTimeCode.failed_attempts + 1,
                # SET expressions read the row as it was before this UPDATE.
                invalidated_at=case((OneTimeCode.failed_attempts + 1 >= MAX_FAILED_ATTEMPTS, now),
                                    else_=None),
            )
        ).rowcount
        attempts = session.execute(
            select(OneTimeCode.failed_attempts).where(OneTimeCode.id == code_id)
        ).scalar_one()
    if not counted or attempts >= MAX_FAILED_ATTEMPTS:
        return CheckResult(CheckStatus.LOCKED)
    return CheckResult(CheckStatus.WRONG, MAX_FAILED_ATTEMPTS - attempts)


def _count_since(session, column, value, since: datetime, *extra) -> List[datetime]:
    return session.execute(
        select(CodeSend.sent_at).where(column == value, CodeSend.sent_at > since, *extra)
        .order_by(CodeSend.sent_at.desc())
    ).scalars().all()


def _own_limit_until(session, conversation_id: str, client_key: Optional[str],
                     now: datetime, client_limits=CLIENT_LIMITS) -> Optional[datetime]:
    """When this visitor (conversation, client network) may have the next code, or
    None now. Counts only the visitor's own sends, so the time reveals nobody else's."""
    latest: Optional[datetime] = None
    buckets = [(CodeSend.conversation_id, conversation_id, CONVERSATION_LIMITS)]
    if client_key:
        buckets.append((CodeSend.client_key, client_key, client_limits))
    for column, value, limits in buckets:
        for window, limit in limits:
            times = _count_since(session, column, value, now - window)
            if len(times) >= limit:
                # Free again when the oldest send still counting leaves the window.
                until = times[limit - 1] + window
                latest = max(latest, until) if latest else until
    return latest


def _address_sends(session, limit_key: str, now: datetime) -> int:
    return len(_count_since(session, CodeSend.address_key, limit_key, now - ADDRESS_WINDOW,
                            CodeSend.mailed.is_(True)))


def limit_address(email: str) -> str:
    """The address the limits count: lower case, without a +tag (jane+x@ = jane@)."""
    local, _, domain = email.lower().rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def client_network(address: Optional[str]) -> Optional[str]:
    """The network a client address stands for: the IPv4 address, or the IPv6 /64
    (one host usually owns a whole /64). None when it is not an IP address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    if ip.version == 6 and mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(mapped or ip)


def verifier_from_settings() -> Verifier:
    settings = get_settings()
    return Verifier(settings.secret_bytes, mailer_from_settings(settings),
                    code_ttl=timedelta(minutes=settings.code_ttl_minutes),
                    verified_ttl=timedelta(minutes=settings.verification_ttl_minutes),
                    client_limits=((timedelta(hours=1), settings.code_sends_per_client_hour),
                                   (timedelta(days=1), settings.code_sends_per_client_day)))


# The process's verifier, built from the settings on first use; tests inject their own.
_verifier: Optional[Verifier] = None


def get_verifier() -> Verifier:
    """The verifier every action uses (built from the settings on first use)."""
    global _verifier
    if _verifier is None:
        _verifier = verifier_from_settings()
    return _verifier


def set_verifier(verifier: Optional[Verifier]) -> None:
    """Tests inject a verifier with their own mailer and clock."""
    global _verifier
    _verifier = verifier
