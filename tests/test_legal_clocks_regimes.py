"""The legal clocks (imago_core/requests/clocks): which regimes apply (the setting, and
California residence volunteered by the visitor) and dates written for the visitor.
Pure: no database, no servers.
"""
from __future__ import annotations

from datetime import date, datetime

import pytest

from imago_core.requests.clocks import (
    UnknownRegime,
    applicable_regimes,
    format_date,
    regimes_from_setting,
    regimes_volunteered,
)
from tests.support.legal_clocks import d


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
