"""Answer or ask? The choice after the classifier has ranked the intents.

Rasa-free, so it can be tested (and evaluated) without a tracker. Rules:
- one section clearly best (confident enough, and well ahead of the runner-up):
  answer it, and offer the runner-up as "Also see";
- a genuine tie between two sections: the policy search (BM25) may break it; if it
  can't, ask "did you mean";
- nothing fits: ask, and a second miss in a row offers a person (the action does that);
- the likeliest reading is "the policy doesn't say" or off-topic: say so, link nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from imago_core.policy.catalogue import Catalogue
from imago_core.policy.search import STOPWORDS, PolicySearch

FALLBACK_INTENT = "nlu_fallback"
SILENT_INTENT = "policy_silent"
OUT_OF_SCOPE_INTENT = "out_of_scope"

# Below the FallbackClassifier's threshold the top intent is still answered when it
# has at least this confidence and leads the runner-up by this factor.
ANSWER_MIN_CONFIDENCE = 0.15
CLEAR_LEAD_RATIO = 1.1
# A runner-up section worth an "Also see" button.
ALSO_SEE_MIN_CONFIDENCE = 0.05
# The likeliest topics offered when asking.
ASK_MIN_CONFIDENCE = 0.08
MAX_CANDIDATES = 3


# Subjects the policy never mentions. A question about one of them gets "the policy
# doesn't say" even when the classifier leans to a section, unless it is nearly
# certain: "what will you do with my DNA" is not answered by the purposes section.
# Words only, never phrasings of test questions; keep them narrow (precision first).
NEVER_MENTIONED = re.compile(
    r"\b(dna|genetic|medical|health|heart rate|blood pressure|insurance rates?"
    r"|camera|webcam|microphone"
    # Also never in the policy text (checked word by word), and the subject of the
    # question whenever named: AI, biometrics, named officers, certifications and other
    # laws, Do Not Track, breach notification, screen sharing. Not children: a question
    # can name a child and ask what the policy does answer ("my son's school runs the
    # class: who controls his data?"), so the classifier decides there.
    r"|age limit|minimum age|how old do you have to be"
    r"|ai|a\.i\.|artificial intelligence|machine learning|chat ?gpt|llms?|train(?:s|ed|ing)? (?:an? |your |the |its )?(?:ai|models?)"
    r"|biometrics?|fingerprints?|facial recognition|face recognition"
    r"|dpo|data protection officer|privacy officer"
    r"|iso ?27001|soc ?2|hipaa|ferpa|coppa|ccpa|california"
    r"|do not track|dnt"
    r"|breach notifications?|notify (?:me|users|us|you)\b.{0,30}\bbreach(?:es)?"
    r"|screen ?shar\w*|share (?:my|the) screen"
    r"|cost|costs|price|prices|pricing|fees?|subscription|paid plan|for free|is it free|the app free"
    r"|need to pay|have to pay"
    r"|malware|virus"
    r"|(ever|past|before|previously)\b.{0,40}\b(hacked|breach(es)?|leak(ed|s)?|stolen|compromised)"
    r"|(hacked|breach(es)?|leak(ed|s)?|stolen|compromised)\b.{0,25}\b(before|in the past|previously))\b",
    re.I,
)
SILENT_OVERRIDE_BELOW = 0.9
# "The policy doesn't say" is the catch-all reading, so it must win clearly: when
# a section comes close (at least this share of the silent reading's confidence),
# the section is answered, since the policy may well cover the question after all.
SILENT_YIELD_RATIO = 0.6


def section_close_to_silent(text: str, ranking: Sequence[Dict[str, Any]], catalogue: Catalogue) -> Optional[str]:
    """When the top reading is "the policy doesn't say" but a section is close
    behind (and the subject is not one the policy never mentions), that section."""
    entries = ranked(ranking)
    if not entries or entries[0].get("name") != SILENT_INTENT or NEVER_MENTIONED.search(text or ""):
        return None
    silent_confidence = entries[0].get("confidence", 0.0)
    for entry in entries[1:]:
        topic = catalogue.by_intent(entry.get("name"))
        if topic:
            close = entry.get("confidence", 0.0) >= SILENT_YIELD_RATIO * silent_confidence
            return topic.id if close else None
    return None


def never_mentioned(text: str, top_confidence: float) -> bool:
    """Whether the question is about a subject the policy never mentions."""
    return top_confidence < SILENT_OVERRIDE_BELOW and bool(NEVER_MENTIONED.search(text or ""))


# A question the policy spreads over two sections gets both (the second short) when
# the classifier's runner-up section has at least this share of the leader's
# confidence, and this much confidence of its own: a near tie between neighbours
# (data collected vs collected automatically, sharing vs data collected) is honest
# to answer with both, not to guess one of.
TWO_SECTIONS_RATIO = 0.5
TWO_SECTIONS_MIN_CONFIDENCE = 0.15


def close_second_section(ranking: Sequence[Dict[str, Any]], catalogue: Catalogue, first: str) -> Optional[str]:
    """The runner-up section when it is nearly as likely as the answered one `first`
    (which must be the classifier's leader), else None."""
    entries = ranked(ranking)
    if not entries or catalogue.by_intent(entries[0].get("name")) is None \
            or catalogue.by_intent(entries[0].get("name")).id != first or len(entries) < 2:
        return None
    top, second = entries[0].get("confidence", 0.0), entries[1]
    topic = catalogue.by_intent(second.get("name"))
    confidence = second.get("confidence", 0.0)
    if topic and confidence >= TWO_SECTIONS_MIN_CONFIDENCE and confidence >= TWO_SECTIONS_RATIO * top:
        return topic.id
    return None


@dataclass
class Decision:
    kind: str  # "answer", "silent", "out_of_scope" or "ask"
    topic: Optional[str] = None  # the section answered ("answer")
    second: Optional[str] = None  # a second section the question spreads over ("answer", short)
    also_see: Optional[str] = None  # the runner-up section ("answer")
    candidates: List[str] = field(default_factory=list)  # sections offered ("ask")


def ranked(ranking: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The classifier's ranking without the fallback pseudo-intent, best first."""
    entries = [r for r in ranking if r.get("name") != FALLBACK_INTENT]
    return sorted(entries, key=lambda r: r.get("confidence", 0.0), reverse=True)


def runner_up(ranking: Sequence[Dict[str, Any]], catalogue: Catalogue, exclude: str) -> Optional[str]:
    """The second-best policy section, if the classifier gives it some weight."""
    for entry in ranked(ranking):
        topic = catalogue.by_intent(entry.get("name"))
        if topic and topic.id != exclude:
            return topic.id if entry.get("confidence", 0.0) >= ALSO_SEE_MIN_CONFIDENCE else None
    return None


# Words that point at something without naming it. A message made of nothing else
# ("the thing with the stuff from before") names no subject, however confident the
# classifier is: it is asked about, never answered.
VAGUE_WORDS = frozenset(
    """thing things stuff something anything everything whatever one ones earlier said mentioned
    question questions bit part lot matter point same other""".split()  # never "information", "data"
)


def names_no_subject(text: str) -> bool:
    """True when the message has no word beyond function words and vague pointers
    (only Latin letters count: other scripts are left to the classifier)."""
    words = re.findall(r"[a-z]+", text.lower())
    if not words or re.search(r"[^\x00-\x7f]", text):
        return False
    return all(word in STOPWORDS or word in VAGUE_WORDS or len(word) < 3 for word in words)


def decide(text: str, ranking: Sequence[Dict[str, Any]], catalogue: Catalogue, search: PolicySearch) -> Decision:
    """What to do with a message the FallbackClassifier was unsure about."""
    entries = ranked(ranking)
    if names_no_subject(text):
        return Decision("ask", candidates=candidates_for(text, ranking, catalogue, search))
    if not entries:
        return Decision("ask", candidates=candidates_for(text, ranking, catalogue, search))
    top = entries[0]
    top_confidence = top.get("confidence", 0.0)
    second_confidence = entries[1].get("confidence", 0.0) if len(entries) > 1 else 0.0
    clear = top_confidence >= ANSWER_MIN_CONFIDENCE and top_confidence >= CLEAR_LEAD_RATIO * second_confidence
    name = top.get("name")
    topic = catalogue.by_intent(name)
    if (topic or name == SILENT_INTENT) and never_mentioned(text, top_confidence):
        return Decision("silent")
    close_section = section_close_to_silent(text, ranking, catalogue)
    if close_section:
        return Decision("answer", topic=close_section, also_see=runner_up(ranking, catalogue, close_section))
    if clear and name == SILENT_INTENT:
        return Decision("silent")
    if clear and name == OUT_OF_SCOPE_INTENT:
        return Decision("out_of_scope")
    if clear and topic:
        return Decision("answer", topic=topic.id, also_see=runner_up(ranking, catalogue, topic.id),
                        second=close_second_section(ranking, catalogue, topic.id))
    if topic and top_confidence >= ANSWER_MIN_CONFIDENCE and len(entries) > 1:
        # Two readings close together: when the policy search puts one of them first,
        # that one is the answer and the other the "Also see"; when it only ranks them
        # lower, both sections are answered (the second short) instead of asking.
        other = catalogue.by_intent(entries[1].get("name"))
        if other:
            found = search.top(text, limit=1)
            if found and found[0] in (topic.id, other.id):
                best, rest = (topic.id, other.id) if found[0] == topic.id else (other.id, topic.id)
                return Decision("answer", topic=best, also_see=rest, second=close_second_section(
                    ranking, catalogue, best) if best == topic.id else topic.id)
            # Some word of the question must point at one of them ("hmm" points at none).
            if entries[1].get("confidence", 0.0) >= TWO_SECTIONS_MIN_CONFIDENCE \
                    and {topic.id, other.id} & set(search.top(text, limit=MAX_CANDIDATES)):
                return Decision("answer", topic=topic.id, second=other.id)
    return Decision("ask", candidates=candidates_for(text, ranking, catalogue, search))


def candidates_for(text: str, ranking: Sequence[Dict[str, Any]], catalogue: Catalogue,
                   search: PolicySearch) -> List[str]:
    """Up to three sections: the classifier's likeliest, then what the search finds."""
    chosen: List[str] = []
    for entry in ranked(ranking):
        topic = catalogue.by_intent(entry.get("name"))
        if topic and entry.get("confidence", 0.0) >= ASK_MIN_CONFIDENCE:
            chosen.append(topic.id)
        if len(chosen) == 2:
            break
    for topic_id in search.top(text, limit=MAX_CANDIDATES):
        if len(chosen) >= MAX_CANDIDATES:
            break
        if topic_id not in chosen:
            chosen.append(topic_id)
    return chosen[:MAX_CANDIDATES]
