"""The legal clocks (imago_core/requests/clocks): tables, counting, the due-date engine,
extensions, refusals, notices, the state machine, its JSON history, which regimes apply
and dates for the visitor. Pure: no database, no servers.

Weekdays of the dates used, so a reader can check the moves past weekends:
2025-02-28 Fri, 2026-02-28 Sat, 2026-03-02 Mon, 2026-04-02 Thu, 2026-04-16 Thu,
2026-05-31 Sun, 2026-12-04 Fri, 2026-12-18 Fri, 2026-12-28 Mon, 2028-02-29 Tue.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imago_core.requests.clocks import (
    NOTICE_KINDS,
    REFUSAL_CODES,
    REQUEST_TYPES,
    TRANSITIONS,
    Clock,
    ClockError,
    ClockEvent,
    ClockState,
    EventKind,
    ExtensionRefused,
    IllegalTransition,
    Period,
    RefusalRejected,
    RulesError,
    UnknownRegime,
    add_business_days,
    add_months,
    applicable_regimes,
    available_regimes,
    check_extension,
    complaint_routes,
    due_date,
    format_date,
    load_regime,
    local_day,
    move_past,
    refusal_grounds,
    regimes_from_setting,
    regimes_volunteered,
)
from imago_core.requests.clocks import rules as rules_module
from imago_core.vocabulary import RequestStatus, RequestType

UTC = timezone.utc
DEFAULT = ("gdpr", "pdpo")


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    """Noon UTC by default: the same calendar date in every regime's offset (-8 .. +8)."""
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def d(day: str) -> date:
    return date.fromisoformat(day)


# --- the tables ------------------------------------------------------------------------

def test_every_regime_has_a_table_for_every_request_type():
    assert set(available_regimes()) == {"gdpr", "uk_gdpr", "pdpo", "ccpa"}
    assert set(REQUEST_TYPES) == {t.value for t in RequestType}
    for key in available_regimes():
        regime = load_regime(key)
        assert set(regime.rules) == set(REQUEST_TYPES)
        assert set(regime.refusal_codes) == set(REFUSAL_CODES)
        assert regime.complaint_route["en"] and regime.complaint_route["zh"]
        for rule in regime.rules.values():
            assert rule.answer_source.strip()
            assert rule.notify, f"{key} {rule.request_type} tells the visitor nothing"
            assert set(rule.notify) <= set(NOTICE_KINDS)
            for part in (rule.extension, rule.refusal):
                if part is not None:
                    assert part.source.strip()


def test_the_tables_say_what_the_law_says():
    gdpr, uk, pdpo, ccpa = (load_regime(k) for k in ("gdpr", "uk_gdpr", "pdpo", "ccpa"))
    assert gdpr.rule("access").answer == Period("months", 1)
    assert gdpr.rule("access").extension.period == Period("months", 2)
    assert gdpr.rule("access").extension.times == 1
    assert "12(3)" in gdpr.rule("access").answer_source
    assert "12(4)" in gdpr.rule("access").refusal.source
    assert not gdpr.pause_allowed and uk.pause_allowed and "12A" in uk.pause_source
    # uk_gdpr extends gdpr: the same clocks, its own pause and complaint route
    assert uk.rule("deletion").answer == gdpr.rule("deletion").answer
    assert "ICO" in uk.complaint_route["en"] or "Information Commissioner" in uk.complaint_route["en"]
    assert pdpo.rule("access").answer == Period("days", 40) and "s.19(1)" in pdpo.rule("access").answer_source
    assert pdpo.rule("correction").answer == Period("days", 40) and "s.23" in pdpo.rule("correction").answer_source
    assert pdpo.rule("access").extension.period is None  # s.19(2): as soon as practicable
    assert "s.21" in pdpo.rule("access").refusal.source and "s.27" in pdpo.rule("access").refusal.source
    assert pdpo.rule("marketing_optout").answer == Period("days", 0) and "35G" in pdpo.rule("marketing_optout").answer_source
    assert pdpo.rule("deletion").statutory is False  # no deletion right in the Ordinance
    assert "PCPD" in pdpo.complaint_route["en"]
    assert ccpa.rule("access").receipt == Period("business_days", 10)
    assert ccpa.rule("access").answer == Period("days", 45)
    assert ccpa.rule("access").extension.period == Period("days", 45) and ccpa.rule("access").extension.times == 1
    assert ccpa.rule("marketing_optout").answer == Period("business_days", 15)
    assert ccpa.rule("marketing_optout").receipt is None and ccpa.rule("marketing_optout").extension is None
    for key in ("gdpr", "pdpo", "ccpa"):
        assert load_regime(key).rule("marketing_optout").refusal is None


