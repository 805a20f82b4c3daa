"""Privacy questions about IMAGO's own products (no Rasa here).

IMAGO sells video collaboration and smart-classroom products, so "what do you do
with my webcam video?", "who sees the chat logs of my class?" or "does your AI
listen to my calls?" are questions about personal data, whatever the classifier
made of them: they get the section that applies, or "the policy doesn't say" with
a person, never "I can only help with the privacy policy".

A product word alone is not enough ("my webcam doesn't work" is technical support):
it takes a product word and a word about data or what is done with it.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Optional, Sequence

from imago_core.policy.catalogue import Catalogue
from imago_core.policy.search import PolicySearch
from imago_core.policy.triage import NEVER_MENTIONED, ranked

_PRODUCT = re.compile(
    r"\b(?:cameras?|webcams?|web cam|microphones?|mics?|recordings?|recorded|records? (?:my|our|the|a)"
    r"|screen ?shar\w*|share (?:my|the) screen|screenshots?|whiteboards?|classrooms?|class(?:es)?|lessons?"
    r"|lectures?|students?|pupils?|teachers?|schools?|chat ?logs?|chat history|chats?|transcripts?|transcri\w+"
    r"|meetings?|video ?calls?|calls?|conferences?|webinars?|videos?|audio|voice|ai|artificial intelligence"
    r"|machine learning|face|faces|attendance|participants?)\b", re.I)
_ABOUT_DATA = re.compile(
    r"\b(?:data|info\w*|personal|privacy|private|stor\w+|keep|kept|sav\w+|see|seen|sees|watch\w*|listen\w*"
    r"|access\w*|shar\w+|sell\w*|sold|record\w*|collect\w*|delet\w*|track\w*|monitor\w*|spy\w*|uses?|used|using"
    r"|do with|who can|upload\w*|sen[dt]|analy\w+|train\w*|retain\w*|how long|where|safe|secure\w*|encrypt\w*"
    r"|hear|read|look at|view\w*)\b", re.I)

# A section answers a product question when the classifier gives it this much, or
# the policy search scores it this high (both as the triage reads them elsewhere).
MIN_SECTION_CONFIDENCE = 0.2
MIN_SEARCH_SCORE = 3.0


def about_product_data(text: str) -> bool:
    """Whether the message asks about personal data in IMAGO's products."""
    return bool(_PRODUCT.search(text or "") and _ABOUT_DATA.search(text or ""))


def product_section(text: str, ranking: Sequence[Dict[str, Any]], catalogue: Catalogue,
                    search: PolicySearch) -> Optional[str]:
    """The section that answers a product question, or None when the policy is silent
    (cameras and microphones are never mentioned in it)."""
    if NEVER_MENTIONED.search(text or ""):
        return None
    for entry in ranked(ranking):
        topic = catalogue.by_intent(entry.get("name"))
        if topic and entry.get("confidence", 0.0) >= MIN_SECTION_CONFIDENCE:
            return topic.id
    scores = search.scores(text or "")
    if scores and scores[0][1] >= MIN_SEARCH_SCORE:
        return scores[0][0]
    return None
