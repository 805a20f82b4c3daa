"""The due date of a request, what may still be done to its clock, and what the visitor
must be told: pure functions of the receipt, the request type, the regimes and the
clock's history. No database, no clock of the host: "now" is always an argument.

How the rules combine:
- Each regime counts from its own receipt day (rules.Regime.utc_offset_hours), adds its
  answer period, then any extensions, then the days spent paused where it allows pausing,
  and finally moves a last day that falls on a day it skips (weekends for the GDPR).
- The request's due date is the earliest of the regimes' dates: meeting it meets all.
- An extension is allowed only if every applicable regime allows one now: the request is
  open, no regime has used up its extensions, and today is within every regime's notice
  window (the original answer deadline). One regime that says no is enough, because
  answering late under it would break its law whatever the others allow.
- A refusal needs a reason code and free text, and a request that some regime gives no
  ground to refuse (a marketing opt-out) cannot be refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import AbstractSet, Iterable, Mapping, Optional, Sequence, Tuple

from .counting import NO_HOLIDAYS, Period, local_day, move_past
from .events import ClockEvent, EventKind
from .rules import NOTICE_KINDS, REFUSAL_CODES, Regime, Rule, load_regime

# DataGrail's "Due Soon": 5 days or fewer left (LEGAL-CLOCKS.md, the console).
DUE_SOON_DAYS = 5

Holidays = Optional[Mapping[str, AbstractSet[date]]]  # regime -> its public holidays


class ClockRuleError(ValueError):
    """The law (as the tables encode it) does not allow this."""


class ExtensionRefused(ClockRuleError):
    pass


class RefusalRejected(ClockRuleError):
    pass


@dataclass(frozen=True)
class RegimeDeadline:
    """One regime's answer date for this request."""

    regime: str
    due: Optional[date]  # None: no fixed date any more (PDPO after an s.19(2) notice)
    original_due: date  # before extensions and pauses: also the extension-notice deadline
    source: str
    statutory: bool  # False: IMAGO's own commitment where the law sets no period
    extensions_used: int
    paused_days: int  # days added by pauses (0 where the regime does not pause)
    refusal_due: Optional[date]  # None: no ground to refuse under this regime
    receipt_due: Optional[date]  # CCPA §7021(a)


@dataclass(frozen=True)
class NoticeDuty:
    """Something the visitor must be told, by when, and under which laws."""

    kind: str  # rules.NOTICE_KINDS
    due: date
    regimes: Tuple[str, ...]
    sources: Tuple[str, ...]
    must_include: Tuple[str, ...]  # e.g. ("reasons", "new_due") for an extension
    sent_at: Optional[datetime] = None

    @property
    def pending(self) -> bool:
        return self.sent_at is None


@dataclass(frozen=True)
class Deadline:
    """What due_date() returns: the earliest applicable date and how it was reached."""

    due: date  # the date to work to (see `open_ended`)
    binding: Tuple[str, ...]  # the regimes whose date is `due`
    open_ended: bool  # True: no regime has a fixed date left; `due` is when "as soon as practicable" began
    per_regime: Tuple[RegimeDeadline, ...]
    refusal_due: Optional[date]  # the earliest date a refusal must reach the visitor; None: may not be refused
    receipt_due: Optional[date]  # confirm receipt by then (CCPA), or None
    paused: bool  # waiting for the visitor now
    notices: Tuple[NoticeDuty, ...] = field(default=())

    @property
    def notices_pending(self) -> Tuple[NoticeDuty, ...]:
        return tuple(n for n in self.notices if n.pending)

    def days_left(self, today: date) -> int:
        """Negative when overdue."""
        return (self.due - today).days

    def standing(self, today: date) -> str:
        """"overdue", "due_soon" (5 days or fewer left) or "on_time"."""
        left = self.days_left(today)
        if left < 0:
            return "overdue"
        return "due_soon" if left <= DUE_SOON_DAYS else "on_time"


def _type(request_type) -> str:
    return str(getattr(request_type, "value", request_type))


def _regimes(regimes: Iterable[str]) -> Tuple[Regime, ...]:
    keys = tuple(dict.fromkeys(str(r).strip().lower() for r in regimes))
    if not keys:
        raise ClockRuleError("at least one regime must apply")
    return tuple(load_regime(k) for k in keys)


def _paused_days(events: Sequence[ClockEvent], offset: float, as_of: Optional[datetime]) -> Tuple[int, bool]:
    """Whole days spent waiting for the visitor, counted on the regime's calendar, and
    whether a pause is still open. A pause and resume on the same day adds nothing: the
    law counts days, and that day was not lost. An open pause counts up to `as_of`."""
    total, since = 0, None
    for event in events:
        if event.kind is EventKind.PAUSED and since is None:
            since = local_day(event.at, offset)
        elif event.kind is EventKind.RESUMED and since is not None:
            total += (local_day(event.at, offset) - since).days
            since = None
    if since is not None and as_of is not None:
        total += max(0, (local_day(as_of, offset) - since).days)
    return total, since is not None


