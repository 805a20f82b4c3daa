"""The visitor's mails about their request: every language has every text, and each
notice names the reference and says what the law requires it to say."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from imago_core.requests.clocks import NOTICE_KINDS, REFUSAL_CODES, REQUEST_TYPES, Clock
from imago_core.requests.notices import LANGUAGES, compose, language_of, texts

AT = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


def keys(tree, prefix=""):
    out = set()
    for key, value in tree.items():
        out |= keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return out


def test_every_language_has_every_text():
    english = keys(texts("en"))
    for language in LANGUAGES:
        assert keys(texts(language)) == english, language
    assert set(texts("en")["mails"]) == set(NOTICE_KINDS)
    assert set(texts("en")["types"]) == set(REQUEST_TYPES)
    assert set(texts("en")["refusal_codes"]) == set(REFUSAL_CODES)


def clock_for(kind: str) -> Clock:
    clock = Clock.open("access", ("gdpr", "pdpo", "ccpa"), AT)
    if kind == "question":
        clock = clock.pause(AT, "staff:maria", "Which account?")
    elif kind == "extension":
        clock = clock.extend(AT, "staff:maria", "Three systems.")
    elif kind == "completion":
        clock = clock.complete(AT, "staff:maria")
    elif kind == "refusal":
        clock = clock.refuse(AT, "staff:maria", "exempt", "Legal hold.")
    return clock


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", NOTICE_KINDS)
def test_each_notice_names_the_reference_and_what_the_law_requires(language, kind):
    clock = clock_for(kind)
    subject, body = compose(kind, "PRV-7K3M9Q", "access", clock, language)
    assert "PRV-7K3M9Q" in subject and "PRV-7K3M9Q" in body and "{" not in subject + body
    if kind == "question":
        assert "Which account?" in body
    if kind == "extension":  # the reasons and the new date (GDPR Art. 12(3), PDPO s.19(2), CCPA §7021(b))
        assert "Three systems." in body and str(clock.due.year) in body
    if kind == "refusal":  # the reasons and where to complain (GDPR Art. 12(4), PDPO s.21)
        assert "Legal hold." in body and ("PCPD" in body or "私隱公署" in body)
        assert ("supervisory authority" in body) or ("監管機構" in body)


def test_language_codes_fall_back_to_english():
    assert [language_of(v) for v in ("zh-HK", "zh_Hant", "yue", "zh-Hans", "zh-CN", "en-GB", "fr", None)] == \
        ["zh-Hant", "zh-Hant", "zh-Hant", "zh-Hans", "zh-Hans", "en", "en", "en"]
