"""A failure budget per address, across every conversation, channel and network
(issue 23, finding 1).

Why: wrong codes were counted per code (five) and per conversation, and a new
conversation got a new code with five more tries. From each IPv6 /64 of a /48, a
stranger could open conversations naming the victim's address and guess on: about
a million tries a day, enough to verify as the victim.

The rule: every time a typed code is compared with a live code for an address, one
slot of that address's budget is taken first (CODE_FAILURES_PER_ADDRESS slots per
CODE_FAILURE_WINDOW_HOURS, rolling). A right code gives its slot back; a wrong one
keeps it. With the budget spent, nothing is compared at all, so the right code does
not verify either, and the answer does not depend on what was typed (no oracle).
A held-back code (mail withheld by the per-address ceiling) is compared like any
other, so guesses at it count like any other. The address is the canonical one the
send limits use (verification.limit_address: lower case, +tag folded), kept only as
its keyed hash.

Atomic across replicas: the count and the insert run in one transaction that starts
with `db_locks.serialise` (SQLite: the write lock; PostgreSQL: an advisory lock per
address key), the same way the send slots are reserved. So parallel guesses from
many conversations can never take more slots than the budget holds.

The owner gets one mail when the budget runs out (at most one per window, however
long the attack goes on); its text is the template file templates/address_locked.txt.
Guesses refused while the budget is spent are not recorded: they change nothing, and
recording them would keep the owner locked out for as long as a stranger cares to type.
"""
from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

from sqlalchemy import delete, select

from imago_core.mail import Mailer, MailError
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.locks import serialise
from imago_core.storage.models import AddressFailure, AddressLockNotice

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
NOTICE_TEMPLATE = TEMPLATES / "address_locked.txt"


@dataclass(frozen=True)
class Slot:
    """What taking a slot gave: a slot (id), or the time the budget frees up again."""

    id: Optional[int] = None
    locked_until: Optional[datetime] = None
    last: bool = False  # this slot was the budget's last one: if it is kept, the address locks


@dataclass(frozen=True)
class FailureBudget:
    limit: int = 10
    window: timedelta = timedelta(hours=24)

    def __post_init__(self):
        if self.limit < 1 or self.window <= timedelta(0):
            raise ValueError("the failure budget needs at least one try and a positive window")

    def _recent(self, session, key: str, now: datetime) -> list:
        """The times of the address's slots still in the window, newest first (at most `limit`)."""
        return session.execute(
            select(AddressFailure.failed_at)
            .where(AddressFailure.address_key == key, AddressFailure.failed_at > now - self.window)
            .order_by(AddressFailure.failed_at.desc()).limit(self.limit)
        ).scalars().all()

    def locked_until(self, session, key: str, now: datetime) -> Optional[datetime]:
        """When the address's budget frees a slot, or None while it has one."""
        times = self._recent(session, key, now)
        if len(times) < self.limit:
            return None
        return times[self.limit - 1] + self.window  # the oldest one still counting leaves

    def take(self, key: str, now: datetime) -> Slot:
        """Takes a slot before a comparison, or says until when there is none."""
        with session_scope() as session:
            serialise(session, f"address_failures|{key}")  # count and take as one step
            times = self._recent(session, key, now)
            if len(times) >= self.limit:
                return Slot(locked_until=times[self.limit - 1] + self.window)
            row = AddressFailure(address_key=key, failed_at=now)
            session.add(row)
            session.flush()
            return Slot(id=row.id, last=len(times) + 1 >= self.limit)

    @staticmethod
    def give_back(slot: Slot) -> None:
        """A right code is no failure: its slot is free again."""
        if slot.id is not None:
            with session_scope() as session:
                session.execute(delete(AddressFailure).where(AddressFailure.id == slot.id))

    def tell_owner(self, mailer: Mailer, email: str, key: str, now: datetime, team_email: str) -> bool:
        """Mails the owner that the address is locked, unless they were told within the
        window. The notice is claimed in the database first, so replicas send one."""
        with session_scope() as session:
            serialise(session, f"address_lock_notices|{key}")
            told = session.execute(
                select(AddressLockNotice.id).where(AddressLockNotice.address_key == key,
                                                   AddressLockNotice.sent_at > now - self.window).limit(1)
            ).scalar_one_or_none()
            if told is not None:
                return False
            notice = AddressLockNotice(address_key=key, sent_at=now)
            session.add(notice)
            session.flush()
            notice_id = notice.id
        subject, body = render_notice(hours=int(self.window.total_seconds() // 3600), team_email=team_email)
        try:
            mailer.send(email, subject, body)
        except MailError:
            with session_scope() as session:  # not told: a later lock may try again
                session.execute(delete(AddressLockNotice).where(AddressLockNotice.id == notice_id))
            audit.record("address_lock_notice_failed", address_key=key)
            return False
        audit.record("address_lock_notice_sent", address_key=key)
        return True


def render_notice(hours: int, team_email: str, template: Path = NOTICE_TEMPLATE) -> tuple:
    """(subject, body) from the template file: its first line is `Subject: ...`."""
    text = string.Template(template.read_text(encoding="utf-8")).substitute(hours=hours, team_email=team_email)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"{template} must start with a 'Subject:' line")
    return first[len("Subject:"):].strip(), body.lstrip("\n")
