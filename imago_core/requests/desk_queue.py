"""What the desk reads: the queue with its filters and counters, one request with its
clock, transcript and audit trail, and the CSV export.

Dates: `received` is the moment (ISO 8601, UTC); `due` is the legal due date (ISO date)
computed by the clock; `days_left` counts calendar days from today (negative: overdue).
The address is masked here; only `desk_actions.act(..., "reveal")` shows it, audited.
"""
from __future__ import annotations

import csv
import io
import json
import statistics
from datetime import date, datetime, timedelta
from typing import Any, Dict, Iterable, List, Optional

from sqlalchemy import select

from imago_core.identity.codes import mask_email
from imago_core.requests import clock_store
from imago_core.requests.clocks import REFUSAL_CODES, Clock, ClockError
from imago_core.requests.clocks.engine import DUE_SOON_DAYS
from imago_core.requests.records import request_by_reference
from imago_core.requests.transcript import conversation_transcript
from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent, PrivacyRequest, RequestStatus, utcnow

FILTERS = ("status", "type", "regime", "assignee")
CSV_FIELDS = ("reference", "type", "status", "received", "due", "days_left", "standing", "regimes",
              "binding", "language", "assignee", "extended", "closed")
STATS_DAYS = 90  # CCPA §7102: the figures of the last period, per request type


def _today() -> date:
    return clock_store.due_day(utcnow())


def _clock(row: PrivacyRequest) -> Optional[Clock]:
    try:
        return clock_store.clock_of(row)
    except ClockError:
        return None  # a history the rules reject: shown from the row alone, flagged


def summary(row: PrivacyRequest, today: Optional[date] = None) -> Dict[str, Any]:
    today = today or _today()
    clock = _clock(row)
    deadline = clock.deadline(as_of=utcnow()) if clock else None
    due = deadline.due if deadline else clock_store.due_day(row.due_at)
    is_open = row.status.is_open
    left = (due - today).days
    if not is_open:
        standing = "closed"
    else:
        standing = "overdue" if left < 0 else ("due_soon" if left <= DUE_SOON_DAYS else "on_time")
    closed = clock_store.closed_at(clock) if clock else None
    return {
        "reference": row.reference, "type": row.request_type.value, "status": row.status.value,
        "state": clock.state.value if clock else None,
        "received": row.received_at.isoformat(), "due": due.isoformat(),
        "days_left": left if is_open else None, "standing": standing,
        "regimes": (row.regimes or "").split(",") if row.regimes else list(clock.regimes if clock else ()),
        "binding": list(deadline.binding) if deadline else [],
        "open_ended": bool(deadline and deadline.open_ended),
        "language": row.language or "en", "assignee": row.assignee,
        "extended": bool(clock and any(e.kind.value == "extended" for e in clock.history)),
        "closed": closed.isoformat() if closed else None,
        "needs_attention": row.needs_attention,
    }


def _matches(item: Dict[str, Any], filters: Dict[str, str]) -> bool:
    for name in FILTERS:
        wanted = (filters.get(name) or "").strip()
        if not wanted:
            continue
        if name == "status":
            if wanted == "open" and item["standing"] == "closed":
                return False
            if wanted == "overdue" and item["standing"] != "overdue":
                return False
            if wanted not in ("open", "overdue") and item["status"] != wanted:
                return False
        elif name == "type" and item["type"] != wanted:
            return False
        elif name == "regime" and wanted not in item["regimes"]:
            return False
        elif name == "assignee" and (item["assignee"] or "") != ("" if wanted == "-" else wanted):
            return False
    return True


def _order(item: Dict[str, Any]):
    """Open before closed; among open the earliest due first, which puts the overdue first
    and those due within 5 days next; closed ones newest first."""
    if item["standing"] == "closed":
        return (1, -datetime.fromisoformat(item["closed"] or item["received"]).timestamp())
    return (0, item["due"], item["received"])


def queue(filters: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
    filters = filters or {}
    today = _today()
    with session_scope() as session:
        rows = session.execute(select(PrivacyRequest)).scalars().all()
        items = [summary(row, today) for row in rows]
    return sorted((i for i in items if _matches(i, filters)), key=_order)


def counters(items: Iterable[Dict[str, Any]], now: Optional[datetime] = None) -> Dict[str, Any]:
    """Open, overdue, due this week (the next 7 days, today included), waiting for the
    visitor, and the median days from receipt to closing by type over the last 90 days."""
    items = list(items)
    now = now or utcnow()
    open_items = [i for i in items if i["standing"] != "closed"]
    since = now - timedelta(days=STATS_DAYS)
    by_type: Dict[str, List[int]] = {}
    for item in items:
        if item["closed"] and datetime.fromisoformat(item["closed"]) >= since:
            days = (datetime.fromisoformat(item["closed"]) - datetime.fromisoformat(item["received"])).days
            by_type.setdefault(item["type"], []).append(days)
    return {
        "open": len(open_items),
        "overdue": sum(1 for i in open_items if i["standing"] == "overdue"),
        "due_this_week": sum(1 for i in open_items if 0 <= i["days_left"] < 7),
        "waiting_for_visitor": sum(1 for i in open_items if i["status"] == RequestStatus.WAITING_FOR_YOU.value),
        "median_days_to_close": {t: statistics.median(d) for t, d in sorted(by_type.items())},
        "closed_in_period": {t: len(d) for t, d in sorted(by_type.items())},
        "period_days": STATS_DAYS,
    }


def to_csv(items: Iterable[Dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        row = dict(item, regimes=" ".join(item["regimes"]), binding=" ".join(item["binding"]))
        # A spreadsheet runs a cell that starts with = + - @ as a formula: quote it away.
        writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v) for k, v in row.items()})
    return out.getvalue()


def detail(reference: str) -> Dict[str, Any]:
    """One request: the summary, the masked address, the clock with its history and the
    deadlines per regime, the notices owed, the transcript, and the audit trail."""
    with session_scope() as session:
        row = request_by_reference(session, reference)
        item = summary(row)
        clock = _clock(row)
        deadline = clock.deadline(as_of=utcnow()) if clock else None
        trail = session.execute(select(AuditEvent).where(AuditEvent.request_id == row.id)
                                .order_by(AuditEvent.id)).scalars().all()
        item.update({
            "email_masked": mask_email(row.email), "details": row.details, "channel": row.channel,
            "backend": row.backend, "delivery": row.delivery_state.value, "ticket": row.external_id,
            "ticket_update_owed": row.ticket_update_at is not None,
            "history": [e.to_dict() for e in clock.history] if clock else [],
            "per_regime": [{"regime": d.regime, "due": d.due.isoformat() if d.due else None, "source": d.source,
                            "extensions_used": d.extensions_used,
                            "refusal_due": d.refusal_due.isoformat() if d.refusal_due else None}
                           for d in deadline.per_regime] if deadline else [],
            "notices": [{"kind": n.kind, "due": n.due.isoformat(), "sent": n.sent_at.isoformat() if n.sent_at else None}
                        for n in deadline.notices] if deadline else [],
            "refusal_codes": list(REFUSAL_CODES),
            "audit": [{"at": e.at.isoformat(), "event": e.event, "actor": e.actor,
                       "detail": json.loads(e.detail) if e.detail else None} for e in trail],
        })
        conversation_id = row.conversation_id
    item["transcript"] = conversation_transcript(conversation_id)
    return item