def test_rule_tables_are_yaml_files_beside_the_engine():
    for key in available_regimes():
        path = rules_module.TABLE_DIR / f"{key}.yml"
        text = path.read_text(encoding="utf-8")
        assert text.lstrip().startswith("#"), f"{path.name} opens with a comment saying what it is"
        assert "source:" in text


@pytest.mark.parametrize("breakage, message", [
    (lambda t: t["requests"].pop("export"), "missing"),
    (lambda t: t["requests"]["access"]["answer"].pop("source"), "source"),
    (lambda t: t["requests"]["access"]["answer"].update(days=40), "exactly one"),
    (lambda t: t["requests"]["access"]["answer"].update(months=-1), "amount"),
    (lambda t: t["requests"]["access"].update(deadline=3), "unknown keys"),
    (lambda t: t["requests"]["access"]["notify"].pop("extension"), "notify"),
    (lambda t: t["requests"]["access"]["extension"].update(times=0), "times"),
    (lambda t: t.update(last_day_moves_past=["saturday"]), "last_day_moves_past"),
    (lambda t: t["refusal_codes"].pop("exempt"), "refusal_codes"),
    (lambda t: t["pause"].update(allowed="yes"), "allowed"),
])
def test_a_broken_table_fails_on_load(breakage, message):
    table = rules_module._raw("gdpr")
    table = json.loads(json.dumps(table))  # a deep copy
    breakage(table)
    with pytest.raises(RulesError, match=message):
        rules_module._build("gdpr", table)


def test_an_unknown_regime_is_refused():
    with pytest.raises(UnknownRegime):
        load_regime("lgpd")
    with pytest.raises(UnknownRegime):
        load_regime("../ccpa")


# --- counting --------------------------------------------------------------------------

@pytest.mark.parametrize("start, months, end", [
    ("2026-01-31", 1, "2026-02-28"),  # 31 Jan -> last day of February
    ("2028-01-31", 1, "2028-02-29"),  # leap year
    ("2028-02-29", 1, "2028-03-29"),  # from 29 Feb: the same date next month
    ("2028-02-29", 12, "2029-02-28"),
    ("2026-03-31", 1, "2026-04-30"),  # 31 Mar -> 30 Apr
    ("2026-01-15", 1, "2026-02-15"),
    ("2026-12-15", 1, "2027-01-15"),  # across the year
    ("2026-11-30", 3, "2027-02-28"),
    ("2026-05-31", 0, "2026-05-31"),
])
def test_calendar_months_follow_the_ico(start, months, end):
    assert add_months(d(start), months) == d(end)


def test_negative_periods_are_refused():
    with pytest.raises(ValueError):
        add_months(d("2026-01-01"), -1)
    with pytest.raises(ValueError):
        add_business_days(d("2026-01-01"), -1)
    with pytest.raises(ValueError):
        Period("weeks", 2)


@pytest.mark.parametrize("start, count, end", [
    ("2026-12-04", 10, "2026-12-18"),  # Friday + 10 business days: two weeks on, a Friday
    ("2026-12-05", 10, "2026-12-18"),  # Saturday: counting starts on Monday
    ("2026-12-06", 10, "2026-12-18"),  # Sunday
    ("2026-12-07", 10, "2026-12-21"),  # Monday
    ("2026-12-07", 15, "2026-12-28"),
    ("2026-12-04", 1, "2026-12-07"),   # the next business day after a Friday is Monday
    ("2026-12-04", 0, "2026-12-04"),
])
def test_business_days_skip_weekends(start, count, end):
    assert add_business_days(d(start), count) == d(end)


def test_business_days_skip_holidays_when_given():
    assert add_business_days(d("2026-12-07"), 15, {d("2026-12-25")}) == d("2026-12-29")


def test_a_last_day_moves_past_the_days_its_regime_skips():
    saturday = d("2026-02-28")
    assert move_past(saturday, ("sat", "sun")) == d("2026-03-02")
    assert move_past(saturday, ("sun",)) == saturday
    assert move_past(d("2026-03-01"), ("sun",)) == d("2026-03-02")
    assert move_past(saturday, ()) == saturday
    assert move_past(d("2026-03-02"), ("sat", "sun"), {d("2026-03-02")}) == d("2026-03-03")
    assert move_past(saturday, (), {saturday}) == saturday  # a regime that never moves ignores holidays


