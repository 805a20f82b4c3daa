"""A request's clock as a small state machine over its history.

    received ──start──▶ in_progress ──complete──▶ completed
       │  ▲                 │  ▲
       │  └──(no way back)  │  └────resume────┐
       └──pause──▶ waiting_for_visitor ◀─pause─┘
    any open state ──refuse──▶ refused;  received ──complete──▶ completed
    any open state ──extend──▶ (same state, later due date)

A Clock is immutable: every action returns a new Clock with one more event, after the
engine has checked that the law allows it. The history is the only stored truth; the
state and the due date are computed from it, and `from_json` replays it, so a stored
history that breaks the rules is caught on load instead of shown as a wrong date.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Optional, Tuple

from imago_core.vocabulary import RequestStatus

from .engine import Deadline, Holidays, check_extension, check_refusal, due_date
from .events import ClockEvent, EventKind, utc
from .rules import NOTICE_KINDS, REQUEST_TYPES

JSON_VERSION = 1


class ClockState(str, enum.Enum):
    RECEIVED = "received"
    WAITING_FOR_VISITOR = "waiting_for_visitor"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REFUSED = "refused"

    @property
    def is_open(self) -> bool:
        return self not in (ClockState.COMPLETED, ClockState.REFUSED)

    @property
    def status(self) -> RequestStatus:
        """The status the visitor and the ticket backends speak of."""
        return _STATUS[self]


_STATUS = {
    ClockState.RECEIVED: RequestStatus.RECEIVED,
    ClockState.WAITING_FOR_VISITOR: RequestStatus.WAITING_FOR_YOU,
    ClockState.IN_PROGRESS: RequestStatus.IN_PROGRESS,
    ClockState.COMPLETED: RequestStatus.COMPLETED,
    ClockState.REFUSED: RequestStatus.REJECTED,
}

S, K = ClockState, EventKind
# (state, event) -> next state. Anything else is an illegal transition. Completing a
# request straight from `received` is allowed (an opt-out done the minute it arrives);
# completing one that waits for the visitor is not: resume it first, so the history says
# the answer came. EXTENDED and NOTIFIED do not change the state and are handled apart.
TRANSITIONS: Mapping[Tuple[ClockState, EventKind], ClockState] = {
    (S.RECEIVED, K.STARTED): S.IN_PROGRESS,
    (S.RECEIVED, K.PAUSED): S.WAITING_FOR_VISITOR,
    (S.RECEIVED, K.COMPLETED): S.COMPLETED,
    (S.RECEIVED, K.REFUSED): S.REFUSED,
    (S.IN_PROGRESS, K.PAUSED): S.WAITING_FOR_VISITOR,
    (S.IN_PROGRESS, K.COMPLETED): S.COMPLETED,
    (S.IN_PROGRESS, K.REFUSED): S.REFUSED,
    (S.WAITING_FOR_VISITOR, K.RESUMED): S.IN_PROGRESS,
    (S.WAITING_FOR_VISITOR, K.REFUSED): S.REFUSED,
}
_VERBS = {K.STARTED: "start", K.PAUSED: "pause", K.RESUMED: "resume", K.EXTENDED: "extend",
          K.COMPLETED: "complete", K.REFUSED: "refuse", K.NOTIFIED: "notify", K.RECEIVED: "receive"}


class ClockError(ValueError):
    """A history or an action that the clock cannot take."""


class IllegalTransition(ClockError):
    def __init__(self, state: ClockState, kind: EventKind):
        allowed = [_VERBS[k] for (s, k) in TRANSITIONS if s is state]
        if state.is_open:
            allowed.append("extend")
        can = f"; from {state.value!r} you can: {', '.join(allowed)}" if allowed else f"; {state.value!r} is final"
        super().__init__(f"cannot {_VERBS[kind]} a request that is {state.value!r}{can}")
        self.state, self.kind = state, kind


def next_state(state: ClockState, kind: EventKind) -> ClockState:
    """The state after `kind`, or IllegalTransition."""
    if kind is K.NOTIFIED:
        return state
    if kind is K.EXTENDED:
        if state.is_open:
            return state
        raise IllegalTransition(state, kind)
    try:
        return TRANSITIONS[(state, kind)]
    except KeyError:
        raise IllegalTransition(state, kind) from None


@dataclass(frozen=True)
class Clock:
    request_type: str
    regimes: Tuple[str, ...]
    received: datetime  # aware UTC
    history: Tuple[ClockEvent, ...] = field(default=())
    holidays: Holidays = field(default=None, compare=False, repr=False)

    # -- building ---------------------------------------------------------------------
    @classmethod
    def open(cls, request_type, regimes: Iterable[str], received: datetime, actor: str = "assistant",
             *, holidays: Holidays = None) -> "Clock":
        """A new clock with its `received` event (new_due set)."""
        request_type = str(getattr(request_type, "value", request_type))
        if request_type not in REQUEST_TYPES:
            raise ClockError(f"unknown request type {request_type!r}")
        regimes = tuple(dict.fromkeys(str(r).strip().lower() for r in regimes))
        received = utc(received)
        bare = cls(request_type, regimes, received, (), holidays)
        first = ClockEvent(K.RECEIVED, received, actor, new_due=bare._deadline((), None).due)
        return cls(request_type, regimes, received, (first,), holidays)

    def _deadline(self, history, as_of) -> Deadline:
        return due_date(self.received, self.request_type, self.regimes, history, as_of=as_of, holidays=self.holidays)

    def _append(self, kind: EventKind, at: datetime, actor: str, **fields: Any) -> "Clock":
        at = utc(at)
        if self.history and at < self.history[-1].at:
            raise ClockError(f"an event at {at.isoformat()} would come before the last one ({self.history[-1].at.isoformat()})")
        next_state(self.state, kind)
        provisional = ClockEvent(kind, at, actor, **fields)
        history = self.history + (provisional,)
        new_due = self._deadline(history, at).due
        event = ClockEvent(kind, at, actor, new_due=new_due, **fields)
        return Clock(self.request_type, self.regimes, self.received, self.history + (event,), self.holidays)

    # -- actions ----------------------------------------------------------------------
    def start(self, at: datetime, actor: str) -> "Clock":
        return self._append(K.STARTED, at, actor)

    def pause(self, at: datetime, actor: str, question: str) -> "Clock":
        """Wait for the visitor; `question` is what they were asked. The due date moves
        only under regimes that allow pausing (UK GDPR Art. 12A)."""
        if not (question or "").strip():
            raise ClockError("a pause needs the question sent to the visitor")
        return self._append(K.PAUSED, at, actor, reason=question.strip())

    def resume(self, at: datetime, actor: str, reason: Optional[str] = None) -> "Clock":
        return self._append(K.RESUMED, at, actor, reason=reason)

    def extend(self, at: datetime, actor: str, reason: str) -> "Clock":
        next_state(self.state, K.EXTENDED)
        check_extension(self.received, self.request_type, self.regimes, self.history, utc(at), reason,
                        holidays=self.holidays)
        return self._append(K.EXTENDED, at, actor, reason=reason.strip())

    def complete(self, at: datetime, actor: str, reason: Optional[str] = None) -> "Clock":
        return self._append(K.COMPLETED, at, actor, reason=reason)

    def refuse(self, at: datetime, actor: str, code: Optional[str], reason: Optional[str]) -> "Clock":
        next_state(self.state, K.REFUSED)
        check_refusal(self.request_type, self.regimes, code, reason)
        return self._append(K.REFUSED, at, actor, code=code, reason=reason.strip())

    def notified(self, at: datetime, actor: str, notice: str) -> "Clock":
        """Record that the visitor was told of `notice` (receipt, question, ...)."""
        if notice not in NOTICE_KINDS:
            raise ClockError(f"unknown notice {notice!r}; expected one of {NOTICE_KINDS}")
        return self._append(K.NOTIFIED, at, actor, notice=notice)

    # -- reading ----------------------------------------------------------------------
    @property
    def state(self) -> ClockState:
        state = S.RECEIVED
        for event in self.history[1:]:
            state = next_state(state, event.kind)
        return state

    def deadline(self, as_of: Optional[datetime] = None) -> Deadline:
        """The engine's answer for this history; `as_of` counts an open pause up to now."""
        return self._deadline(self.history, None if as_of is None else utc(as_of))

    @property
    def due(self) -> date:
        """The due date under today's tables (what the ticket's Due field carries). An
        open pause counts no days here; deadline(as_of=now) counts them."""
        return self.deadline().due

    # -- storing ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "version": JSON_VERSION,
            "request_type": self.request_type,
            "regimes": list(self.regimes),
            "received": self.received.isoformat(),
            "history": [e.to_dict() for e in self.history],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, holidays: Holidays = None) -> "Clock":
        """Rebuild a clock by replaying its history through the same checks as the
        actions, so a stored history the rules would not allow raises ClockError."""
        if data.get("version") != JSON_VERSION:
            raise ClockError(f"unsupported clock version {data.get('version')!r}")
        events = [ClockEvent.from_dict(e) for e in data.get("history") or []]
        if not events or events[0].kind is not K.RECEIVED:
            raise ClockError("a clock history starts with its 'received' event")
        clock = cls.open(data["request_type"], data["regimes"], datetime.fromisoformat(data["received"]),
                         events[0].actor, holidays=holidays)
        clock = Clock(clock.request_type, clock.regimes, clock.received, (events[0],), holidays)
        for e in events[1:]:
            if e.kind is K.RECEIVED:
                raise ClockError("a clock history has one 'received' event")
            if e.kind is K.PAUSED:
                clock = clock.pause(e.at, e.actor, e.reason)
            elif e.kind is K.EXTENDED:
                clock = clock.extend(e.at, e.actor, e.reason)
            elif e.kind is K.REFUSED:
                clock = clock.refuse(e.at, e.actor, e.code, e.reason)
            elif e.kind is K.NOTIFIED:
                clock = clock.notified(e.at, e.actor, e.notice)
            else:
                clock = clock._append(e.kind, e.at, e.actor, reason=e.reason)
            # Keep the stored event as written (its new_due was right under the rules of the
            # day); replaying checked it is allowed.
            clock = Clock(clock.request_type, clock.regimes, clock.received, clock.history[:-1] + (e,), holidays)
        return clock

    @classmethod
    def from_json(cls, text: str, *, holidays: Holidays = None) -> "Clock":
        return cls.from_dict(json.loads(text), holidays=holidays)
