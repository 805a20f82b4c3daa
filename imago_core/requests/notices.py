"""The mails the law says a visitor must get about their request: receipt (CCPA), the
team's question, an extension with its reasons and new date, completion, a refusal with
its reasons and where to complain. In the visitor's language, naming the reference.

What is owed comes from the clock (`Deadline.notices_pending`): a notice is pending until
a `notified` event records it sent. A row whose clock changed carries `notice_check_at`;
`send_pending` claims it atomically (the Rasa server, which runs the desk, and the action
server's job may both try), mails what is pending, records it, and on a mail failure
leaves the row due again later, so nothing owed is lost while SMTP is down.
The words are in texts/<language>.yml. Nothing here logs an address or a mail's text.
"""
from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict, List, Optional

import yaml
from sqlalchemy import select, update

from imago_core.mail import Mailer, MailError, mailer_from_settings
from imago_core.requests import clock_store
from imago_core.requests.clocks import Clock, EventKind, complaint_routes, format_date
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import PrivacyRequest, utcnow

logger = logging.getLogger(__name__)
TEXTS = Path(__file__).with_name("texts")
LANGUAGES = ("en", "zh-Hant", "zh-Hans")
CLAIM_LEASE = timedelta(minutes=2)
RETRY_AFTER = timedelta(minutes=5)


@functools.lru_cache(maxsize=None)
def texts(language: str) -> Dict:
    return yaml.safe_load((TEXTS / f"{language}.yml").read_text(encoding="utf-8"))


def language_of(value: Optional[str]) -> str:
    """"zh-Hans", "zh-CN", "zh-SG" -> "zh-Hans" (mainland wording); any other Chinese
    ("zh-HK", "zh_Hant", "yue") -> "zh-Hant"; anything without a file -> English."""
    value = str(value or "").strip().lower().replace("_", "-")
    if value.startswith(("zh-hans", "zh-cn", "zh-sg")):
        return "zh-Hans"
    if value.startswith(("zh", "yue")):
        return "zh-Hant"
    return "en"


def _last(clock: Clock, kind: EventKind):
    found = [e for e in clock.history if e.kind is kind]
    return found[-1] if found else None


def compose(kind: str, reference: str, request_type: str, clock: Clock, language: str) -> tuple:
    """(subject, body) of the notice `kind` for this clock, in `language`."""
    words = texts(language)
    fields = {"reference": reference, "type": words["types"][request_type],
              "due": format_date(clock.due, language), "reply_hint": words["reply_hint"],
              "question": "", "reason": "", "code": "", "routes": ""}
    if kind == "question":
        fields["question"] = _last(clock, EventKind.PAUSED).reason
    elif kind == "extension":
        fields["reason"] = _last(clock, EventKind.EXTENDED).reason
    elif kind == "refusal":
        refused = _last(clock, EventKind.REFUSED)
        fields["code"] = words["refusal_codes"][refused.code]
        fields["reason"] = refused.reason
        fields["routes"] = "\n".join(complaint_routes(clock.regimes, language))
    mail = words["mails"][kind]
    body = mail["body"].format(**fields).rstrip() + f"\n\n{words['signature']}\n"
    return mail["subject"].format(**fields), body


def _claim(request_id: int, seen: Optional[datetime], now: datetime) -> bool:
    with session_scope() as session:
        result = session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id == request_id, PrivacyRequest.notice_check_at == seen)
            .values(notice_check_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False))
        return result.rowcount == 1


def send_pending(request_id: int, mailer: Optional[Mailer] = None, now: Optional[datetime] = None) -> List[str]:
    """Mails every notice pending on this request's clock; returns the kinds sent."""
    now = now or utcnow()
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        if row is None or row.notice_check_at is None or row.notice_check_at > now or not row.clock:
            return []
        seen = row.notice_check_at
    if not _claim(request_id, seen, now):
        return []  # another process is on it
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        clock, email, reference = Clock.from_json(row.clock), row.email, row.reference
        request_type, language = row.request_type.value, language_of(row.language)
    pending = [n.kind for n in clock.deadline().notices_pending]
    sent: List[str] = []
    failed = False
    for kind in pending:
        subject, body = compose(kind, reference, request_type, clock, language)
        try:
            (mailer or mailer_from_settings()).send(email, subject, body)
        except MailError as exc:
            logger.warning("notice %s for request #%s not mailed (%s); retrying later", kind, request_id, exc)
            failed = True
            break
        sent.append(kind)
        clock = clock.notified(clock_store.at_least_last(clock, utcnow()), "assistant", kind)
        _record(request_id, clock, kind, language)
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        row.notice_check_at = utcnow() + RETRY_AFTER if failed else None
    return sent


def _record(request_id: int, clock: Clock, kind: str, language: str) -> None:
    """The notice is in the clock's history (so it is not owed again) and the audit log."""
    with session_scope() as session:
        row = session.get(PrivacyRequest, request_id)
        stored = Clock.from_json(row.clock)
        # Only the notified event is new; anything the desk added meanwhile stays.
        last = clock.history[-1]
        row.clock = stored.notified(clock_store.at_least_last(stored, last.at), last.actor, kind).to_json()
        audit.record("visitor_notified", request_id=request_id, session=session,
                     detail={"notice": kind, "language": language})


def send_all_due(mailer: Optional[Mailer] = None, limit: int = 100) -> int:
    """Every request whose notice check is due (the action server's job). Returns mails sent."""
    now = utcnow()
    with session_scope() as session:
        ids = session.execute(select(PrivacyRequest.id).where(PrivacyRequest.notice_check_at <= now)
                              .order_by(PrivacyRequest.notice_check_at).limit(limit)).scalars().all()
    return sum(len(send_pending(request_id, mailer, now)) for request_id in ids)
