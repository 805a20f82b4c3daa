"""Actions that answer questions about the privacy policy."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff_actions import person_first
from actions.language import button, language_of, t, with_notice
from actions.request_form.common import QUESTION, form_is_active
from actions.request_form.questions import answer_request_question, offer_requests
from imago_core.language import asks_only_for_language
from imago_core.language.texts import text as text_in
from imago_core.policy import get_catalogue
from imago_core.policy.products import about_product_data, product_section
from imago_core.policy.search import get_search
from imago_core.policy.triage import (
    Decision,
    candidates_for,
    close_second_section,
    decide,
    names_no_subject,
    never_mentioned,
    runner_up,
    section_close_to_silent,
)
from imago_core.requests.flow import (
    asks_for_person,
    requested_types,
    sounds_like_complaint,
)
from imago_core.requests.questions import requests_in_question
from imago_core.settings import get_settings

# A second topic in the same message is answered only when the text search finds
# it first in a clause of its own AND the classifier gives it weight too: a strong
# search hit needs a little classifier support, a weaker one needs more.
SECOND_TOPIC_EVIDENCE = ((3.0, 0.02), (1.5, 0.10))  # (min search score, min confidence)

_CLAUSE_SPLIT = re.compile(r"[?;.!]+|\b(?:and also|and|also|plus|as well as)\b|,", re.I)

# Follow-up buttons after answers that describe something the assistant can do
# (titles: the `button.<intent>` texts of data/texts/<language>.yml).
_FOLLOW_UPS = {
    "your-rights": ["request_access", "request_deletion", "request_correction", "request_export"],
    "marketing-opt-out": ["request_marketing_optout"],
    "contact": ["request_human"],
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


def person_button(tracker: Tracker) -> List[Dict[str, str]]:
    return [button(tracker, "button.request_human", "/request_human")]


def also_see_button(topic_id: Optional[str], tracker: Tracker) -> List[Dict[str, str]]:
    """The runner-up section as a button, so a near miss is one tap away."""
    topic = get_catalogue().by_id(topic_id) if topic_id else None
    if not topic:
        return []
    return [{"title": t(tracker, "policy.also_see", title=topic.title_in(language_of(tracker))),
             "payload": f"/{topic.intent}"}]


def answer_topics(dispatcher: CollectingDispatcher, topic_ids: Sequence[str], also_see: Optional[str],
                  tracker: Tracker, follow_ups: bool = True, second: Optional[str] = None) -> None:
    """Each section's answer in the visitor's language with its link, then `second` (a
    section the question spreads over too) in one short sentence with its link; the last
    message carries the follow-ups (left out when the visitor is offered the requests
    they named)."""
    catalogue, settings, language = get_catalogue(), get_settings(), language_of(tracker)
    shown_ids = list(topic_ids) + ([second] if second and second not in topic_ids else [])
    for index, topic_id in enumerate(shown_ids):
        shown = catalogue.by_id(topic_id)
        buttons: List[Dict[str, str]] = []
        short = index >= len(topic_ids)
        rendered = (shown.render_short(settings.policy_url, language) if short
                    else shown.render(settings.policy_url, language))
        if index == len(shown_ids) - 1:
            if follow_ups:
                buttons = [button(tracker, f"button.{intent}", f"/{intent}") for intent in _FOLLOW_UPS.get(shown.id, [])]
            if also_see and also_see not in shown_ids:
                buttons += also_see_button(also_see, tracker)
            rendered = with_notice(tracker, rendered)
        dispatcher.utter_message(text=rendered, buttons=buttons)


class ActionAnswerPolicy(Action):
    """Answers the topic the visitor asked about, with the section link."""

    def name(self) -> Text:
        return "action_answer_policy"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        answered = await answer_request_question(dispatcher, tracker)  # "how long will that take?" mid-request
        if answered is not None:
            return answered
        catalogue = get_catalogue()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        topic = catalogue.by_intent(intent)
        if topic is None:  # a rule sent a non-topic intent here: answer nothing rather than guess
            dispatcher.utter_message(response="utter_default")
            return []
        ranking = _ranking(tracker)
        text = tracker.latest_message.get("text", "")
        if not QUESTION.search(text) and sounds_like_complaint(text) and (requested_types(text) or asks_for_person(text)):
            # "I unsubscribed months ago and you still send me newsletters, unacceptable": a
            # complaint about how a request or the data was handled, not a question about
            # the section. A person first, the request second (a plain question is answered).
            return await person_first(dispatcher, tracker, domain, text, requested_types(text))
        if names_no_subject(text):  # a confident reading of a message that names nothing: ask
            return await ActionPolicyFallback().run(dispatcher, tracker, domain)
        if never_mentioned(text, _confidence_of(ranking, intent)):
            say_policy_is_silent(dispatcher, text, tracker)
            return [SlotSet("fallback_count", 0)]
        topics = [topic.id]
        extra = second_topic(text, topic.id, ranking)
        if extra:
            topics.append(extra)
        # "Can I delete my account and also unsubscribe?": the section, then every request named, offered.
        offered = [] if form_is_active(tracker) else requests_in_question(text)
        # A near tie with a neighbouring section: both, the second in one sentence.
        close = None if extra else close_second_section(ranking, catalogue, topic.id)
        answer_topics(dispatcher, topics, runner_up(ranking, catalogue, topic.id), tracker, follow_ups=not offered,
                      second=close)
        return [SlotSet("fallback_count", 0), *offer_requests(dispatcher, tracker, offered)]


class ActionPolicyFallback(Action):
    """The classifier was unsure. Answer anyway when one reading is clearly best
    (imago_core/policy/triage.py); ask "did you mean" only on a real tie or when
    nothing fits; a second miss in a row offers a person."""

    def name(self) -> Text:
        return "action_policy_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        text = tracker.latest_message.get("text", "")
        decision = decide(text, _ranking(tracker), get_catalogue(), get_search())
        if decision.kind == "answer":
            answer_topics(dispatcher, [decision.topic], decision.also_see, tracker, second=decision.second)
            return [SlotSet("fallback_count", 0)]
        if decision.kind == "silent":
            say_policy_is_silent(dispatcher, text, tracker)
            return [SlotSet("fallback_count", 0)]
        if decision.kind == "out_of_scope" and about_product_data(text):
            return answer_product_question(dispatcher, text, _ranking(tracker))
        if decision.kind == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
            return [SlotSet("fallback_count", 0)]
        return self._ask(dispatcher, tracker, decision)

    @staticmethod
    def _ask(dispatcher: CollectingDispatcher, tracker: Tracker, decision: Decision) -> List:
        misses = int(tracker.get_slot("fallback_count") or 0) + 1
        if misses >= 2 or not decision.candidates:
            dispatcher.utter_message(
                text=with_notice(tracker, t(tracker, "policy.not_found_again",
                                            email=get_settings().privacy_team_email)),
                buttons=person_button(tracker),
            )
            return [SlotSet("fallback_count", 0)]
        catalogue, language = get_catalogue(), language_of(tracker)
        dispatcher.utter_message(
            text=with_notice(tracker, t(tracker, "policy.did_you_mean")),
            buttons=[{"title": catalogue.by_id(c).title_in(language), "payload": f"/{catalogue.by_id(c).intent}"}
                     for c in decision.candidates]
            + [button(tracker, "button.none_of_these", "/request_human")],
        )
        return [SlotSet("fallback_count", misses)]


def fallback_candidates(text: str, ranking: Sequence[Dict[str, Any]]) -> List[str]:
    """Up to three topic ids: the classifier's likeliest policy topics, then the
    topics a text search of the policy finds."""
    return candidates_for(text, ranking, get_catalogue(), get_search())


# Subjects people often ask about that the policy does not cover, so the reply can
# name what was asked. Unknown subjects still get the generic reply.
_SILENT_SUBJECTS = [
    (r"child|kid|minor|student|pupil|under\s?1[0-9]|parent|age limit|how old|years? old|\bage\b",
     "children"),
    (r"do not track|\bdnt\b", "dnt"),
    (r"breach|hacked|leak|stolen|malware|incident|compromi", "breaches"),
    (r"notif", "breach_notice"),
    (r"\bdpo\b|data protection officer", "dpo"),
    (r"\bai\b|machine learning|train|model", "ai"),
    (r"health|medical|heart|blood|dna|genetic|fitness|weight|height|insurance", "health"),
    (r"camera|webcam|microphone|\bmic\b", "camera"),
    (r"\btexts?\b|\bsms\b|text messages|call log", "texts"),
    (r"\bads?\b|advert", "ads"),
    (r"\bfree\b|cost|price|\bfees?\b|\bpaid\b|\bpay\b|subscription|charge", "prices"),
    (r"two.?(step|factor)|2fa|mfa|password|\bpin\b|private key|verification",
     "sign_in"),
    (r"iso|soc ?2|certif|hipaa|audit|penetration|pen ?test|vulnerab", "certifications"),
    (r"ccpa|california", "california"),
    (r"biometric|face|facial|fingerprint", "biometric"),
    (r"end.to.end|e2e|encrypt", "encryption"),
]


def silent_subject(text: str, language: str = "en") -> Optional[str]:
    """The subject asked about, in `language` (texts `policy.silent.<key>`)."""
    for pattern, subject in _SILENT_SUBJECTS:
        if re.search(pattern, text or "", re.I):
            return text_in(language, f"policy.silent.{subject}")
    return None


def say_policy_is_silent(dispatcher: CollectingDispatcher, text: str, tracker: Tracker) -> None:
    language = language_of(tracker)
    subject = silent_subject(text, language) or text_in(language, "policy.silent.that")
    dispatcher.utter_message(
        text=with_notice(tracker, t(tracker, "policy.silent", subject=subject,
                                    email=get_settings().privacy_team_email)),
        buttons=person_button(tracker),
    )


class ActionOutOfScope(Action):
    """Off-topic, unless it only asks for another language (the switch is confirmed,
    in the new language: the language slots already hold it) or is a complaint (a
    person is offered)."""

    def name(self) -> Text:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        answered = await answer_request_question(dispatcher, tracker)
        if answered is not None:
            return answered
        text = tracker.latest_message.get("text", "")
        if asks_only_for_language(text):
            dispatcher.utter_message(text=t(tracker, "language.switched"))
        elif about_product_data(text):
            # A privacy question about IMAGO's own products (webcam video, recordings,
            # classroom data, AI) is never off-topic: its section, or the policy's silence.
            return answer_product_question(dispatcher, text, _ranking(tracker), tracker)
        elif sounds_like_complaint(text):
            dispatcher.utter_message(response="utter_offer_handoff_urgent")  # "you guys are useless"
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []


class ActionPolicySilent(Action):
    """The policy does not address the question: say so, link nothing, offer a person."""

    def name(self) -> Text:
        return "action_policy_silent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        answered = await answer_request_question(dispatcher, tracker)
        if answered is not None:
            return answered
        text, ranking = tracker.latest_message.get("text", ""), _ranking(tracker)
        close_section = section_close_to_silent(text, ranking, get_catalogue())
        if close_section:  # a close race: the section may well answer it
            answer_topics(dispatcher, [close_section], runner_up(ranking, get_catalogue(), close_section), tracker)
        else:
            say_policy_is_silent(dispatcher, text, tracker)
        return [SlotSet("fallback_count", 0)]


def answer_product_question(dispatcher: CollectingDispatcher, text: str, ranking: Sequence[Dict[str, Any]],
                            tracker: Tracker) -> List:
    """A privacy question about IMAGO's products: the section that applies, when the
    classifier or the policy search finds one, else "the policy doesn't say" and a person."""
    section = product_section(text, ranking, get_catalogue(), get_search())
    if section:
        answer_topics(dispatcher, [section], runner_up(ranking, get_catalogue(), section), tracker)
    else:
        say_policy_is_silent(dispatcher, text, tracker)
    return [SlotSet("fallback_count", 0)]