def test_the_receipt_day_is_counted_in_each_regimes_offset():
    late = datetime(2026, 2, 1, 0, 30, tzinfo=UTC)  # 1 Feb 08:30 in Hong Kong, 31 Jan 23:30 in the Azores
    assert local_day(late, 8) == d("2026-02-01")
    assert local_day(late, -1) == d("2026-01-31")
    assert local_day(late.replace(tzinfo=None), 0) == d("2026-02-01")  # naive is UTC
    deadline = due_date(late, "access", DEFAULT)
    by = {r.regime: r for r in deadline.per_regime}
    assert by["gdpr"].due == d("2026-03-02")  # 31 Jan -> 28 Feb (Sat) -> Mon 2 Mar
    assert by["pdpo"].due == d("2026-03-13")  # 1 Feb + 40 days
    with pytest.raises(TypeError):
        local_day("2026-02-01")


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


# --- refusals --------------------------------------------------------------------------

@pytest.mark.parametrize("code", [None, "", "because", "Identity_Not_Proven"])
def test_a_refusal_needs_a_known_reason_code(code):
    with pytest.raises(RefusalRejected, match="reason code"):
        Clock.open("access", DEFAULT, at("2026-03-02")).refuse(at("2026-03-03"), "ann", code, "no proof of identity")


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_a_refusal_needs_free_text(reason):
    with pytest.raises(RefusalRejected, match="reasons"):
        Clock.open("access", DEFAULT, at("2026-03-02")).refuse(at("2026-03-03"), "ann", "exempt", reason)


def test_an_opt_out_cannot_be_refused():
    with pytest.raises(RefusalRejected, match="no ground"):
        Clock.open("marketing_optout", DEFAULT, at("2026-03-02")).refuse(at("2026-03-02"), "ann", "exempt", "why not")


def test_a_refusal_records_code_reason_and_the_notice_with_complaint_routes():
    clock = Clock.open("access", DEFAULT, at("2026-03-02")).pause(at("2026-03-03"), "ann", "Please send proof of identity")
    refused = clock.refuse(at("2026-03-20"), "ann", "identity_not_proven", "No proof of identity arrived")
    assert refused.state is ClockState.REFUSED and refused.state.status is RequestStatus.REJECTED
    last = refused.history[-1]
    assert (last.code, last.reason, last.actor) == ("identity_not_proven", "No proof of identity arrived", "ann")
    notice = [n for n in refused.deadline().notices if n.kind == "refusal"][0]
    assert notice.due == d("2026-04-02") and notice.pending
    assert {"reasons", "complaint_route:gdpr", "complaint_route:pdpo"} <= set(notice.must_include)
    assert any("12(4)" in s for s in notice.sources) and any("s.21" in s for s in notice.sources)
    grounds = dict(refusal_grounds(DEFAULT, "identity_not_proven"))
    assert "s.20(1)(a)" in grounds["pdpo"] and "12(6)" in grounds["gdpr"]
    routes = complaint_routes(DEFAULT, "zh-HK")
    assert any("私隱專員公署" in r for r in routes) and any("監管機構" in r for r in routes)
    assert any("PCPD" in r for r in complaint_routes(DEFAULT))


def test_a_late_refusal_is_told_the_same_day():
    late = Clock.open("access", ["gdpr"], at("2026-03-02")).refuse(at("2026-04-20"), "ann", "exempt", "Art. 23")
    assert [n.due for n in late.deadline().notices if n.kind == "refusal"] == [d("2026-04-20")]


# --- notices ---------------------------------------------------------------------------

def test_notices_are_pending_until_recorded_as_sent():
    clock = Clock.open("access", ["gdpr", "pdpo", "ccpa"], at("2026-03-02"))
    assert [n.kind for n in clock.deadline().notices_pending] == ["receipt"]
    clock = clock.notified(at("2026-03-02", 13), "assistant", "receipt")
    assert clock.deadline().notices_pending == ()
    clock = clock.extend(at("2026-03-20"), "ann", "complex")
    ext = [n for n in clock.deadline().notices_pending if n.kind == "extension"]
    # tell the visitor within the first month (the earliest window: GDPR's)
    assert ext and ext[0].due == d("2026-04-02") and {"reasons", "new_due"} <= set(ext[0].must_include)
    assert set(ext[0].regimes) == {"gdpr", "pdpo", "ccpa"}
    clock = clock.notified(at("2026-03-20", 13), "ann", "extension")
    assert clock.deadline().notices_pending == ()
    clock = clock.complete(at("2026-05-01"), "ann")
    assert [(n.kind, n.due) for n in clock.deadline().notices_pending] == [("completion", d("2026-05-01"))]


