"""Email verification by one-time code.

Rules (each has a test in tests/test_verification.py):
- 6-digit codes from `secrets`; only an HMAC-SHA256 of (conversation, address,
  code) under the server secret is stored, compared in constant time;
- valid CODE_TTL_MINUTES (10), single use, bound to one conversation and address;
- five wrong entries invalidate the code; a new code invalidates older ones;
- at most 3 codes an hour and 10 a day per conversation, 10 an hour and 30 a day
  per client network (IPv4 /24, IPv6 /64); at most 6 mails per address (+tags
  folded) in 15 minutes and 2 per (address, client network), held back silently
  (imago_core/identity/address_ceiling.py); slots are reserved atomically before the send
  and released if it fails;
- at most 10 wrong codes per address in 24 hours, across all conversations and
  networks; past that no code for it verifies (imago_core/identity/address_budget.py);
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

from imago_core.identity.address_budget import FailureBudget
from imago_core.identity.address_ceiling import AddressMailCeiling
from imago_core.identity.client_address import chat_client
from imago_core.language.texts import bilingual, text
from imago_core.mail import Mailer, MailError, mailer_from_settings
from imago_core.settings import get_settings
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.locks import serialise
from imago_core.storage.models import (
    CodeSend,
    OneTimeCode,
    VerifiedConversation,
    utcnow,
)

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
MAX_FAILED_ATTEMPTS = 5
SENDS_PER_HOUR = 3
SENDS_PER_DAY = 10
# Limits per conversation and per client network: the visitor's own sends.
CONVERSATION_LIMITS = ((timedelta(hours=1), SENDS_PER_HOUR), (timedelta(days=1), SENDS_PER_DAY))
CLIENT_LIMITS = ((timedelta(hours=1), 10), (timedelta(days=1), 30))
# The ceilings per address, whoever asks, are imago_core/identity/address_ceiling.py: short
# (15 minutes), so strangers can delay the owner by minutes, never lock them out for a day.

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


def value_spans(text: str) -> List[tuple]:
    """(start, end, "email" | "code") of every address and every code in the text, in
    order; digits inside an address are part of the address, not a code. The NLU
    replaces these spans by placeholders (extensions/nlu/value_placeholders.py)."""
    text = text or ""
    spans = [(m.start(1), m.end(1), "email") for m in _EMAIL.finditer(text)]
    for match in _CODE.finditer(text):
        if not any(start < match.end() and match.start() < end for start, end, _ in spans):
            spans.append((match.start(), match.end(), "code"))
    return sorted(spans)


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
    ADDRESS_LOCKED = "address_locked"  # the address's failure budget is spent (retry_at: until when)


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
    ADDRESS_LOCKED = "address_locked"  # the address's failure budget is spent: nothing was compared


@dataclass(frozen=True)
class CheckResult:
    status: CheckStatus
    attempts_left: int = 0
    locked_until: Optional[datetime] = None


class Verifier:
    def __init__(self, secret: bytes, mailer: Mailer, code_ttl: timedelta = timedelta(minutes=10),
                 verified_ttl: timedelta = timedelta(minutes=30),
                 clock: Callable[[], datetime] = utcnow, client_limits=CLIENT_LIMITS,
                 failure_budget: Optional[FailureBudget] = None, mail_ceiling: Optional[AddressMailCeiling] = None,
                 team_email: str = "support@Imagotechs.com"):
        if len(secret) < 16:
            raise ValueError("the verification secret must be at least 16 bytes")
        self._secret = secret
        self.mailer = mailer
        self.code_ttl, self.verified_ttl, self.clock = code_ttl, verified_ttl, clock
        self.client_limits = client_limits
        self.failure_budget = failure_budget or FailureBudget()
        self.mail_ceiling = mail_ceiling or AddressMailCeiling()
        self.team_email = team_email  # named in the owner's notice when the budget runs out

    # -- keyed hashes ---------------------------------------------------------------
    def address_key(self, email: str) -> str:
        return hmac.new(self._secret, b"address|" + email.lower().encode(), hashlib.sha256).hexdigest()

    def _code_hash(self, conversation_id: str, email: str, code: str) -> str:
        message = "|".join(["code", conversation_id, email.lower(), code]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # -- sending --------------------------------------------------------------------
    def client_key(self, client_address: Optional[str]) -> Optional[str]:
        """A keyed hash of the visitor's network (IPv4 /24, IPv6 /64, a chat user id), or None."""
        network = client_network(client_address)
        if network is None:
            return None
        return hmac.new(self._secret, b"client|" + network.encode(), hashlib.sha256).hexdigest()

    def request_code(self, conversation_id: str, email: str, client_address: Optional[str] = None,
                     language: str = "en") -> SendResult:
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
            locked_until = self.failure_budget.locked_until(session, limit_key, now)
            if locked_until:  # no code could verify: none is made or mailed
                audit.record("code_address_locked", conversation_id=conversation_id, address_key=key,
                             session=session)
                return SendResult(SendStatus.ADDRESS_LOCKED, locked_until)
            mailed = self.mail_ceiling.has_room(session, limit_key, client, now)
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
            self.mailer.send(email, code_mail_subject(language), self._mail_body(code, language))
        except MailError:
            with session_scope() as session:  # release the slot: a failed send does not count
                session.execute(update(OneTimeCode).where(OneTimeCode.id == code_id).values(invalidated_at=now))
                session.execute(delete(CodeSend).where(CodeSend.id == slot_id))
            audit.record("code_send_failed", conversation_id=conversation_id, address_key=key)
            return SendResult(SendStatus.MAIL_FAILED)
        audit.record("code_sent", conversation_id=conversation_id, address_key=key)
        return SendResult(SendStatus.SENT)

    def _mail_body(self, code: str, language: str = "en") -> str:
        """In the visitor's language with the English below it (data/texts/<language>.yml)."""
        minutes = int(self.code_ttl.total_seconds() // 60)
        body = bilingual(language, "mail.code.body", code=code, minutes=minutes)
        return f"{body}\n\n{text(language, 'mail.signature')}\n"

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
        else:
            result = self._compare(row, conversation_id, email, typed, now)
        audit.record(
            {CheckStatus.VERIFIED: "verified", CheckStatus.WRONG: "wrong_code", CheckStatus.EXPIRED: "code_expired",
             CheckStatus.LOCKED: "code_locked", CheckStatus.NO_CODE: "code_without_request",
             CheckStatus.ADDRESS_LOCKED: "code_address_locked"}[result.status],
            conversation_id=conversation_id, address_key=key,
        )
        return result

    def _compare(self, row, conversation_id: str, email: str, typed: str, now: datetime) -> CheckResult:
        """Every comparison first takes a slot of the address's failure budget (issue 23,
        finding 1). With none left nothing is compared: the right code fails too, and
        the answer is the same whatever was typed."""
        limit_key = self.address_key(limit_address(email))
        slot = self.failure_budget.take(limit_key, now)
        if slot.locked_until:
            return CheckResult(CheckStatus.ADDRESS_LOCKED, locked_until=slot.locked_until)
        if hmac.compare_digest(row.code_hash, self._code_hash(conversation_id, email, typed or "")):
            self.failure_budget.give_back(slot)  # a right code is no failure
            return self._use(row.id, conversation_id, email, now)
        result = _count_wrong_guess(row.id, now)
        if slot.last:  # this wrong code spent the budget: the owner hears of it, once, at the
            # canonical address, so a guesser cannot steer the notice to a +tag that goes nowhere
            self.failure_budget.tell_owner(self.mailer, limit_address(email), limit_key, now, self.team_email)
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


def limit_address(email: str) -> str:
    """The address the limits count: lower case, without a +tag (jane+x@ = jane@)."""
    local, _, domain = email.lower().rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def client_network(address: Optional[str]) -> Optional[str]:
    """The network a client address stands for: the IPv4 /24, or the IPv6 /64 (one
    host usually owns a whole /64), or a chat user id. None when it is neither."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return chat_client(address)  # a chat platform's user id (client_address.py), or None
    mapped = getattr(ip, "ipv4_mapped", None)
    if ip.version == 6 and mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    # An IPv4 /24, not the single address (issue 23, finding 3: address_ceiling.py says why).
    return str(ipaddress.ip_network(f"{mapped or ip}/24", strict=False))


def code_mail_subject(language: str = "en") -> str:
    """"你的 IMAGO 私隱驗證碼 / Your IMAGO privacy verification code"."""
    own, english = text(language, "mail.code.subject"), text("en", "mail.code.subject")
    return own if own == english else f"{own} / {english}"


def verifier_from_settings() -> Verifier:
    settings = get_settings()
    return Verifier(settings.secret_bytes, mailer_from_settings(settings),
                    code_ttl=timedelta(minutes=settings.code_ttl_minutes),
                    verified_ttl=timedelta(minutes=settings.verification_ttl_minutes),
                    client_limits=((timedelta(hours=1), settings.code_sends_per_client_hour),
                                   (timedelta(days=1), settings.code_sends_per_client_day)),
                    failure_budget=FailureBudget(settings.code_failures_per_address,
                                                 timedelta(hours=settings.code_failure_window_hours)),
                    mail_ceiling=AddressMailCeiling(settings.code_mails_per_address,
                                                    settings.code_mails_per_address_network),
                    team_email=settings.privacy_team_email)


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
