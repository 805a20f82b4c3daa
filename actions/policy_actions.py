"""Actions that answer questions about the privacy policy."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from imago_core.policy import get_catalogue
from imago_core.policy.search import get_search
from imago_core.settings import get_settings

# A second topic in the same message is answered only when the text search finds
# it first in a clause of its own AND the classifier gives it weight too: a strong
# search hit needs a little classifier support, a weaker one needs more.
SECOND_TOPIC_EVIDENCE = ((3.0, 0.02), (1.5, 0.10))  # (min search score, min confidence)
FALLBACK_CANDIDATE_MIN_CONFIDENCE = 0.08
MAX_CANDIDATES = 3

_CLAUSE_SPLIT = re.compile(r"[?;.!]+|\b(?:and also|and|also|plus|as well as)\b|,", re.I)

# Follow-up buttons after answers that describe something the assistant can do.
_FOLLOW_UPS = {
    "your-rights": [
        ("Get a copy of my data", "/request_access"),
        ("Delete my data", "/request_deletion"),
        ("Correct my data", "/request_correction"),
        ("Export my data", "/request_export"),
    ],
    "marketing-opt-out": [("Opt me out of marketing", "/request_marketing_optout")],
    "contact": [("Talk to a person", "/request_human")],
}


def _ranking(tracker: Tracker) -> List[Dict[str, Any]]:
    return list(tracker.latest_message.get("intent_ranking") or [])


def _confidence_of(ranking: Sequence[Dict[str, Any]], intent: str) -> float:
    return next((r.get("confidence", 0.0) for r in ranking if r.get("name") == intent), 0.0)


def second_topic(text: str, primary: str, ranking: Sequence[Dict[str, Any]]) -> Optional[str]:
    """The other topic of a two-topic question ("do you sell my data and how long do
    you keep it?"), or None."""
    catalogue, search = get_catalogue(), get_search()
    clauses = [c for c in _CLAUSE_SPLIT.split(text or "") if c and len(c.split()) >= 2]
    if len(clauses) < 2:
        return None
    for clause in clauses:
        scores = search.scores(clause)
        if not scores:
            continue
        topic_id, score = scores[0]
        topic = catalogue.by_id(topic_id)
        confidence = _confidence_of(ranking, topic.intent)
        if topic_id != primary and any(
            score >= min_score and confidence >= min_confidence
            for min_score, min_confidence in SECOND_TOPIC_EVIDENCE
        ):
            return topic_id
    return None


def _buttons(pairs: Sequence[tuple]) -> List[Dict[str, str]]:
    return [{"title": title, "payload": payload} for title, payload in pairs]


class ActionAnswerPolicy(Action):
    """Answers the topic the visitor asked about, with the section link."""

    def name(self) -> Text:
        return "action_answer_policy"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        catalogue, settings = get_catalogue(), get_settings()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        topic = catalogue.by_intent(intent)
        if topic is None:  # a rule sent a non-topic intent here: answer nothing rather than guess
            dispatcher.utter_message(response="utter_default")
            return []
        topics = [topic]
        extra = second_topic(tracker.latest_message.get("text", ""), topic.id, _ranking(tracker))
        if extra:
            topics.append(catalogue.by_id(extra))
        for index, shown in enumerate(topics):
            buttons = _buttons(_FOLLOW_UPS.get(shown.id, [])) if index == len(topics) - 1 else []
            dispatcher.utter_message(text=shown.render(settings.policy_url), buttons=buttons)
        return [SlotSet("fallback_count", 0)]


class ActionPolicyFallback(Action):
    """Low confidence: offer the likeliest topics; a second miss offers a person."""

    def name(self) -> Text:
        return "action_policy_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        misses = int(tracker.get_slot("fallback_count") or 0) + 1
        candidates = fallback_candidates(tracker.latest_message.get("text", ""), _ranking(tracker))
        if misses >= 2 or not candidates:
            dispatcher.utter_message(
                text=(
                    "I'm sorry, I still couldn't find that in the privacy policy. "
                    f"The privacy team can help: write to {get_settings().privacy_team_email}, "
                    "or I can pass this conversation to a person."
                ),
                buttons=_buttons([("Talk to a person", "/request_human")]),
            )
            return [SlotSet("fallback_count", 0)]
        catalogue = get_catalogue()
        dispatcher.utter_message(
            text="I'm not sure I understood. Did you mean one of these?",
            buttons=_buttons(
                [(catalogue.by_id(t).title, f"/{catalogue.by_id(t).intent}") for t in candidates]
                + [("None of these", "/request_human")]
            ),
        )
        return [SlotSet("fallback_count", misses)]


def fallback_candidates(text: str, ranking: Sequence[Dict[str, Any]]) -> List[str]:
    """Up to three topic ids: the classifier's likeliest policy topics, then the
    topics a text search of the policy finds."""
    catalogue = get_catalogue()
    chosen: List[str] = []
    for entry in ranking:
        topic = catalogue.by_intent(entry.get("name"))
        if topic and entry.get("confidence", 0) >= FALLBACK_CANDIDATE_MIN_CONFIDENCE:
            chosen.append(topic.id)
        if len(chosen) == 2:
            break
    for topic_id in get_search().top(text, limit=MAX_CANDIDATES):
        if len(chosen) >= MAX_CANDIDATES:
            break
        if topic_id not in chosen:
            chosen.append(topic_id)
    return chosen[:MAX_CANDIDATES]


# Subjects people often ask about that the policy does not cover, so the reply can
# name what was asked. Unknown subjects still get the generic reply.
_SILENT_SUBJECTS = [
    (r"child|kid|minor|student|pupil|under\s?1[0-9]|parent", "children's or students' data"),
    (r"do not track|\bdnt\b", "Do Not Track signals"),
    (r"breach|notif", "how data breaches are notified"),
    (r"\bdpo\b|data protection officer", "a data protection officer"),
    (r"\bai\b|machine learning|train|model", "using data to train AI models"),
    (r"iso|soc ?2|certif|hipaa|audit", "certifications or audits"),
    (r"ccpa|california", "California-specific rights"),
    (r"biometric|face|facial", "biometric data"),
    (r"end.to.end|e2e|encrypt", "how calls are encrypted"),
]


def silent_subject(text: str) -> Optional[str]:
    for pattern, subject in _SILENT_SUBJECTS:
        if re.search(pattern, text or "", re.I):
            return subject
    return None


class ActionPolicySilent(Action):
    """The policy does not address the question: say so, link nothing, offer a person."""

    def name(self) -> Text:
        return "action_policy_silent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        subject = silent_subject(tracker.latest_message.get("text", ""))
        about = f" about {subject}" if subject else " about that"
        dispatcher.utter_message(
            text=(
                f"IMAGO's privacy policy doesn't say anything{about}, so I can't answer it "
                "from the policy and I won't guess. The privacy team can answer it: write to "
                f"{get_settings().privacy_team_email}, or I can pass you to a person."
            ),
            buttons=_buttons([("Talk to a person", "/request_human")]),
        )
        return [SlotSet("fallback_count", 0)]
