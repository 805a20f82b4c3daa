"""The legal clocks (imago_core/requests/clocks): the rule tables per regime and request
type, and the counting of calendar months, days and business days. Pure: no database,
no servers. The due dates built on them are in test_legal_clocks_due_dates.py.

Weekdays of the dates used, so a reader can check the moves past weekends:
2025-02-28 Fri, 2026-02-28 Sat, 2026-03-02 Mon, 2026-04-02 Thu, 2026-04-16 Thu,
2026-05-31 Sun, 2026-12-04 Fri, 2026-12-18 Fri, 2026-12-28 Mon, 2028-02-29 Tue.
"""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from imago_core.requests.clocks import (
    NOTICE_KINDS,
    REFUSAL_CODES,
    REQUEST_TYPES,
    Period,
    RulesError,
    UnknownRegime,
    add_business_days,
    add_months,
    available_regimes,
    due_date,
    load_regime,
    local_day,
    move_past,
)
from imago_core.requests.clocks import rules as rules_module
from imago_core.vocabulary import RequestType
from tests.support.legal_clocks import DEFAULT, UTC, d


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
