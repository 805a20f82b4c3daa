"""Answers an elliptical follow-up against the topic just discussed."""
from __future__ import annotations

from typing import Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff_actions import ActionHandoff, offer_person
from actions.language import language_of, t
from actions.policy_actions import ActionPolicyFallback
from actions.request_form.common import ranked_request_intent
from actions.request_form.questions import answer_request_question
from actions.request_form.start import ActionStartTask
from imago_core.identity.codes import extract_code, extract_email
from imago_core.policy import get_catalogue
from imago_core.policy.followup import elliptical_follow_up, last_topic, resolve
from imago_core.requests.flow import (
    asks_for_person,
    requested_types,
    sounds_like_complaint,
)
from imago_core.settings import get_settings


def _previous_topic(tracker: Tracker):
    """The topic of the latest policy answer, if the bot's latest message was one."""
    for event in reversed(tracker.events):
        if event.get("event") == "bot":
            return last_topic([event.get("text") or ""])
    return None


def _ranked(tracker: Tracker) -> List[str]:
    """The classifier's three likeliest intents (nlu_fallback, which heads the ranking when it is unsure, aside)."""
    names = [e.get("name") for e in tracker.latest_message.get("intent_ranking") or []]
    return [name for name in names if name != "nlu_fallback"][:3]


class ActionFollowUp(Action):
    def name(self) -> Text:
        return "action_follow_up"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        answered = await answer_request_question(dispatcher, tracker)  # "and then what?" after filing
        if answered is not None:
            return answered
        bot_texts = [e.get("text") or "" for e in reversed(tracker.events) if e.get("event") == "bot"]
        previous = last_topic(bot_texts)
        topic_id = resolve(tracker.latest_message.get("text") or "", previous)
        topic = get_catalogue().by_id(topic_id) if topic_id else None
        if topic is None:
            dispatcher.utter_message(text=t(tracker, "policy.say_more"))
            return []
        dispatcher.utter_message(text=topic.render(get_settings().policy_url, language_of(tracker)))
        return [SlotSet("fallback_count", 0)]


class ActionContextualFallback(Action):
    """Low NLU confidence, read with the words and the context the classifier lacks:
    a short follow-up right after a policy answer ("and how long?") is answered from
    that answer; a message naming request types while the classifier was torn between
    them ("a copy, then delete it") starts (or changes) the request; an unplaced
    complaint ("wtf is wrong with you") is offered a person; an address or
    code typed with nothing under way gets told what to ask for; anything else gets
    the usual did-you-mean."""

    def name(self) -> Text:
        return "action_contextual_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        text = tracker.latest_message.get("text") or ""
        answered = await answer_request_question(dispatcher, tracker)
        if answered is not None:
            return answered
        topic_id = elliptical_follow_up(text, _previous_topic(tracker))
        topic = get_catalogue().by_id(topic_id) if topic_id else None
        if topic is not None:
            dispatcher.utter_message(text=topic.render(get_settings().policy_url, language_of(tracker)))
            return [SlotSet("fallback_count", 0)]
        form_active = bool((tracker.active_loop or {}).get("name"))
        request_intent = ranked_request_intent(tracker)
        asks_for_request = bool(request_intent and requested_types(text))
        complaint = sounds_like_complaint(text)
        if asks_for_person(text) and ("request_human" in _ranked(tracker) or complaint or asks_for_request):
            # "this takes too long, just get me a human": the person first, any request named second.
            return [*await ActionHandoff().run(dispatcher, tracker, domain, requested_types(text))]
        if complaint:
            # An angry remark the classifier couldn't place: a person is offered, nothing is
            # filed; a request it names is offered as a second step.
            return [*offer_person(dispatcher, tracker, requested_types(text)), SlotSet("fallback_count", 0)]
        if asks_for_request:
            events = await ActionStartTask().start(dispatcher, tracker, request_intent, domain)
            # In a form, the digression rule brings the form back; otherwise start it.
            return events + ([] if form_active else [FollowupAction("request_form")])
        if not form_active and (extract_email(text) or extract_code(text)):
            dispatcher.utter_message(response="utter_inform_without_task")
            return [SlotSet("fallback_count", 0)]
        return await ActionPolicyFallback().run(dispatcher, tracker, domain)


class ActionCapabilities(Action):
    """"What can you do?", unless it asks about the request under way or just filed
    ("what now?", "what next?"): then that request's facts answer it."""

    def name(self) -> Text:
        return "action_capabilities"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        answered = await answer_request_question(dispatcher, tracker)
        if answered is not None:
            return answered
        dispatcher.utter_message(response="utter_capabilities")
        return []
