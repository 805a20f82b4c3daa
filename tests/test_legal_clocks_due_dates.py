"""The legal clocks (imago_core/requests/clocks): the due-date engine across the regimes
(GDPR, UK GDPR, PDPO, CCPA), pauses while waiting for the visitor, and extensions.
Pure: no database, no servers.

Weekdays of the dates used, so a reader can check the moves past weekends:
2025-02-28 Fri, 2026-02-28 Sat, 2026-03-02 Mon, 2026-04-02 Thu, 2026-04-16 Thu,
2026-05-31 Sun, 2026-12-04 Fri, 2026-12-18 Fri, 2026-12-28 Mon, 2028-02-29 Tue.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from imago_core.requests.clocks import (
    Clock,
    ClockEvent,
    ClockState,
    EventKind,
    ExtensionRefused,
    IllegalTransition,
    RulesError,
    check_extension,
    due_date,
)
from imago_core.vocabulary import RequestType
from tests.support.legal_clocks import DEFAULT, UTC, at, d


# --- the due date ----------------------------------------------------------------------

@pytest.mark.parametrize("received, due", [
    ("2025-01-31", "2025-02-28"),  # Friday: no move
    ("2028-01-31", "2028-02-29"),  # leap year, Tuesday
    ("2028-02-29", "2028-03-29"),
    ("2026-03-31", "2026-04-30"),
    ("2026-01-31", "2026-03-02"),  # 28 Feb 2026 is a Saturday: Reg. 1182/71 Art. 3(4)
    ("2026-03-02", "2026-04-02"),
])
def test_gdpr_due_date_is_one_calendar_month(received, due):
    deadline = due_date(at(received), "access", ["gdpr"])
    assert deadline.due == d(due) and deadline.binding == ("gdpr",)


def test_pdpo_counts_40_days_and_moves_past_a_sunday_only():
    assert due_date(at("2026-03-02"), "access", ["pdpo"]).due == d("2026-04-11")  # a Saturday: stays
    assert due_date(at("2026-03-03"), "access", ["pdpo"]).due == d("2026-04-13")  # Sun 12 Apr -> Mon
    assert due_date(at("2026-03-02"), "correction", ["pdpo"]).due == d("2026-04-11")


def test_the_earliest_regime_binds_gdpr_month_before_pdpo_40_days():
    deadline = due_date(at("2026-03-02"), "access", DEFAULT)
    by = {r.regime: r.due for r in deadline.per_regime}
    assert by == {"gdpr": d("2026-04-02"), "pdpo": d("2026-04-11")}
    assert deadline.due == d("2026-04-02") and deadline.binding == ("gdpr",)
    assert deadline.refusal_due == d("2026-04-02")
    assert deadline.receipt_due is None  # no CCPA: no receipt duty


def test_standing_on_the_desk_overdue_due_soon_on_time():
    deadline = due_date(at("2026-03-02"), "access", DEFAULT)  # due 2 Apr
    assert deadline.days_left(d("2026-03-02")) == 31
    assert deadline.standing(d("2026-03-27")) == "on_time"  # 6 days left
    assert deadline.standing(d("2026-03-28")) == "due_soon"  # 5 days left
    assert deadline.standing(d("2026-04-02")) == "due_soon"  # the last day
    assert deadline.standing(d("2026-04-03")) == "overdue" and deadline.days_left(d("2026-04-03")) == -1


def test_request_types_are_accepted_as_enum_or_value():
    assert due_date(at("2026-03-02"), RequestType.ACCESS, DEFAULT) == due_date(at("2026-03-02"), "access", DEFAULT)
    with pytest.raises(RulesError):
        due_date(at("2026-03-02"), "escalation", DEFAULT)
    with pytest.raises(Exception):
        due_date(at("2026-03-02"), "access", [])


def test_ccpa_45_days_and_receipt_in_10_business_days():
    deadline = due_date(at("2026-03-02"), "deletion", ["ccpa"])
    assert deadline.due == d("2026-04-16")
    assert deadline.receipt_due == d("2026-03-16")
    receipt = [n for n in deadline.notices if n.kind == "receipt"]
    assert receipt and receipt[0].due == d("2026-03-16") and receipt[0].pending
    assert "7021" in receipt[0].sources[0]


def test_ccpa_receipt_over_a_weekend():
    assert due_date(at("2026-12-04"), "access", ["ccpa"]).receipt_due == d("2026-12-18")  # Fri: 10 business days on
    assert due_date(at("2026-12-05"), "access", ["ccpa"]).receipt_due == d("2026-12-18")  # Sat: Mon 7 .. Fri 18
    assert due_date(at("2026-12-06"), "correction", ["ccpa"]).receipt_due == d("2026-12-18")  # Sun


def test_ccpa_counts_the_day_of_receipt_in_californian_time():
    thursday_evening_in_california = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)  # Thu 3 Dec 21:00 PST, Fri in UTC
    deadline = due_date(thursday_evening_in_california, "access", ["ccpa"])
    assert deadline.receipt_due == d("2026-12-17")  # 10 business days after Thursday, not Friday
    assert deadline.due == d("2027-01-17")  # 3 Dec + 45


def test_ccpa_opt_out_within_15_business_days():
    deadline = due_date(at("2026-12-07"), "marketing_optout", ["ccpa"])
    assert deadline.due == d("2026-12-28")
    assert deadline.receipt_due is None  # §7021(a) covers know, delete and correct only
    assert due_date(at("2026-12-07"), "marketing_optout", ["ccpa"], holidays={"ccpa": {d("2026-12-25")}}).due == d("2026-12-29")


def test_pdpo_opt_out_is_due_at_once_the_day_it_arrives():
    sunday = at("2026-03-01")
    deadline = due_date(sunday, "marketing_optout", ["gdpr", "pdpo", "ccpa"])
    assert deadline.due == d("2026-03-01") and deadline.binding == ("pdpo",)
    assert deadline.refusal_due is None  # no ground to refuse an opt-out


def test_ccpa_with_the_defaults_adds_the_receipt_but_gdpr_still_binds():
    deadline = due_date(at("2026-03-02"), "access", ["gdpr", "pdpo", "ccpa"])
    assert deadline.due == d("2026-04-02") and deadline.binding == ("gdpr",)
    assert deadline.receipt_due == d("2026-03-16")


def test_holidays_move_a_gdpr_last_day_only_when_given():
    easter_monday = d("2026-04-06")
    received = at("2026-03-06")  # + 1 month = Mon 6 Apr 2026
    assert due_date(received, "access", ["gdpr"]).due == easter_monday
    assert due_date(received, "access", ["gdpr"], holidays={"gdpr": {easter_monday}}).due == d("2026-04-07")


# --- pauses ----------------------------------------------------------------------------

def _events(*items):
    return tuple(ClockEvent(kind, at(day), "staff", reason="x") for kind, day in items)


def test_a_pause_extends_a_uk_clock_by_the_days_paused():
    events = _events((EventKind.PAUSED, "2026-03-10"), (EventKind.RESUMED, "2026-03-17"))
    deadline = due_date(at("2026-03-02"), "access", ["uk_gdpr"], events)
    assert deadline.due == d("2026-04-09")  # 2 Apr + 7 days
    assert deadline.per_regime[0].paused_days == 7 and not deadline.paused


def test_two_pauses_add_up_and_a_same_day_pause_adds_nothing():
    events = _events((EventKind.PAUSED, "2026-03-10"), (EventKind.RESUMED, "2026-03-12"),
                     (EventKind.PAUSED, "2026-03-20"), (EventKind.RESUMED, "2026-03-23"),
                     (EventKind.PAUSED, "2026-03-24"), (EventKind.RESUMED, "2026-03-24"))
    assert due_date(at("2026-03-02"), "access", ["uk_gdpr"], events).due == d("2026-04-07")


def test_an_open_pause_counts_up_to_now():
    events = _events((EventKind.PAUSED, "2026-03-10"))
    without_now = due_date(at("2026-03-02"), "access", ["uk_gdpr"], events)
    assert without_now.due == d("2026-04-02") and without_now.paused
    with_now = due_date(at("2026-03-02"), "access", ["uk_gdpr"], events, as_of=at("2026-03-15"))
    assert with_now.due == d("2026-04-07")


def test_a_pause_does_not_stop_the_eu_pdpo_or_ccpa_clocks():
    events = _events((EventKind.PAUSED, "2026-03-10"), (EventKind.RESUMED, "2026-03-30"))
    for regime, due in (("gdpr", "2026-04-02"), ("pdpo", "2026-04-11"), ("ccpa", "2026-04-16")):
        assert due_date(at("2026-03-02"), "access", [regime], events).due == d(due), regime


def test_a_long_uk_pause_leaves_pdpo_binding():
    events = _events((EventKind.PAUSED, "2026-03-10"), (EventKind.RESUMED, "2026-03-30"))
    deadline = due_date(at("2026-03-02"), "access", ["uk_gdpr", "pdpo"], events)
    assert {r.regime: r.due for r in deadline.per_regime} == {"uk_gdpr": d("2026-04-22"), "pdpo": d("2026-04-11")}
    assert deadline.due == d("2026-04-11") and deadline.binding == ("pdpo",)


# --- extensions ------------------------------------------------------------------------

def test_a_gdpr_extension_adds_two_months_and_pdpo_keeps_no_fixed_date():
    clock = Clock.open("access", DEFAULT, at("2026-03-02")).start(at("2026-03-03"), "ann")
    extended = clock.extend(at("2026-03-20"), "ann", "thousands of records across three systems")
    deadline = extended.deadline()
    by = {r.regime: r for r in deadline.per_regime}
    assert by["gdpr"].due == d("2026-06-02") and by["gdpr"].extensions_used == 1
    assert by["pdpo"].due is None  # s.19(2): as soon as practicable after the 40 days
    assert deadline.due == d("2026-06-02") and not deadline.open_ended
    assert extended.history[-1].new_due == d("2026-06-02")
    assert deadline.refusal_due == d("2026-04-02")  # Art. 12(4): an extension does not move it


def test_an_extension_from_31_january_counts_from_the_first_deadline():
    deadline = due_date(at("2025-01-31"), "access", ["gdpr"], _events((EventKind.EXTENDED, "2025-02-03")))
    assert deadline.due == d("2025-04-28")  # 28 Feb + 2 months, not 30 Apr


def test_an_extension_runs_from_the_deadline_before_it_moved_past_a_weekend():
    # 31 Jan 2026 + 1 month = Sat 28 Feb, shown as Mon 2 Mar; the extension counts from 28 Feb.
    deadline = due_date(at("2026-01-31"), "access", ["gdpr"], _events((EventKind.EXTENDED, "2026-02-03")))
    assert deadline.due == d("2026-04-28")  # not 2 May (a Saturday) moved to 4 May


def test_pdpo_alone_after_a_delay_notice_is_open_ended():
    deadline = due_date(at("2026-03-02"), "access", ["pdpo"], _events((EventKind.EXTENDED, "2026-03-20")))
    assert deadline.open_ended and deadline.due == d("2026-04-11")


def test_ccpa_extends_once_by_45_days_and_a_second_extension_is_refused():
    clock = Clock.open("access", ["ccpa"], at("2026-03-02"))
    once = clock.extend(at("2026-04-10"), "ann", "records in archived backups")
    assert once.due == d("2026-05-31")  # 16 Apr + 45 (calendar days: a Sunday stays)
    assert once.deadline().refusal_due == d("2026-05-31")  # a CCPA denial is the response
    with pytest.raises(ExtensionRefused, match="only once"):
        once.extend(at("2026-04-11"), "ann", "still more")


def test_a_second_gdpr_extension_is_refused():
    once = Clock.open("export", DEFAULT, at("2026-03-02")).extend(at("2026-03-05"), "ann", "complex")
    with pytest.raises(ExtensionRefused, match="once"):
        once.extend(at("2026-03-06"), "ann", "more complex")


def test_an_extension_after_the_notice_window_is_refused():
    clock = Clock.open("access", ["gdpr"], at("2026-03-02"))
    clock.extend(at("2026-04-02", 23, 0), "ann", "complex")  # the last day of the month is in time
    with pytest.raises(ExtensionRefused, match="too late.*2026-04-02"):
        clock.extend(at("2026-04-03"), "ann", "complex")
    ccpa = Clock.open("access", ["ccpa"], at("2026-03-02"))
    with pytest.raises(ExtensionRefused, match="too late"):
        ccpa.extend(at("2026-04-17"), "ann", "complex")


def test_the_notice_window_is_the_earliest_regimes():
    # Day 35: still inside PDPO's 40 days, but the GDPR month has passed.
    clock = Clock.open("access", DEFAULT, at("2026-03-02"))
    with pytest.raises(ExtensionRefused, match="GDPR"):
        clock.extend(at("2026-04-06"), "ann", "complex")


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_extension_needs_a_reason(reason):
    with pytest.raises(ExtensionRefused, match="reason"):
        Clock.open("access", DEFAULT, at("2026-03-02")).extend(at("2026-03-03"), "ann", reason)


def test_an_opt_out_cannot_be_extended():
    with pytest.raises(ExtensionRefused, match="no extension"):
        Clock.open("marketing_optout", ["ccpa"], at("2026-03-02")).extend(at("2026-03-03"), "ann", "busy")


def test_a_closed_request_cannot_be_extended():
    done = Clock.open("access", DEFAULT, at("2026-03-02")).complete(at("2026-03-05"), "ann")
    with pytest.raises(IllegalTransition):
        done.extend(at("2026-03-06"), "ann", "complex")
    with pytest.raises(ExtensionRefused, match="closed"):
        check_extension(at("2026-03-02"), "access", DEFAULT, done.history, at("2026-03-06"), "complex")


def test_an_extension_is_allowed_while_waiting_for_the_visitor():
    waiting = Clock.open("access", DEFAULT, at("2026-03-02")).pause(at("2026-03-03"), "ann", "Which account?")
    extended = waiting.extend(at("2026-03-04"), "ann", "complex")
    assert extended.state is ClockState.WAITING_FOR_VISITOR and extended.due == d("2026-06-02")
