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

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from actions.policy.catalogue import Catalogue
from actions.policy.search import PolicySearch

FALLBACK_INTENT = "nlu_fallback"
SILENT_INTENT = "policy_silent"
OUT_OF_SCOPE_INTENT = "out_of_scope"

# Below the FallbackClassifier's threshold the top intent is still answered when it
# has at least this confidence and leads the runner-up by this factor.
ANSWER_MIN_CONFIDENCE = 0.2
CLEAR_LEAD_RATIO = 1.6
# A runner-up section worth an "Also see" button.
ALSO_SEE_MIN_CONFIDENCE = 0.05
# The likeliest topics offered when asking.
ASK_MIN_CONFIDENCE = 0.08
MAX_CANDIDATES = 3


@dataclass
class Decision:
    kind: str  # "answer", "silent", "out_of_scope" or "ask"
    topic: Optional[str] = None  # the section answered ("answer")
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


def decide(text: str, ranking: Sequence[Dict[str, Any]], catalogue: Catalogue, search: PolicySearch) -> Decision:
    """What to do with a message the FallbackClassifier was unsure about."""
    entries = ranked(ranking)
    if not entries:
        return Decision("ask", candidates=candidates_for(text, ranking, catalogue, search))
    top = entries[0]
    top_confidence = top.get("confidence", 0.0)
    second_confidence = entries[1].get("confidence", 0.0) if len(entries) > 1 else 0.0
    clear = top_confidence >= ANSWER_MIN_CONFIDENCE and top_confidence >= CLEAR_LEAD_RATIO * second_confidence
    name = top.get("name")
    topic = catalogue.by_intent(name)
    if clear and name == SILENT_INTENT:
        return Decision("silent")
    if clear and name == OUT_OF_SCOPE_INTENT:
        return Decision("out_of_scope")
    if clear and topic:
        return Decision("answer", topic=topic.id, also_see=runner_up(ranking, catalogue, topic.id))
    if topic and top_confidence >= ANSWER_MIN_CONFIDENCE and len(entries) > 1:
        # Two readings close together: when the policy search agrees with one of
        # them, that one is the answer and the other the "Also see".
        other = catalogue.by_intent(entries[1].get("name"))
        if other:
            found = search.top(text, limit=1)
            if found and found[0] in (topic.id, other.id):
                best, rest = (topic.id, other.id) if found[0] == topic.id else (other.id, topic.id)
                return Decision("answer", topic=best, also_see=rest)
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
