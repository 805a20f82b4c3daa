"""Signed widget session ids: issued by the server, dated, expiring, rotated when the
conversation proves an address (issue 23, finding 8 and the key of finding 10).

The session id is a bearer credential: whoever holds it speaks in `web:<public id>`
and holds that conversation's verification. It lives in the visitor's
localStorage, so a copy (a shared device, malware, script injection on the host
page) used to be a key to every later verification window of that conversation.

    <public id: 32 hex>.<issued: epoch seconds>.<HMAC-SHA256, base64url>

- signed with WIDGET_SESSION_SECRET, a key of its own: OTP_SECRET sits on the
  action server too and keys the code hashes; a leak of one must not forge the other;
- accepted for WIDGET_SESSION_TTL_HOURS (24) from its issue time, then the visitor
  gets a fresh conversation (not refreshed on reconnect: a copy must age out);
- refused once the conversation proved an address after the id was issued: the
  socket that was verified gets a new id for the same conversation right after the
  turn that verified it (`rotated`), so a copy taken before the verification does
  not inherit it. A copy taken after it still does, for a status lookup; a deletion
  then needs a fresh code (imago_core/identity/verification_age.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from imago_core.identity.verification_age import latest_verification
from imago_core.settings import ConfigError, get_settings

PREFIX = "web:"
_SIGNED_ID = re.compile(r"\A([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})\Z")
MIN_KEY_CHARS = 32
CLOCK_SKEW_SECONDS = 300  # replicas' clocks may differ a little; an id from further ahead is forged


def signing_key() -> bytes:
    """WIDGET_SESSION_SECRET; ConfigError when missing or short (checked at startup)."""
    secret = get_settings().widget_session_secret
    if not secret or len(secret) < MIN_KEY_CHARS:
        raise ConfigError(
            f"WIDGET_SESSION_SECRET is not set (or shorter than {MIN_KEY_CHARS} characters): the widget's "
            "session ids are signed with it. `make run` creates one in .env; in production, a random value "
            "from the secret store, given to every Rasa replica (not to the action server)"
        )
    return secret.encode("utf-8")


def _signature(public_id: str, issued: int) -> str:
    digest = hmac.new(signing_key(), f"widget-session|{public_id}|{issued}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_session_id(public_id: Optional[str] = None, now: Optional[float] = None) -> str:
    """A freshly dated id: for a new conversation, or (`public_id`) rotated for one."""
    public_id = public_id or secrets.token_hex(16)
    issued = int(time.time() if now is None else now)
    return f"{public_id}.{issued}.{_signature(public_id, issued)}"


@dataclass(frozen=True)
class Issued:
    public_id: str
    issued: int

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.issued, timezone.utc)


def signed(value: Any) -> Optional[Issued]:
    """The id's parts if this server signed it (whatever its age), else None."""
    match = _SIGNED_ID.match(value) if isinstance(value, str) else None
    if not match:
        return None
    public_id, issued = match.group(1), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _signature(public_id, issued)):
        return None
    return Issued(public_id, issued)


def _latest_verification(conversation: str) -> Optional[datetime]:
    return latest_verification(conversation)


def acceptable_session_id(value: Any, now: Optional[float] = None,
                          verified_at: Callable[[str], Optional[datetime]] = _latest_verification) -> bool:
    """True only for an id this server issued, not expired, and not older than the
    conversation's latest verification (reads the project's database)."""
    parts = signed(value)
    if parts is None:
        return False
    now = time.time() if now is None else now
    ttl = get_settings().widget_session_ttl_hours * 3600
    if not (now - ttl < parts.issued <= now + CLOCK_SKEW_SECONDS):
        return False
    latest = verified_at(PREFIX + parts.public_id)
    return latest is None or parts.issued >= int(latest.timestamp())


def rotated(session_id: str, now: Optional[float] = None,
            verified_at: Callable[[str], Optional[datetime]] = _latest_verification) -> Optional[str]:
    """A new id for the same conversation when it proved an address after this id was
    issued (the turn that just ran verified it), else None."""
    parts = signed(session_id)
    if parts is None:
        return None
    latest = verified_at(PREFIX + parts.public_id)
    if latest is None or parts.issued >= int(latest.timestamp()):
        return None
    # Dated no earlier than the verification, so that it is accepted: a replica whose
    # clock runs behind the action server's would otherwise issue an id refused at once.
    stamp = max(time.time() if now is None else now, latest.timestamp() + 1)
    return new_session_id(parts.public_id, now=stamp)


def conversation_id(session_id: str) -> str:
    """The conversation of a (signed) session id: `web:<public part>`."""
    return PREFIX + session_id.split(".", 1)[0]
