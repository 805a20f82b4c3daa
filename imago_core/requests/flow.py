"""Reading what a visitor's message means for a request under way (no Rasa here).

The classifier gives one intent per message; people say more than one thing. These
helpers read the text itself for what the intent cannot carry: every request type
named in one message ("delete my data and stop the marketing emails"), a type that
is negated ("don't delete anything"), whether a new type replaces or adds to the
current ones, "change the email"/"change the details", and complaint words hidden
behind a greeting.
"""
from __future__ import annotations

import re
from typing import Iterable, List, Optional, Sequence

from imago_core.storage.models import RequestType

# Words that name each request type. Order in the message decides the order filed.
_TYPE_PATTERNS = {
    # "you still email me" after an opt-out or a deletion: the mail is what must stop.
    RequestType.MARKETING_OPTOUT: r"marketing|mailing list|newsletters?|promotional|promotions?|unsubscribe|opt(?:\s|-)?(?:me\s)?out"
                                  r"|(?:stop|no more)\s+(?:\w+\s+){0,3}(?:e-?mails|mails|messages|spam)"
                                  r"|still\s+(?:\w+\s+){0,2}(?:e-?mail(?:s|ing)?|mail(?:s|ing)?|spam\w*)\b(?:\s+me\b)?",
    RequestType.EXPORT: r"export|portab\w*|machine[- ]readable|download\w*|transfer (?:my|all) (?:data|information)"
                        r"|\bcsv\b|\bjson\b",
    RequestType.DELETION: r"delet\w*|eras\w*|wipe\w*|forget (?:me|about me)|be forgotten|close my account"
                          r"|(?:remove|get rid of) (?:all |everything|my (?:data|info\w*|account|personal))",
    # "wrong" alone is also how people complain ("what is wrong with your company"): it
    # names a correction only next to something a record holds.
    RequestType.CORRECTION: r"correct(?!ly)\w*|rectif\w*|fix\w*|incorrect|misspel\w*|out of date|outdated|update my"
                            r"|wrong (?:name|surname|address|e-?mail|phone|number|date|birthday|data|info\w*|details?"
                            r"|spelling|record)|(?:name|surname|address|e-?mail|phone|number|birthday|date of birth|data"
                            r"|info\w*|details?|record\w*|it|that|this) (?:\w+ ){0,2}(?:is|are|was|were|looks?) (?:\w+ )?wrong",
    RequestType.ACCESS: r"\bcopy\b|\baccess\b|what (?:(?:personal )?(?:data|info\w*) )?(?:do )?you (?:have|hold|keep|store)"
                        r"|see my data"
                        r"|see (?:all )?(?:the )?(?:personal )?(?:data|info\w*) you",
}
_TYPE_RES = {kind: re.compile(rf"\b(?:{pattern})", re.I) for kind, pattern in _TYPE_PATTERNS.items()}
# "don't delete anything", "no need to export", "I do NOT want you to delete", "forget
# correcting it": the type is excluded. A verb's negation reaches back up to five
# words, a bare "no" or "without" two ("no i want you to delete it" asks for it),
# and neither crosses a clause ("I don't know how, but delete it").
_NEGATION = re.compile(r"(?:\b(?:don'?t|do not|doesn'?t|does not|not|no need to|never|forget(?: about)?|skip|scrap"
                       r"|drop)\s+(?:\w+\s+){0,5}|\b(?:no|without|rather than|instead of)\s+(?:\w+\s+){0,2})$", re.I)
_CLAUSE_BREAK = re.compile(r"[,.;:!?()]|\b(?:but|and|so|then|please|just|instead|rather)\b", re.I)
_REPLACE_CUES = re.compile(r"\b(?:instead|rather|actually|switch|change (?:it|that|this|the request)|just|only)\b", re.I)
_ADD_CUES = re.compile(r"\b(?:also|as well|too|in addition|additionally|plus|and then|another)\b", re.I)

_CHANGE_EMAIL = re.compile(
    r"\b(?:change|fix|correct|update|use|wrong|different|another|new|other)\b.{0,30}\b(?:e-?mail|address)\b"
    r"|\b(?:e-?mail|address)\b.{0,20}\b(?:is wrong|was wrong|typo|mistake|incorrect|change)"
    r"|\b(?:typo|mistake|error)\b.{0,20}\b(?:e-?mail|address)\b", re.I)
_CHANGE_DETAILS = re.compile(
    r"\b(?:change|fix|correct|update|edit|redo|rewrite)\b.{0,30}\b(?:details?|description|what i (?:said|wrote)|text)\b"
    r"|\b(?:details?|description)\b.{0,20}\b(?:is wrong|are wrong|typo|mistake|incorrect)"
    r"|\b(?:typo|mistake|error)\b.{0,20}\b(?:details?|description)\b", re.I)