def _extensions(events: Sequence[ClockEvent]) -> int:
    return sum(1 for e in events if e.kind is EventKind.EXTENDED)


def _regime_deadline(regime: Regime, rule: Rule, received, events, as_of, holidays) -> RegimeDeadline:
    hol = (holidays or {}).get(regime.key, NO_HOLIDAYS)
    start = local_day(received, regime.utc_offset_hours)
    moves = rule.last_day_moves_past
    base_end = rule.answer.after(start, hol)
    original = move_past(base_end, moves, hol)
    used = _extensions(events)
    if rule.extension is not None:
        used = min(used, rule.extension.times)  # check_extension never lets more through
    else:
        used = 0
    end: Optional[date] = base_end
    for _ in range(used):
        # An extension runs from the end of the period before it, not from receipt: for
        # 31 Jan, 28 Feb + 2 months = 28 Apr, not 30 Apr (the stricter of the two readings).
        end = None if rule.extension.period is None else rule.extension.period.after(end, hol)
        if end is None:
            break
    paused, _open = _paused_days(events, regime.utc_offset_hours, as_of) if regime.pause_allowed else (0, False)
    due = None if end is None else move_past(end + timedelta(days=paused), moves, hol)

    refusal_due = None
    if rule.refusal is not None:
        r_end = rule.refusal.period.after(start, hol)
        if rule.refusal.after_extension and rule.extension is not None and rule.extension.period is not None:
            # An open-ended extension (no period) leaves the refusal date where it was.
            for _ in range(used):
                r_end = rule.extension.period.after(r_end, hol)
        refusal_due = move_past(r_end + timedelta(days=paused), moves, hol)
    receipt_due = rule.receipt.after(start, hol) if rule.receipt is not None else None
    return RegimeDeadline(
        regime=regime.key, due=due, original_due=original, source=rule.answer_source,
        statutory=rule.statutory, extensions_used=used, paused_days=paused,
        refusal_due=refusal_due, receipt_due=receipt_due,
    )


def due_date(
    received: date | datetime,
    request_type,
    regimes: Iterable[str],
    events: Iterable[ClockEvent] = (),
    *,
    as_of: Optional[datetime] = None,
    holidays: Holidays = None,
) -> Deadline:
    """The earliest applicable deadline of a request, with each regime's date, the
    refusal and receipt deadlines, and the notices owed to the visitor.

    `received`: the moment of receipt (a naive datetime is UTC) or the receipt date.
    `events`: the clock history (ClockEvent), oldest first; only pauses, resumes,
    extensions and notices change dates. `as_of`: now, for counting an open pause
    (None counts no days for it). `holidays`: optional public holidays per regime; none by
    default, which can only make a date earlier than the law's (see docs/legal-clocks.md).
    """
    request_type = _type(request_type)
    history = tuple(events)
    loaded = _regimes(regimes)
    per = tuple(_regime_deadline(r, r.rule(request_type), received, history, as_of, holidays) for r in loaded)
    fixed = [d for d in per if d.due is not None]
    if fixed:
        due = min(d.due for d in fixed)
        binding = tuple(d.regime for d in fixed if d.due == due)
        open_ended = False
    else:
        due = max(d.original_due for d in per)
        binding = tuple(d.regime for d in per)
        open_ended = True
    refusals = [d.refusal_due for d in per]
    refusal_due = None if any(r is None for r in refusals) else min(refusals)
    receipts = [d.receipt_due for d in per if d.receipt_due is not None]
    paused = _paused_days(history, 0, None)[1]
    deadline = Deadline(
        due=due, binding=binding, open_ended=open_ended, per_regime=per,
        refusal_due=refusal_due, receipt_due=min(receipts) if receipts else None, paused=paused,
    )
    notices = _notices(loaded, request_type, history, deadline, received)
    return replace(deadline, notices=notices)


def _sent(history: Sequence[ClockEvent], kind: str, after: Optional[datetime]) -> Optional[datetime]:
    """When the visitor was told of `kind` at or after `after`."""
    for event in history:
        if event.kind is EventKind.NOTIFIED and event.notice == kind and (after is None or event.at >= after):
            return event.at
    return None


def _last(history: Sequence[ClockEvent], kind: EventKind) -> Optional[ClockEvent]:
    found = [e for e in history if e.kind is kind]
    return found[-1] if found else None


