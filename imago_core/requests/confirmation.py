"""The filing's confirmation mail: reference and due date, to the verified address.

If the chat reply that carries the reference is lost (the server died with it, the
visitor closed the tab), the mail still tells it (issue 21). The mail is due from the
filing's own transaction on (`PrivacyRequest.confirmation_due_at`, set by
imago_core/requests/filing.py), so a crash cannot lose it: the action that filed sends
it at once, and the `confirmation-mails` job (imago_core/service.py) sends whatever a
crash left due. Each send claims the row first (a lease), so two replicas do not both
send it; a crash between the send and its mark sends it again (at least once).

The text is in data/mails/<language>.yml, not here. Nothing here logs an address.
"""
from __future__ import annotations

import functools
import logging
import threading
from datetime import timedelta
from typing import Dict, Iterable, List, Optional

import yaml
from sqlalchemy import select, update

from imago_core.language.dates import format_date
from imago_core.mail import Mailer, MailError, mailer_from_settings
from imago_core.requests import notices
from imago_core.settings import PROJECT_ROOT
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import PrivacyRequest, utcnow

logger = logging.getLogger(__name__)

MAILS_DIR = PROJECT_ROOT / "data" / "mails"
LEASE = timedelta(minutes=2)  # a claimed mail is not sent by another replica meanwhile
RETRY_AFTER = timedelta(minutes=1)
LOOP_SECONDS = 30.0


@functools.lru_cache(maxsize=None)
def mail_texts(language: str = "en") -> Dict[str, str]:
    data = yaml.safe_load((MAILS_DIR / f"{language}.yml").read_text(encoding="utf-8")) or {}
    return data["request_confirmation"]


def compose(row: PrivacyRequest, language: Optional[str] = None) -> tuple:
    """(subject, body) of the confirmation of `row`, in the visitor's language (the one the
    request was filed in) with the English below it, as the code mail is."""
    chosen = notices.language_of(language or row.language)

    def written_in(lang: str) -> tuple:
        texts = mail_texts(lang)
        kind = row.request_type.short if lang == "en" else notices.texts(lang)["types"][row.request_type.value]
        values = {"reference": row.reference, "type": kind, "due": format_date(row.due_at, lang)}
        return texts["subject"].format(**values), texts["body"].format(**values)

    subject, body = written_in(chosen)
    if chosen != "en":
        english_subject, english_body = written_in("en")
        subject, body = f"{subject} / {english_subject}", f"{body}\n\n----- English -----\n\n{english_body}"
    return subject, body + "\n"


def send_due(references: Optional[Iterable[str]] = None, mailer: Optional[Mailer] = None, limit: int = 50) -> int:
    """Sends the confirmations that are due (only those of `references` if given);
    returns how many were sent."""
    now = utcnow()
    query = select(PrivacyRequest.id, PrivacyRequest.confirmation_due_at).where(
        PrivacyRequest.confirmation_due_at.is_not(None), PrivacyRequest.confirmation_sent_at.is_(None),
        PrivacyRequest.confirmation_due_at <= now)
    if references is not None:
        query = query.where(PrivacyRequest.reference.in_(list(references)))
    with session_scope() as session:
        due = session.execute(query.order_by(PrivacyRequest.confirmation_due_at).limit(limit)).all()
    sent = 0
    for row_id, seen_due in due:
        if _claim(row_id, seen_due, now):
            mailer = mailer or mailer_from_settings()
            sent += _send_one(row_id, mailer)
    return sent


def _claim(row_id: int, seen_due, now) -> bool:
    with session_scope() as session:
        return session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == row_id, PrivacyRequest.confirmation_sent_at.is_(None),
                   PrivacyRequest.confirmation_due_at == seen_due)
            .values(confirmation_due_at=now + LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount == 1


def _send_one(row_id: int, mailer: Mailer) -> int:
    with session_scope() as session:
        row = session.get(PrivacyRequest, row_id)
        email, (subject, body) = row.email, compose(row)
    try:
        mailer.send(email, subject, body)
    except MailError as exc:
        with session_scope() as session:
            session.execute(update(PrivacyRequest).where(PrivacyRequest.id == row_id)
                            .values(confirmation_due_at=utcnow() + RETRY_AFTER))
        logger.warning("confirmation mail of request #%s not sent (%s); retry in %ss", row_id, exc,
                       int(RETRY_AFTER.total_seconds()))
        return 0
    with session_scope() as session:
        session.execute(update(PrivacyRequest).where(PrivacyRequest.id == row_id)
                        .values(confirmation_sent_at=utcnow(), confirmation_due_at=None))
        audit.record("confirmation_mailed", request_id=row_id, session=session)
    return 1


def run_forever(stop: threading.Event, interval: float = LOOP_SECONDS) -> None:
    """The `confirmation-mails` job: what a crash left due, every `interval` seconds."""
    while not stop.is_set():
        try:
            send_due()
        except Exception:  # noqa: BLE001 - the database may be away; the mails stay due
            logger.exception("confirmation mail pass failed; the mails stay due")
        stop.wait(interval)


def pending_count() -> int:
    with session_scope() as session:
        return len(session.execute(select(PrivacyRequest.id).where(
            PrivacyRequest.confirmation_due_at.is_not(None),
            PrivacyRequest.confirmation_sent_at.is_(None))).all())


__all__: List[str] = ["compose", "send_due", "run_forever", "pending_count", "mail_texts"]