_COMPLAINT = re.compile(
    r"\bcomplain\w*|\bcomplaint|\bunhappy with\b|\bnot happy with\b|\bdisgust\w*|\bfurious\b|\boutrage\w*"
    r"|\bviolat\w*|\breport(?:ing)? you\b|\blawyer\b|\bsu(?:e|ing) you\b|\bleak\w*|\bhack\w*"
    r"|\bunacceptable\b|\bmishandl\w*|\babus\w* (?:of )?my data|\bterrible\b|\bawful\b|\bappalling\b"
    r"|\bdisappoint\w*|\bangry\b|\bupset\b|\bscandal\w*|\bwtf\b|\buseless\b|\bridiculous\b|\bpathetic\b"
    r"|\brubbish\b|\bfed up\b|\bsick of\b|\bworst\b|\bshameful\b"
    # Complaints about how an earlier request or the visitor's data was handled:
    # "I asked you to delete my data last month and you still email me. this is illegal".
    r"|\bunhappy\b|\bnot happy\b|\billegal\w*|\bunlawful\w*|\bagainst the law\b|\bbreach of\b"
    r"|\bstill (?:get(?:ting)?|receiv\w*|send\w*|e-?mail\w*|spam\w*|contact\w*|messag\w*|call\w*|have(?:n'?t)?"
    r"|hav(?:e|ing) my|keep\w* my|not (?:done|deleted|heard|received))\b"
    r"|\bnever (?:heard|got|received|replied|answered|responded)\b|\bno (?:reply|response|answer) (?:yet|from|after)"
    r"|\bignor(?:ed|ing) (?:me|my)\b|\byou (?:promised|said you would)\b", re.I)
_ASKS_FOR_PERSON = re.compile(
    r"\b(?:human|real person|a person|someone (?:real|from)|somebody|an agent|a manager|your manager|staff member"
    r"|customer service|support team|privacy team)\b", re.I)
_MARKUP = re.compile(r"<[^>]{0,200}>|&[a-z]{2,6};|[*_`~]{1,3}")


def _negated(text: str, start: int) -> bool:
    """Whether the words just before `start`, in the same clause, negate what follows."""
    before = text[max(0, start - 60):start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end():]
    return bool(_NEGATION.search(before))


def _first_mentions(text: str, negated: bool) -> List[tuple]:
    """(position, type) of each type's first mention that is (or is not) negated."""
    found = []
    for kind, pattern in _TYPE_RES.items():
        for match in pattern.finditer(text or ""):
            if _negated(text, match.start()) is negated:
                found.append((match.start(), kind))
                break
    return found


def requested_types(text: str) -> List[RequestType]:
    """Every request type the message asks for, in the order named, minus negated ones."""
    return [kind for _, kind in sorted(_first_mentions(text, negated=False), key=lambda pair: pair[0])]


def negated_types(text: str) -> List[RequestType]:
    return [kind for _, kind in _first_mentions(text, negated=True)]


def types_for_start(text: str, intent_type: Optional[RequestType]) -> List[RequestType]:
    """What a message that starts a request asks for: the types it names, and the
    classifier's type when the words didn't name it (and didn't negate it)."""
    types = requested_types(text)
    if intent_type is not None and intent_type not in types and intent_type not in negated_types(text):
        types.insert(0, intent_type)
    return types


def merge_types(current: Sequence[RequestType], new: Sequence[RequestType], text: str) -> List[RequestType]:
    """The types after a mid-request message asking for `new`: replaced ("actually,
    just export instead"), unless the message adds ("and also opt me out")."""
    negated = set(negated_types(text))
    if _ADD_CUES.search(text or "") and not _REPLACE_CUES.search(text or ""):
        merged = [kind for kind in current if kind not in negated]
        merged += [kind for kind in new if kind not in merged]
        return merged
    return list(new) or [kind for kind in current if kind not in negated]


def wants_email_change(text: str) -> bool:
    return bool(_CHANGE_EMAIL.search(text or ""))


def wants_details_change(text: str) -> bool:
    return bool(_CHANGE_DETAILS.search(text or ""))


def without_markup(text: str) -> str:
    return " ".join(_MARKUP.sub(" ", text or "").split())


def sounds_like_complaint(text: str) -> bool:
    """Complaint words anywhere in the message, whatever greeting or markup surrounds them."""
    return bool(_COMPLAINT.search(without_markup(text)))


def asks_for_person(text: str) -> bool:
    """A person is asked for in words ("just get me a human"), whatever the classifier made of it."""
    return bool(_ASKS_FOR_PERSON.search(without_markup(text)))


def labels(types: Iterable[RequestType]) -> str:
    """"deletion and marketing opt-out" / "access, deletion and export"."""
    names = [kind.short for kind in types]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
