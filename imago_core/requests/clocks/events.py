"""One entry in a request's clock history, and its JSON form.

The history is the clock: the state and every date are computed again from it, so what
is stored on the request row is this list and nothing derived that could drift.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Mapping, Optional


class EventKind(str, enum.Enum):
    RECEIVED = "received"
    STARTED = "started"  # the team begins work
    PAUSED = "paused"  # a question went to the visitor; `reason` holds it
    RESUMED = "resumed"  # the visitor answered, or the team resumed
    EXTENDED = "extended"  # `reason` says why
    COMPLETED = "completed"
    REFUSED = "refused"  # `code` is a refusal code, `reason` the free text
    NOTIFIED = "notified"  # the visitor was told; `notice` names what (rules.NOTICE_KINDS)


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is read as UTC (the records store UTC)."""
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class ClockEvent:
    kind: EventKind
    at: datetime  # aware, UTC
    actor: str  # "assistant", "visitor", a staff member's name
    reason: Optional[str] = None
    new_due: Optional[date] = None  # the due date once this event applied
    code: Optional[str] = None  # refusals only
    notice: Optional[str] = None  # NOTIFIED only

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))
        object.__setattr__(self, "at", utc(self.at))
        if not isinstance(self.actor, str) or not self.actor.strip():
            raise ValueError("an event needs an actor")

    def to_dict(self) -> dict:
        """Only the fields that are set, dates in ISO 8601."""
        out: dict = {"kind": self.kind.value, "at": self.at.isoformat(), "actor": self.actor}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.new_due is not None:
            out["new_due"] = self.new_due.isoformat()
        if self.code is not None:
            out["code"] = self.code
        if self.notice is not None:
            out["notice"] = self.notice
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClockEvent":
        unknown = set(data) - {"kind", "at", "actor", "reason", "new_due", "code", "notice"}
        if unknown:
            raise ValueError(f"unknown fields in a clock event: {sorted(unknown)}")
        new_due = data.get("new_due")
        return cls(
            kind=EventKind(data["kind"]),
            at=datetime.fromisoformat(data["at"]),
            actor=data["actor"],
            reason=data.get("reason"),
            new_due=date.fromisoformat(new_due) if new_due else None,
            code=data.get("code"),
            notice=data.get("notice"),
        )
