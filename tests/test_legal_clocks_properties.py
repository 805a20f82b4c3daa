"""The legal clocks (imago_core/requests/clocks): properties checked by Hypothesis over
dates, request types, regime sets and histories, and the purity of the package (no
Rasa, no database).
"""
from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imago_core.requests.clocks import (
    REQUEST_TYPES,
    Clock,
    ClockError,
    ClockEvent,
    EventKind,
    ExtensionRefused,
    RefusalRejected,
    add_business_days,
    add_months,
    due_date,
    load_regime,
    local_day,
)
from tests.support.legal_clocks import DEFAULT, UTC


# --- properties ------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31),
                       timezones=st.just(UTC))
types = st.sampled_from(REQUEST_TYPES)
regime_sets = st.lists(st.sampled_from(["gdpr", "uk_gdpr", "pdpo", "ccpa"]), min_size=1, max_size=4, unique=True)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 1)), st.integers(0, 36))
def test_add_months_lands_on_the_same_date_or_the_months_end(start, months):
    end = add_months(start, months)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.day == start.day or (end.day < start.day and (end + timedelta(days=1)).day == 1)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 60))
def test_business_days_land_on_a_business_day_after_exactly_n(start, count):
    end = add_business_days(start, count)
    between = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(1 for day in between if day.weekday() < 5) == count
    assert count == 0 or end.weekday() < 5


@settings(max_examples=300)
@given(moments, types, regime_sets)
def test_the_due_date_is_never_before_receipt_and_is_the_earliest_of_the_regimes(received, request_type, regimes):
    deadline = due_date(received, request_type, regimes)
    assert deadline.due >= local_day(received, -12)  # no regime's receipt day is earlier
    for regime in deadline.per_regime:
        assert regime.due is not None
        assert regime.due >= local_day(received, load_regime(regime.regime).utc_offset_hours)
        assert deadline.due <= regime.due
    assert deadline.due == min(r.due for r in deadline.per_regime)
    assert set(deadline.binding) == {r.regime for r in deadline.per_regime if r.due == deadline.due}
    if deadline.refusal_due is not None:
        assert deadline.refusal_due >= local_day(received, -12)


@settings(max_examples=200)
@given(moments, st.sampled_from(["access", "deletion", "correction", "export"]))
def test_with_the_defaults_the_gdpr_month_always_binds(received, request_type):
    # A month is at most 31 days, a weekend move adds 2 and the Azores date can be a day
    # behind Hong Kong's: 34 < 40. docs/legal-clocks.md relies on this.
    deadline = due_date(received, request_type, DEFAULT)
    assert deadline.binding == ("gdpr",)


@settings(max_examples=200)
@given(moments, types, regime_sets)
def test_adding_a_regime_never_makes_the_due_date_later(received, request_type, regimes):
    alone = due_date(received, request_type, regimes[:1]).due
    together = due_date(received, request_type, regimes).due
    assert together <= alone


@settings(max_examples=200)
@given(moments, st.sampled_from(["access", "deletion", "correction", "export"]),
       st.integers(0, 20), st.integers(0, 40))
def test_pauses_and_extensions_never_bring_the_date_forward(received, request_type, pause_after, pause_days):
    regimes = ["uk_gdpr"]
    base = due_date(received, request_type, regimes).due
    paused_at = received + timedelta(days=pause_after)
    events = (ClockEvent(EventKind.PAUSED, paused_at, "ann", reason="q"),
              ClockEvent(EventKind.RESUMED, paused_at + timedelta(days=pause_days), "visitor"))
    paused = due_date(received, request_type, regimes, events).due
    assert paused >= base and (paused - base).days >= pause_days - 2  # a weekend move can absorb 2
    extended = due_date(received, request_type, regimes, events + (ClockEvent(EventKind.EXTENDED, paused_at, "ann", reason="r"),)).due
    assert extended > paused


_STEPS = st.lists(st.tuples(st.sampled_from(["start", "pause", "resume", "extend", "complete", "refuse", "notify"]),
                            st.integers(0, 72)), max_size=12)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(moments, types, regime_sets, _STEPS)
def test_any_history_the_clock_accepts_round_trips(received, request_type, regimes, steps):
    clock = Clock.open(request_type, regimes, received)
    now = received
    for verb, hours in steps:
        now = now + timedelta(hours=hours)
        action = {
            "start": lambda c: c.start(now, "ann"),
            "pause": lambda c: c.pause(now, "ann", "a question"),
            "resume": lambda c: c.resume(now, "visitor"),
            "extend": lambda c: c.extend(now, "ann", "a reason"),
            "complete": lambda c: c.complete(now, "ann"),
            "refuse": lambda c: c.refuse(now, "ann", "exempt", "a reason"),
            "notify": lambda c: c.notified(now, "ann", "question"),
        }[verb]
        try:
            clock = action(clock)
        except (ClockError, ExtensionRefused, RefusalRejected):
            pass  # refused actions leave the clock as it was
    assume(len(clock.history) > 1)
    again = Clock.from_json(clock.to_json())
    assert again == clock and again.state is clock.state and again.deadline() == clock.deadline()
    assert clock.due >= local_day(received, -12)


# --- purity ----------------------------------------------------------------------------

def test_the_clocks_import_neither_rasa_nor_the_database():
    code = ("import sys, imago_core.requests.clocks; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'rasa', 'rasa_sdk', 'sanic', 'sqlalchemy', 'dateutil'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