def test_a_notice_sent_before_an_event_does_not_count_for_it():
    clock = Clock.open("access", ["gdpr"], at("2026-03-02")).pause(at("2026-03-03"), "ann", "Which account?")
    clock = clock.notified(at("2026-03-03", 13), "ann", "question").resume(at("2026-03-05"), "visitor")
    clock = clock.pause(at("2026-03-06"), "ann", "And the other one?")
    assert [n.kind for n in clock.deadline().notices_pending] == ["question"]


def test_an_unknown_notice_is_refused():
    with pytest.raises(ClockError, match="unknown notice"):
        Clock.open("access", DEFAULT, at("2026-03-02")).notified(at("2026-03-02"), "ann", "postcard")


# --- the state machine -----------------------------------------------------------------

def _clock_in(state: ClockState) -> Clock:
    clock = Clock.open("access", DEFAULT, at("2026-03-02"))
    steps = {
        ClockState.RECEIVED: [],
        ClockState.IN_PROGRESS: [lambda c: c.start(at("2026-03-03"), "ann")],
        ClockState.WAITING_FOR_VISITOR: [lambda c: c.pause(at("2026-03-03"), "ann", "Which account?")],
        ClockState.COMPLETED: [lambda c: c.complete(at("2026-03-03"), "ann")],
        ClockState.REFUSED: [lambda c: c.refuse(at("2026-03-03"), "ann", "exempt", "Part 8")],
    }[state]
    for step in steps:
        clock = step(clock)
    assert clock.state is state
    return clock


_ACTIONS = {
    EventKind.STARTED: lambda c: c.start(at("2026-03-04"), "ann"),
    EventKind.PAUSED: lambda c: c.pause(at("2026-03-04"), "ann", "Which account?"),
    EventKind.RESUMED: lambda c: c.resume(at("2026-03-04"), "visitor"),
    EventKind.COMPLETED: lambda c: c.complete(at("2026-03-04"), "ann"),
    EventKind.REFUSED: lambda c: c.refuse(at("2026-03-04"), "ann", "exempt", "Part 8"),
    EventKind.EXTENDED: lambda c: c.extend(at("2026-03-04"), "ann", "complex"),
}


@pytest.mark.parametrize("state", list(ClockState))
@pytest.mark.parametrize("kind", list(_ACTIONS))
def test_every_transition_is_either_in_the_table_or_refused(state, kind):
    clock = _clock_in(state)
    legal = (state, kind) in TRANSITIONS or (kind is EventKind.EXTENDED and state.is_open)
    if legal:
        after = _ACTIONS[kind](clock)
        expected = state if kind is EventKind.EXTENDED else TRANSITIONS[(state, kind)]
        assert after.state is expected
        assert len(after.history) == len(clock.history) + 1
    else:
        with pytest.raises(IllegalTransition) as raised:
            _ACTIONS[kind](clock)
        assert state.value in str(raised.value)


def test_the_expected_paths_exist():
    assert TRANSITIONS[(ClockState.RECEIVED, EventKind.PAUSED)] is ClockState.WAITING_FOR_VISITOR
    assert TRANSITIONS[(ClockState.WAITING_FOR_VISITOR, EventKind.RESUMED)] is ClockState.IN_PROGRESS
    assert TRANSITIONS[(ClockState.IN_PROGRESS, EventKind.PAUSED)] is ClockState.WAITING_FOR_VISITOR
    assert (ClockState.WAITING_FOR_VISITOR, EventKind.COMPLETED) not in TRANSITIONS
    assert not any(s in (ClockState.COMPLETED, ClockState.REFUSED) for s, _ in TRANSITIONS)


def test_illegal_transitions_say_what_is_possible():
    with pytest.raises(IllegalTransition, match=r"cannot resume a request that is 'in_progress'; from 'in_progress' you can: pause, complete, refuse, extend"):
        _clock_in(ClockState.IN_PROGRESS).resume(at("2026-03-04"), "visitor")
    with pytest.raises(IllegalTransition, match="'completed' is final"):
        _clock_in(ClockState.COMPLETED).start(at("2026-03-04"), "ann")


