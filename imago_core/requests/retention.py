"""Retention: the assistant keeps its own visitors' data no longer than the policy says.

- CONVERSATION_RETENTION_DAYS (30): tracker-store conversations idle that long,
  request drafts, verifications and codes, code sends, resolved escalations;
- OPEN_ESCALATION_RETENTION_DAYS (90): escalations still waiting for, or with, staff;
- REQUEST_RETENTION_DAYS (1095): request records completed or rejected that long ago;
- the audit log stays (it proves what happened), but rows older than
  REQUEST_RETENTION_DAYS lose their address key, conversation id and staff notes
  (imago_core/storage/audit_pseudonyms.py).

Deletes in bounded batches, each its own short transaction, so conversations in
progress wait at most one batch. Runs daily in the action server
(run_daily, a job of imago_core/delivery/jobs.py) and as `imago-requests purge`.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Dict, List, Optional

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from imago_core.requests.status_sync import refresh_open_deletions
from imago_core.settings import Settings, get_settings
from imago_core.storage import audit
from imago_core.storage import conversations as conversation_store
from imago_core.storage.audit_pseudonyms import pseudonymise_audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    AddressFailure,
    AddressLockNotice,
    CodeSend,
    ErasedConversation,
    Escalation,
    EscalationStatus,
    OneTimeCode,
    PrivacyRequest,
    RequestDraft,
    RequestStatus,
    VerifiedConversation,
    utcnow,
)

logger = logging.getLogger(__name__)

# Per transaction: conversations of the tracker store (~10 events each), and rows of
# the project's tables. Small enough that a conversation turn waits at most a few
# tens of milliseconds for the lock; large enough that commits don't dominate.
CONVERSATION_BATCH = 500
ROW_BATCH = 2000
PAUSE_BETWEEN_BATCHES = 0.002  # seconds: lets a waiting conversation turn take the lock
PURGE_INTERVAL = timedelta(days=1)
RETRY_AFTER_FAILURE = timedelta(minutes=10)
RESOLVED_ESCALATIONS = [EscalationStatus.HANDED_BACK, EscalationStatus.FORWARDED]
OPEN_ESCALATIONS = [EscalationStatus.WAITING, EscalationStatus.WITH_STAFF]
CLOSED_REQUESTS = [s for s in RequestStatus if not s.is_open]
KINDS = ("conversations", "conversation events", "erased events written back", "drafts", "verifications",
         "codes", "code sends", "escalations", "open escalations", "requests", "erasure markers",
         "address failures", "address lock notices", "audit rows pseudonymised")


@dataclass
class PurgeReport:
    dry_run: bool = False
    removed: Dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in KINDS})
    seconds: Dict[str, float] = field(default_factory=dict)  # time spent per table (benchmark)

    def lines(self):
        verb = "would remove" if self.dry_run else "removed"
        return [f"{verb} {count:>8} {kind}" for kind, count in self.removed.items()]


def _project_rows(kind: str, model, condition, report: PurgeReport, batch_size: int) -> None:
    # The due ids are read once (the date columns have no index: one scan, not one
    # per batch), then deleted by id range, batch by batch. The condition is checked
    # again, so a row that changed meanwhile (an escalation reopened) stays.
    with session_scope() as session:
        ids = session.execute(select(model.id).where(condition).order_by(model.id)).scalars().all()
    if report.dry_run:
        report.removed[kind] = len(ids)
        return
    for start in range(0, len(ids), batch_size):
        low, high = ids[start], ids[min(start + batch_size, len(ids)) - 1]
        with session_scope() as session:
            report.removed[kind] += session.execute(
                delete(model).where(model.id.between(low, high), condition)
                .execution_options(synchronize_session=False)).rowcount
        time.sleep(PAUSE_BETWEEN_BATCHES)


def _tracker_conversations(engine: Engine, idle_before: datetime, report: PurgeReport, batch_size: int) -> List[str]:
    cutoff = idle_before.timestamp()
    idle = conversation_store.idle_conversations(engine, cutoff)
    report.removed["conversations"] = len(idle)
    if report.dry_run:
        report.removed["conversation events"] = sum(
            conversation_store.count_events(engine, batch) for batch in conversation_store.batched(idle, batch_size))
        return idle
    for batch in conversation_store.batched(idle, batch_size):
        report.removed["conversation events"] += conversation_store.delete_conversations(engine, batch, cutoff)
        time.sleep(PAUSE_BETWEEN_BATCHES)
    return idle


def _erased_again(engine: Engine, report: PurgeReport) -> None:
    """Events of erased conversations written back by a turn that was in progress
    when the erasure ran (the Rasa server saves the history it had retrieved)."""
    with session_scope() as session:
        erased = session.execute(select(ErasedConversation.conversation_id, ErasedConversation.erased_at)).all()
    for conversation_id, erased_at in erased:
        if report.dry_run:
            continue  # rare and small: not worth counting
        report.removed["erased events written back"] += conversation_store.delete_events_until(
            engine, conversation_id, erased_at.timestamp())


def _still_stored(engine: Engine, verified_before: datetime, purged: List[str]) -> List[str]:
    """Conversations verified before the cutoff whose events are kept (the visitor
    came back later): their verification must stay with them."""
    with session_scope() as session:
        candidates = session.execute(select(VerifiedConversation.conversation_id).distinct().where(
            VerifiedConversation.expires_at < verified_before)).scalars().all()
    gone = set(purged)  # a dry run has not deleted them yet
    return [c for c in conversation_store.existing(engine, candidates) if c not in gone]


def purge(now: Optional[datetime] = None, dry_run: bool = False, settings: Optional[Settings] = None,
          tracker_engine: Optional[Engine] = None, batch_size: Optional[int] = None) -> PurgeReport:
    """Removes everything older than its retention period, as of `now`."""
    now = now or utcnow()
    settings = settings or get_settings()
    conversations_before = now - timedelta(days=settings.conversation_retention_days)
    requests_before = now - timedelta(days=settings.request_retention_days)
    report = PurgeReport(dry_run=dry_run)

    engine = tracker_engine or conversation_store.tracker_engine()
    # Nothing is purged against the wrong store: its "no conversations" would also
    # drop verifications whose conversations are still stored (see _still_stored).
    conversation_store.require_store(engine)
    started = time.perf_counter()
    _erased_again(engine, report)
    purged = _tracker_conversations(engine, conversations_before, report, batch_size or CONVERSATION_BATCH)
    report.seconds["conversations"] = time.perf_counter() - started
    for kind, model, condition in (
        ("drafts", RequestDraft, RequestDraft.created_at < conversations_before),
        # A verification links a conversation to its address (export, erasure), so
        # it stays as long as the conversation does, not just until it expires.
        ("verifications", VerifiedConversation, (VerifiedConversation.expires_at < conversations_before)
         & VerifiedConversation.conversation_id.not_in(_still_stored(engine, conversations_before, purged))),
        ("codes", OneTimeCode, OneTimeCode.expires_at < conversations_before),
        ("code sends", CodeSend, CodeSend.sent_at < conversations_before),
        # A failure budget's rows mean nothing once out of its window (issue 23).
        ("address failures", AddressFailure,
         AddressFailure.failed_at < now - timedelta(hours=settings.code_failure_window_hours)),
        ("address lock notices", AddressLockNotice,
         AddressLockNotice.sent_at < now - timedelta(hours=settings.code_failure_window_hours)),
        ("erasure markers", ErasedConversation, ErasedConversation.erased_at < conversations_before),
        ("escalations", Escalation, Escalation.status.in_(RESOLVED_ESCALATIONS)
         & (Escalation.updated_at < conversations_before)),
        # Nobody answered (or closed) them in OPEN_ESCALATION_RETENTION_DAYS: the transcript
        # and address must not wait for a person forever (issue 23).
        ("open escalations", Escalation, Escalation.status.in_(OPEN_ESCALATIONS)
         & (Escalation.updated_at < now - timedelta(days=settings.open_escalation_retention_days))),
        # The audit rows of a removed request keep their events (request_id -> NULL).
        ("requests", PrivacyRequest, PrivacyRequest.status.in_(CLOSED_REQUESTS)
         & (func.coalesce(PrivacyRequest.status_changed_at, PrivacyRequest.received_at) < requests_before)),
    ):
        started = time.perf_counter()
        _project_rows(kind, model, condition, report, batch_size or ROW_BATCH)
        report.seconds[kind] = time.perf_counter() - started
    started = time.perf_counter()
    report.removed["audit rows pseudonymised"] = pseudonymise_audit(requests_before, dry_run=dry_run)
    report.seconds["audit rows pseudonymised"] = time.perf_counter() - started
    if not dry_run and any(report.removed.values()):
        audit.record("retention_purge", actor="retention", detail=report.removed)
    return report


# -- daily, inside the action server ------------------------------------------------
def daily_pass() -> PurgeReport:
    """Deletion requests completed in the ticket backend first (their erasure), then the purge."""
    if get_settings().ticket_backend != "local":
        try:
            refresh_open_deletions()
        except Exception:  # noqa: BLE001 - the backend may be down; the purge still runs
            logger.exception("deletion statuses not refreshed from the ticket backend")
    return purge()


def run_daily(stop: threading.Event, interval: timedelta = PURGE_INTERVAL,
              purge_once: Callable[[], PurgeReport] = daily_pass) -> None:
    while not stop.is_set():
        try:
            report = purge_once()
            logger.info("retention purge: %s", ", ".join(f"{k} {v}" for k, v in report.removed.items() if v) or "nothing due")
            wait = interval
        except conversation_store.TrackerStoreMissing as exc:
            # Expected for a moment at start-up (the Rasa server creates the table when it starts):
            # said plainly, without a traceback, and retried soon; nothing was deleted.
            wait = min(interval, RETRY_AFTER_FAILURE)
            logger.error("retention purge not run: %s; retried in %s", exc, wait)
        except Exception:  # noqa: BLE001 - retried soon
            wait = min(interval, RETRY_AFTER_FAILURE)
            logger.exception("retention purge failed; retried in %s", wait)
        stop.wait(wait.total_seconds())