def _notices(regimes, request_type, history, deadline: Deadline, received) -> Tuple[NoticeDuty, ...]:
    """The notices the law requires for what has happened so far, each with its date."""
    rules = {r.key: r.rule(request_type) for r in regimes}
    per = {d.regime: d for d in deadline.per_regime}
    routes = tuple(f"complaint_route:{r.key}" for r in regimes)

    def duty(kind, due, include, after=None):
        names = tuple(k for k, rule in rules.items() if kind in rule.notify)
        if not names:
            return None
        return NoticeDuty(kind=kind, due=due, regimes=names,
                          sources=tuple(rules[k].notify[kind] for k in names),
                          must_include=include, sent_at=_sent(history, kind, after))

    out = []
    if deadline.receipt_due is not None:
        out.append(duty("receipt", deadline.receipt_due, ("reference", "how_processed", "when_to_expect")))
    pause = _last(history, EventKind.PAUSED)
    if pause is not None:
        # The question is the pause: it goes to the visitor the day the clock stops.
        out.append(duty("question", pause.at.date(), ("reference", "question"), pause.at))
    extension = _last(history, EventKind.EXTENDED)
    if extension is not None:
        windows = [per[k].original_due for k, rule in rules.items() if rule.extension is not None]
        out.append(duty("extension", min(windows), ("reference", "reasons", "new_due"), extension.at))
    completion = _last(history, EventKind.COMPLETED)
    if completion is not None:
        out.append(duty("completion", completion.at.date(), ("reference",), completion.at))
    refusal = _last(history, EventKind.REFUSED)
    if refusal is not None:
        # Due by the refusal deadline; a refusal decided after it is told the same day.
        due = max(deadline.refusal_due, refusal.at.date()) if deadline.refusal_due else refusal.at.date()
        out.append(duty("refusal", due, ("reference", "reasons") + routes, refusal.at))
    return tuple(n for n in out if n is not None)


def check_extension(
    received: date | datetime,
    request_type,
    regimes: Iterable[str],
    events: Iterable[ClockEvent],
    at: datetime,
    reason: Optional[str],
    *,
    holidays: Holidays = None,
) -> None:
    """Raise ExtensionRefused unless the request may be extended at `at` with `reason`."""
    if not (reason or "").strip():
        raise ExtensionRefused("an extension needs its reason: the visitor must be told it (GDPR Art. 12(3), PDPO s.19(2), CCPA §7021(b))")
    history = tuple(events)
    if any(e.kind in (EventKind.COMPLETED, EventKind.REFUSED) for e in history):
        raise ExtensionRefused("the request is closed; only an open request can be extended")
    request_type = _type(request_type)
    used = _extensions(history)
    for regime in _regimes(regimes):
        rule = regime.rule(request_type)
        if rule.extension is None:
            raise ExtensionRefused(f"{regime.name} allows no extension of a {request_type} request ({rule.answer_source})")
        if used >= rule.extension.times:
            times = "once" if rule.extension.times == 1 else f"{rule.extension.times} times"
            raise ExtensionRefused(f"{regime.name} allows extending only {times}, and it has been extended ({rule.extension.source})")
        window = _regime_deadline(regime, rule, received, (), None, holidays).original_due
        today = local_day(at, regime.utc_offset_hours)
        if today > window:
            raise ExtensionRefused(
                f"too late to extend under {regime.name}: the visitor had to be told by {window.isoformat()} ({rule.extension.source})")


def check_refusal(request_type, regimes: Iterable[str], code: Optional[str], reason: Optional[str]) -> None:
    """Raise RefusalRejected unless a refusal with this code and text may be recorded."""
    if code not in REFUSAL_CODES:
        raise RefusalRejected(f"a refusal needs a reason code, one of {', '.join(REFUSAL_CODES)}; got {code!r}")
    if not (reason or "").strip():
        raise RefusalRejected("a refusal needs its reasons in words: the visitor must be told them (GDPR Art. 12(4), PDPO s.21(1))")
    request_type = _type(request_type)
    for regime in _regimes(regimes):
        rule = regime.rule(request_type)
        if rule.refusal is None:
            raise RefusalRejected(f"{regime.name} gives no ground to refuse a {request_type} request ({rule.answer_source})")


def refusal_grounds(regimes: Iterable[str], code: str) -> Tuple[Tuple[str, str], ...]:
    """(regime, source) for a refusal code under each regime: what the refusal log cites."""
    if code not in REFUSAL_CODES:
        raise RefusalRejected(f"unknown refusal code {code!r}")
    return tuple((r.key, r.refusal_codes[code]) for r in _regimes(regimes))


def complaint_routes(regimes: Iterable[str], language: str = "en") -> Tuple[str, ...]:
    """The sentences telling the visitor where to complain, one per regime."""
    lang = "zh" if str(language).lower().startswith(("zh", "yue")) else "en"
    return tuple(r.complaint_route[lang] for r in _regimes(regimes))


__all__ = [
    "ClockRuleError", "Deadline", "ExtensionRefused", "NoticeDuty", "NOTICE_KINDS", "Period",
    "RefusalRejected", "RegimeDeadline", "check_extension", "check_refusal", "complaint_routes",
    "due_date", "refusal_grounds",
]