def test_a_closed_clock_still_records_notices():
    done = _clock_in(ClockState.COMPLETED).notified(at("2026-03-04"), "assistant", "completion")
    assert done.state is ClockState.COMPLETED and done.deadline().notices_pending == ()


def test_events_cannot_go_back_in_time():
    clock = _clock_in(ClockState.IN_PROGRESS)
    with pytest.raises(ClockError, match="before the last one"):
        clock.pause(at("2026-03-02", 11), "ann", "Which account?")


def test_a_pause_needs_the_question():
    with pytest.raises(ClockError, match="question"):
        _clock_in(ClockState.IN_PROGRESS).pause(at("2026-03-04"), "ann", "  ")


def test_states_map_onto_the_visitor_statuses():
    assert {s: s.status for s in ClockState} == {
        ClockState.RECEIVED: RequestStatus.RECEIVED,
        ClockState.WAITING_FOR_VISITOR: RequestStatus.WAITING_FOR_YOU,
        ClockState.IN_PROGRESS: RequestStatus.IN_PROGRESS,
        ClockState.COMPLETED: RequestStatus.COMPLETED,
        ClockState.REFUSED: RequestStatus.REJECTED,
    }


def test_a_clock_is_immutable():
    clock = _clock_in(ClockState.RECEIVED)
    clock.start(at("2026-03-03"), "ann")
    assert clock.state is ClockState.RECEIVED and len(clock.history) == 1
    with pytest.raises(Exception):
        clock.history = ()


def test_a_clock_needs_a_known_request_type():
    with pytest.raises(ClockError):
        Clock.open("escalation", DEFAULT, at("2026-03-02"))


# --- the history as JSON ---------------------------------------------------------------

def _worked_clock() -> Clock:
    clock = Clock.open(RequestType.ACCESS, ["uk_gdpr", "pdpo", "ccpa"], at("2026-03-02"))
    clock = clock.notified(at("2026-03-02", 13), "assistant", "receipt")
    clock = clock.start(at("2026-03-03"), "Ann Lee").pause(at("2026-03-04"), "Ann Lee", "Which of your two accounts?")
    clock = clock.notified(at("2026-03-04", 13), "Ann Lee", "question").resume(at("2026-03-09"), "visitor", "replied by mail")
    clock = clock.extend(at("2026-03-20"), "Ann Lee", "Records in three systems, one archived")
    return clock.refuse(at("2026-03-25"), "Ann Lee", "manifestly_unfounded_or_excessive", "Fifth identical request this month: 你好")


def test_the_history_round_trips_through_json():
    clock = _worked_clock()
    text = clock.to_json()
    data = json.loads(text)
    assert data["version"] == 1 and data["request_type"] == "access"
    assert [e["kind"] for e in data["history"]] == [
        "received", "notified", "started", "paused", "notified", "resumed", "extended", "refused"]
    assert data["history"][-1]["code"] == "manifestly_unfounded_or_excessive"
    assert "你好" in text  # stored as written, not \u-escaped
    again = Clock.from_json(text)
    assert again == clock
    assert again.state is ClockState.REFUSED and again.due == clock.due
    assert again.deadline() == clock.deadline()
    assert again.to_json() == text


def test_every_event_says_kind_at_actor_reason_and_new_due():
    history = _worked_clock().history
    extended = [e for e in history if e.kind is EventKind.EXTENDED][0]
    assert extended.actor == "Ann Lee" and extended.reason.startswith("Records")
    assert extended.new_due is not None and extended.at == at("2026-03-20")
    assert all(e.new_due is not None for e in history)
    assert ClockEvent.from_dict(extended.to_dict()) == extended


def test_a_stored_history_the_rules_forbid_fails_on_load():
    data = _worked_clock().to_dict()
    second = dict(data["history"][6], at=at("2026-03-21").isoformat())
    data["history"].insert(7, second)  # a second extension
    with pytest.raises(ExtensionRefused):
        Clock.from_dict(data)


@pytest.mark.parametrize("tamper, error", [
    (lambda d: d.update(version=2), ClockError),
    (lambda d: d["history"].pop(0), ClockError),
    (lambda d: d["history"].append(dict(d["history"][0])), ClockError),
    (lambda d: d["history"][2].update(colour="red"), ValueError),
    (lambda d: d["history"][2].update(kind="teleported"), ValueError),
    (lambda d: d["history"][-1].update(code=None), RefusalRejected),
    (lambda d: d["history"].insert(3, {"kind": "completed", "at": at("2026-03-03").isoformat(), "actor": "x"}), IllegalTransition),
])
def test_a_damaged_history_fails_on_load(tamper, error):
    data = _worked_clock().to_dict()
    tamper(data)
    with pytest.raises(error):
        Clock.from_dict(data)


