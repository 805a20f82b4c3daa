"""Which regimes' clocks apply to a request: the deployment's setting, plus any the visitor
volunteers in the conversation ("I live in California").

The reader is deliberately narrow. Adding CCPA to a request only ever adds clocks (an
earliest date can only come sooner, and a receipt confirmation is owed), so a miss costs
little: the default regimes still bind, and the team can add CCPA by hand. A false
positive costs more: a receipt mail and California wording sent to someone the law does
not cover, telling them of rights they do not have. So only a present-tense statement of
the visitor's own residence counts: "I live in California", "I'm a California resident",
"我住喺加州". Visiting, having lived, planning to live, someone else living there, a
question or a condition ("if I lived in California") do not.
"""
from __future__ import annotations

import re
from typing import FrozenSet, Iterable, Optional, Tuple

from .rules import UnknownRegime, available_regimes

DEFAULT_REGIMES = "gdpr,pdpo"  # the policy's "Governing law": Hong Kong's PDPO and the GDPR


def regimes_from_setting(value: Optional[str] = None) -> Tuple[str, ...]:
    """The regimes a comma list names ("gdpr,pdpo"), in order, without repeats. Empty or
    None gives the default. An unknown name raises UnknownRegime: a typo in the setting
    must not silently drop a law's clock."""
    if value is None or not value.strip():
        value = DEFAULT_REGIMES
    names = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    known = available_regimes()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownRegime(f"unknown regime(s) {', '.join(unknown)} in the setting; known: {', '.join(known)}")
    return names


def applicable_regimes(setting: Optional[str] = None, volunteered: Iterable[str] = ()) -> Tuple[str, ...]:
    """The setting's regimes followed by the volunteered ones not already there."""
    names = list(regimes_from_setting(setting))
    for name in volunteered:
        if name not in names:
            names.append(name)
    return tuple(regimes_from_setting(",".join(names)))


_APOS = "['’]"
_NOW = r"(?:(?:currently|now|still|actually|really|also)\s+)?"
_PLACE = r"(?:the\s+(?:us\s+)?state\s+of\s+)?(?:california\b|calif\.)"
# "I live in San Diego, California" / "..., CA" only at the end of a clause: "I live in Hong
# Kong, California is where my sister lives" must not count.
_CITY = r"(?:[a-z]+(?:\s+[a-z]+){0,2}),\s*(?:california|calif\.|ca)(?=\s*(?:$|[.!?;,)]))"
_WHERE = "(?:" + _CITY + "|" + _PLACE + ")"
_I_AM = r"\bi(?:" + _APOS + r"m|\s+am)\s+" + _NOW
_EN = re.compile("|".join((
    r"\bi\s+(?:do\s+)?" + _NOW + r"(?:live|reside)\s+in\s+" + _WHERE,
    _I_AM + r"(?:living|residing)\s+in\s+" + _WHERE,
    _I_AM + r"an?\s+(?:california|calif\.)\s+(?:resident|consumer)\b",
    _I_AM + r"an?\s+resident\s+of\s+" + _PLACE,
    r"\bas\s+an?\s+(?:california|calif\.)\s+(?:resident|consumer)\b",
    r"\bmy\s+(?:home|residence)\s+is\s+in\s+" + _PLACE,
)), re.IGNORECASE)
# Words that, earlier in the same clause, make the statement a condition, a question, a
# wish or a negation. ("I'm a Californian" is left out on purpose: it often means origin.)
_EN_UNSURE = re.compile(
    r"\b(?:if|whether|unless|suppose|supposing|imagine|assuming|assume|say|pretend|wish|hope|"
    r"plan|planning|going|might|may|would|could|should|do|does|did|not|never|no\s+longer|"
    r"when|once|before|after)\b|n" + _APOS + r"t\b",
    re.IGNORECASE,
)

_ZH_PLACE = r"(?:美國|美国)?(?:加州|加利福尼亞州?|加利福尼亚州?)"
_ZH_NOW = r"(?:而家|宜家|依家|現在|现在|目前|現時|现时)?"
_ZH = re.compile(
    r"我" + _ZH_NOW + r"(?:住|居住)(?:喺|在|於|于)?" + _ZH_PLACE
    + r"|我" + _ZH_NOW + r"(?:喺|在)" + _ZH_PLACE + r"(?:住|居住|生活)"
    + r"|我(?:係|是)(?:一[個个名位])?" + _ZH_PLACE + r"(?:嘅|的)?居民"
)
# 如果/假如 (if), 係咪/是不是 (is it that ...?) earlier in the clause; 嗎/吗/咩 (a question)
# right after. 唔/不/以前 need no list: they sit between 我 and 住 and the pattern fails.
_ZH_UNSURE_BEFORE = re.compile(r"如果|假如|假設|假设|要是|若果|若|係咪|是不是|是否|會唔會|会不会")
_ZH_UNSURE_AFTER = re.compile(r"^\s*(?:嗎|吗|咩|呢|\?|？)")

_CLAUSE = re.compile(r"[.!?;\n。！？；]|,\s*(?:but|and|so)\b|，")


def _clauses(text: str):
    start = 0
    for match in _CLAUSE.finditer(text):
        yield text[start:match.start()], text[match.start():]
        start = match.end()
    yield text[start:], ""


def regimes_volunteered(text: Optional[str]) -> FrozenSet[str]:
    """The regimes a visitor's own words put them under; today only CCPA ("ccpa")."""
    if not text:
        return frozenset()
    for clause, rest in _clauses(text):
        for match in _EN.finditer(clause):
            if not _EN_UNSURE.search(clause[:match.start()]):
                return frozenset({"ccpa"})
        for match in _ZH.finditer(clause):
            after = clause[match.end():] + rest[:1]
            if not _ZH_UNSURE_BEFORE.search(clause[:match.start()]) and not _ZH_UNSURE_AFTER.match(after):
                return frozenset({"ccpa"})
    return frozenset()
