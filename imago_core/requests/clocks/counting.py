"""Counting legal periods on the calendar: months, days, business days, and a last day
that moves past weekends or holidays. Pure date arithmetic, stdlib only.

Every function takes and returns `datetime.date`: the law counts whole days, and a deadline
is met by acting at any time on its last day.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import AbstractSet, Iterable, Optional

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
NO_HOLIDAYS: frozenset = frozenset()

UNITS = ("months", "days", "business_days")


def add_months(start: date, months: int) -> date:
    """The same date `months` later, or that month's last day when the date does not
    exist: 31 Jan + 1 -> 28 Feb (29 in a leap year), 31 Mar + 1 -> 30 Apr.

    This is the ICO's reading of "one month" and Reg. 1182/71 Art. 3(2)(c)'s: the period
    ends on the day of the last month with the same number as the day it runs from."""
    if months < 0:
        raise ValueError("months must not be negative")
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def is_business_day(day: date, holidays: AbstractSet[date] = NO_HOLIDAYS) -> bool:
    """Monday to Friday, and not in `holidays`."""
    return day.weekday() < 5 and day not in holidays


def add_business_days(start: date, count: int, holidays: AbstractSet[date] = NO_HOLIDAYS) -> date:
    """The `count`-th business day after `start` (the start day itself never counts, as
    "no later than 10 business days after receiving" reads). `count` 0 gives `start`."""
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    while count:
        day += timedelta(days=1)
        if is_business_day(day, holidays):
            count -= 1
    return day


def move_past(day: date, weekdays: Iterable[str], holidays: AbstractSet[date] = NO_HOLIDAYS) -> date:
    """`day`, or the next day that is neither one of `weekdays` ("sat", "sun") nor a
    holiday. With no weekdays, holidays are not consulted: a regime that does not move its
    last day does not move it for a holiday either."""
    skip = {WEEKDAY_NAMES.index(name) for name in weekdays}
    if not skip:
        return day
    while day.weekday() in skip or day in holidays:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class Period:
    """A length of legal time: `amount` calendar months, calendar days or business days."""

    unit: str
    amount: int

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown period unit {self.unit!r}; expected one of {UNITS}")
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount < 0:
            raise ValueError(f"a period's amount must be a whole number >= 0, got {self.amount!r}")

    def after(self, start: date, holidays: AbstractSet[date] = NO_HOLIDAYS) -> date:
        """The last day of the period that runs from `start` (the start day excluded)."""
        if self.unit == "months":
            return add_months(start, self.amount)
        if self.unit == "days":
            return start + timedelta(days=self.amount)
        return add_business_days(start, self.amount, holidays)

    def describe(self) -> str:
        """"1 month", "40 days", "10 business days", "the same day"."""
        if self.amount == 0:
            return "the same day"
        word = {"months": "month", "days": "day", "business_days": "business day"}[self.unit]
        return f"{self.amount} {word}{'' if self.amount == 1 else 's'}"


def local_day(moment: date | datetime, utc_offset_hours: float = 0) -> date:
    """The calendar date of `moment` at a fixed offset from UTC.

    A `date` is taken as it is. A naive `datetime` is read as UTC: the records store UTC
    (imago_core.models.UTCDateTime). Regimes use their westernmost standard offset, so the
    date is never later than the visitor's own and the clock never starts a day late."""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone(timedelta(hours=utc_offset_hours))).date()
    if isinstance(moment, date):
        return moment
    raise TypeError(f"expected a date or datetime, got {type(moment).__name__}")


def day_of(moment: Optional[date | datetime]) -> Optional[date]:
    """The UTC date of a moment (or a date as it is); None stays None."""
    return None if moment is None else local_day(moment, 0)
