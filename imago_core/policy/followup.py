"""Short follow-up questions ("and how long?", "with whom exactly?", "what about
cookies?") read against the policy topic just discussed. No Rasa here."""
from __future__ import annotations

import re
from typing import Optional, Sequence

from imago_core.policy import get_catalogue
from imago_core.policy.search import get_search

# The aspect a follow-up asks about -> the topic that answers it.
_ASPECTS = [
    (r"how long|until when|for how much time|keep|kept|retain|retention|store|stored", "retention"),
    (r"\bwhom\b|\bwho\b|share|shared|third[- ]part|partners?|disclose", "sharing"),
    (r"\bsell|\bsold|\bsale", "data-sale"),
    (r"\bwhere\b|which countr|abroad|overseas|outside|transfer", "international-transfers"),
    (r"protect|secure|security|safe|encrypt", "security"),
    (r"\bwhy\b|what for|purpose|what do you (?:do|use)|use it|used for", "purposes"),
    (r"how do you (?:get|collect)|from where|where do you get|sources?", "how-collected"),
    (r"\brights?\b|delete|erase|access it|see it", "your-rights"),
    (r"what (?:data|info|information|kind)|which data", "data-collected"),
    (r"contact|email you|reach you", "contact"),
]
_ASPECT_RES = [(re.compile(pattern, re.I), topic) for pattern, topic in _ASPECTS]
_WHAT_ABOUT = re.compile(r"\b(?:what|how) about\b\s*(.+)", re.I)
MIN_NAMED_SCORE = 3.5  # "what about that one thing" names no topic; "what about cookies" does
_LINKED_TOPIC = re.compile(r"#([a-z-]+)\)")


def last_topic(bot_texts: Sequence[str]) -> Optional[str]:
    """The topic of the latest policy answer (its section link), newest first."""
    catalogue = get_catalogue()
    for text in bot_texts:
        for topic_id in reversed(_LINKED_TOPIC.findall(text or "")):
            if catalogue.by_id(topic_id):
                return topic_id
    return None


def resolve(text: str, previous: Optional[str]) -> Optional[str]:
    """The topic a follow-up asks about, or None when it can't be told."""
    named = _WHAT_ABOUT.search(text or "")
    if named:
        found = get_search().top(named.group(1), limit=1)
        if found:
            return found[0]
    for pattern, topic in _ASPECT_RES:
        if pattern.search(text or "") and topic != previous:
            return topic
    found = get_search().top(text or "", limit=1)
    return found[0] if found else previous


def elliptical_follow_up(text: str, previous: Optional[str]) -> Optional[str]:
    """For a message the classifier wasn't sure of: the topic, when it is a short
    follow-up to a policy answer that names an aspect ("and how long?"), else None."""
    if previous is None or len((text or "").split()) > 6:
        return None
    named = _WHAT_ABOUT.search(text)
    if named:
        scores = get_search().scores(named.group(1))
        return scores[0][0] if scores and scores[0][1] >= MIN_NAMED_SCORE else None
    return next((topic for pattern, topic in _ASPECT_RES if pattern.search(text) and topic != previous), None)
