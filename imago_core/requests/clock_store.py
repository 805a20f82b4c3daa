"""A request's legal clock on its row: opened when the request is recorded, changed by
the desk, the CLI or a status read back from the ticket backend, and stored as JSON.

The clock's history is the stored truth (imago_core/requests/clocks/); the row's
`due_at` and `status` are derived from it on every change, so the queue can sort and
filter in SQL and the visitor's "what's the status?" reads the same state the desk shows.
Every change marks the row for a ticket update (Due, status) and a notice check (the
mails the law says the visitor is owed); both are retried until done
(requests/ticket_sync.py, requests/notices.py).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Optional, Tuple

from imago_core.requests.clocks import (
    Clock,
    ClockError,
    ClockState,
    EventKind,
    applicable_regimes,
)
from imago_core.settings import get_settings
from imago_core.storage.models import PrivacyRequest, RequestStatus, utcnow

# A due date is a calendar day; the moment it ends is taken in Hong Kong time (UTC+8),
# the easternmost of the regimes' calendars, so no applicable calendar has left the day
# before the ticket's Due passes (the stricter reading: a day's end never comes later).
_DAY_ENDS_IN = timezone(timedelta(hours=8))


def due_moment(day: date) -> datetime:
    """The last second of `day` (Hong Kong time), in UTC: what due_at and the tickets carry."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=_DAY_ENDS_IN).astimezone(timezone.utc)


def due_day(moment: datetime) -> date:
    """The calendar day a stored due_at stands for (inverse of due_moment)."""
    return moment.astimezone(_DAY_ENDS_IN).date()


def regimes_for(volunteered: Iterable[str] = ()) -> Tuple[str, ...]:
    """The setting's regimes (REGIMES, default gdpr,pdpo) plus those the visitor volunteered."""
    return applicable_regimes(get_settings().regimes, volunteered)


def open_clock(request_type, received: datetime, volunteered: Iterable[str] = ()) -> Clock:
    return Clock.open(request_type, regimes_for(volunteered), received, actor="assistant")


def clock_of(row: PrivacyRequest) -> Clock:
    """The row's clock. A row recorded before the clocks existed gets one now, counted
    from its receipt under today's setting, and its later status replayed roughly."""
    if row.clock:
        return Clock.from_json(row.clock)
    clock = Clock.open(row.request_type, regimes_for(), row.received_at, actor="assistant")
    at = max(row.status_changed_at or row.received_at, row.received_at)
    if row.status is RequestStatus.IN_PROGRESS:
        clock = clock.start(at, "assistant")
    elif row.status is RequestStatus.WAITING_FOR_YOU:
        # The question was asked, and told, before the clocks: no mail is owed for it now.
        clock = clock.pause(at, "assistant", "(asked before the clocks were recorded)")
        clock = clock.notified(at, "assistant", "question")
    elif row.status is RequestStatus.COMPLETED:
        clock = clock.complete(at, "assistant").notified(at, "assistant", "completion")
    return clock


def store(row: PrivacyRequest, clock: Clock, now: Optional[datetime] = None) -> None:
    """Writes the clock and what derives from it onto the row (inside the caller's session)."""
    now = now or utcnow()
    row.clock = clock.to_json()
    row.regimes = ",".join(clock.regimes)
    row.due_at = due_moment(clock.due)
    status = clock.state.status
    if row.status is not status:
        row.status, row.status_changed_at = status, now
    if row.external_id or row.delivery_state.value == "pending":
        # Delivered or about to be: the ticket's Due and status must follow.
        row.ticket_update_at, row.ticket_update_attempts = now, 0
    row.notice_check_at = now


def at_least_last(clock: Clock, now: datetime) -> datetime:
    """`now`, or the last event's time if the host clock stepped back: the history must
    stay in order (Clock refuses an event before the last one)."""
    last = clock.history[-1].at
    return now if now >= last else last


def toward_status(clock: Clock, status: RequestStatus, actor: str, at: datetime,
                  reason: Optional[str] = None) -> Clock:
    """The clock moved to a status set by name (the CLI's set-status, a ticket's status read
    back). A refusal needs a code the name does not carry: ClockError, the caller flags it."""
    at = at_least_last(clock, at)
    state = clock.state
    if status is state.status or status is RequestStatus.WITH_PRIVACY_TEAM:
        return clock
    if not state.is_open:
        raise ClockError(f"the request is {state.value}; a closed clock cannot become {status.value}")
    if status is RequestStatus.IN_PROGRESS:
        return clock.resume(at, actor, reason) if state is ClockState.WAITING_FOR_VISITOR else clock.start(at, actor)
    if status is RequestStatus.WAITING_FOR_YOU:
        return clock.pause(at, actor, reason or "question asked in the ticket system")
    if status is RequestStatus.COMPLETED:
        if state is ClockState.WAITING_FOR_VISITOR:
            clock = clock.resume(at, actor, "completed without waiting further")
        return clock.complete(at, actor, reason)
    if status is RequestStatus.REJECTED:
        raise ClockError("a refusal needs a reason code and the reasons in words: use the desk or "
                         "`imago-requests refuse REF --code ... --reason ...`")
    raise ClockError(f"no clock move to {status.value}")


def closed_at(clock: Clock) -> Optional[datetime]:
    for event in reversed(clock.history):
        if event.kind in (EventKind.COMPLETED, EventKind.REFUSED):
            return event.at
    return None