def test_naive_datetimes_are_read_as_utc():
    event = ClockEvent(EventKind.STARTED, datetime(2026, 3, 2, 12), "ann")
    assert event.at == at("2026-03-02")
    with pytest.raises(ValueError):
        ClockEvent(EventKind.STARTED, at("2026-03-02"), " ")


# --- which regimes apply ---------------------------------------------------------------

def test_regimes_from_the_setting():
    assert regimes_from_setting(None) == ("gdpr", "pdpo")
    assert regimes_from_setting("") == ("gdpr", "pdpo")
    assert regimes_from_setting(" PDPO, gdpr ,pdpo,") == ("pdpo", "gdpr")
    assert regimes_from_setting("uk_gdpr,pdpo") == ("uk_gdpr", "pdpo")
    with pytest.raises(UnknownRegime, match="gdrp"):
        regimes_from_setting("gdrp,pdpo")


def test_applicable_regimes_add_the_volunteered_ones():
    assert applicable_regimes(None, regimes_volunteered("I live in California")) == ("gdpr", "pdpo", "ccpa")
    assert applicable_regimes("gdpr,ccpa", {"ccpa"}) == ("gdpr", "ccpa")
    assert applicable_regimes(None, ()) == ("gdpr", "pdpo")
    with pytest.raises(UnknownRegime):
        applicable_regimes(None, {"mars"})


@pytest.mark.parametrize("text", [
    "I live in California",
    "i live in california.",
    "Please delete my data. I live in California and want it gone.",
    "Hi! I currently live in California",
    "I reside in the State of California",
    "I'm living in California now",
    "I’m a California resident",
    "I am a resident of California",
    "As a California resident, I want a copy of my data",
    "I live in San Diego, California",
    "I live in San Jose, CA.",
    "My home is in California",
    "我住喺加州",
    "我住在加州，想刪除我的資料",
    "我而家住喺美國加州",
    "我係加州居民",
    "我是加州的居民",
    "我在加州生活",
    "我住加利福尼亞州",
])
def test_california_residence_is_recognised(text):
    assert regimes_volunteered(text) == frozenset({"ccpa"})


@pytest.mark.parametrize("text", [
    "I visited California last year",
    "I lived in California until 2020",
    "I used to live in California",
    "I don't live in California",
    "I do not live in California",
    "I no longer live in California",
    "I'm not a California resident",
    "If I lived in California, would the CCPA apply?",
    "What if I live in California?",
    "Do I live in California? No, Hong Kong.",
    "My sister lives in California",
    "We are moving to California next month",
    "I'm planning to live in California",
    "I live in Hong Kong, California is where my sister lives",
    "I live in Hong Kong but I work for a California company",
    "Does the California law apply to me?",
    "I'm a Californian by birth but live in Hong Kong",
    "I'd love to live in California",
    "California",
    "",
    None,
    "我去過加州",
    "我以前住喺加州",
    "我唔住喺加州",
    "我不住在加州",
    "如果我住在加州，會點？",
    "我住喺加州嗎？",
    "我朋友住喺加州",
    "我曾經住在加州",
])
def test_other_mentions_of_california_are_not_residence(text):
    assert regimes_volunteered(text) == frozenset()


# --- dates for the visitor -------------------------------------------------------------

@pytest.mark.parametrize("day, en, zh", [
    ("2027-01-02", "2 January 2027", "2027年1月2日"),
    ("2026-12-31", "31 December 2026", "2026年12月31日"),
    ("2028-02-29", "29 February 2028", "2028年2月29日"),
])
def test_dates_for_the_visitor(day, en, zh):
    assert format_date(d(day)) == en
    assert format_date(d(day), "en") == en
    for lang in ("zh", "zh-HK", "zh_Hant", "yue"):
        assert format_date(d(day), lang) == zh
    assert format_date(d(day), "fr") == en  # the assistant's language
    assert format_date(datetime.fromisoformat(day + "T23:00:00"), "en") == en


def test_every_month_has_its_english_name():
    names = [format_date(date(2027, m, 1)).split()[1] for m in range(1, 13)]
    assert names == ["January", "February", "March", "April", "May", "June", "July",
                     "August", "September", "October", "November", "December"]
    with pytest.raises(TypeError):
        format_date("2027-01-02")


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
