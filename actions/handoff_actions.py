"""Passing the conversation to a person from the privacy team."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.language import label, labels, language_of, t
from imago_core.handoff.escalations import create_escalation
from imago_core.identity.codes import get_verifier
from imago_core.language import ANSWERED
from imago_core.language.texts import texts_for
from imago_core.requests.flow import (
    asks_for_person,
    requested_types,
    sounds_like_complaint,
)
from imago_core.settings import get_settings
from imago_core.storage.models import RequestType

REASONS = {"request_human": "asked", "report_urgent": "urgent", "nlu_fallback": "not understood"}


def _is_livechat(tracker: Tracker) -> bool:
    metadata = tracker.latest_message.get("metadata") or {}
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            metadata = metadata or event.get("metadata") or {}
            break
    return tracker.get_latest_input_channel() == "rocketchat" and metadata.get("shape") == "livechat"


class ActionHandoff(Action):
    """Files an escalation, tells the visitor what happens next, and pauses the bot.
    A complaint also hears the complaint route; a request named in the same message
    is left for the person taking over (never filed instead of the hand-off)."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                  mentioned: Optional[Sequence[RequestType]] = None) -> List:
        events = await self._hand_over(dispatcher, tracker)
        text = tracker.latest_message.get("text") or ""
        if mentioned is None:  # "a human please, about my deletion": the deletion is left for them
            mentioned = [] if text.lstrip().startswith("/") else requested_types(text)
        if sounds_like_complaint(text):  # (an offer of a person named the route already)
            dispatcher.utter_message(response="utter_complaint_route")
        if mentioned:
            dispatcher.utter_message(response="utter_handoff_request_second_step", requests=labels(tracker, mentioned))
        return events

    async def _hand_over(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        verified = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
        escalation = await asyncio.to_thread(
            create_escalation, tracker.sender_id, tracker.get_latest_input_channel() or "unknown",
            REASONS.get(intent, "asked"), tracker.events, verified, language_of(tracker),
        )
        settings = get_settings()
        # HANDOFF_WAIT words the wait in English; the other languages word it in their texts.
        wait = settings.handoff_wait if language_of(tracker) == "en" else t(tracker, "handoff.wait")
        if _is_livechat(tracker):
            # The RocketChat connector forwards the room to the human department and
            # posts the texts that match what happened: it alone knows whether
            # Rocket.Chat accepted the forward (permissions, department, agents online).
            dispatcher.utter_message(json_message={"imago_handoff": {
                "escalation": escalation.reference,
                # Posted before the forward is asked for: once it succeeds, the bot has left the room.
                "connecting_text": t(tracker, "handoff.connecting"),
                "fallback_text": t(tracker, "handoff.livechat_fallback", reference=escalation.reference,
                                   wait=wait, email=settings.privacy_team_email),
            }})
        else:
            follow_up = (t(tracker, "handoff.follow_up_verified") if verified else
                         t(tracker, "handoff.follow_up_email", email=settings.privacy_team_email))
            dispatcher.utter_message(text=t(tracker, "handoff.passed", reference=escalation.reference,
                                            wait=wait, follow_up=follow_up))
        events = [SlotSet("fallback_count", 0)]
        if (tracker.active_loop or {}).get("name"):
            # A request under way stops here: the privacy team takes over, nothing is filed.
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return events + [ConversationPaused()]


class ActionOfferPerson(Action):
    """A complaint or something urgent: say sorry and offer a person, naming the
    complaint route; a request the message names is offered as a second step."""

    def name(self) -> Text:
        return "action_offer_person"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        text = tracker.latest_message.get("text") or ""
        if asks_for_person(text):  # "this is unacceptable, get me a human": no offer, the person
            return await ActionHandoff().run(dispatcher, tracker, domain, requested_types(text))
        return offer_person(dispatcher, tracker, requested_types(text))


def offer_person(dispatcher: CollectingDispatcher, tracker: Tracker, mentioned: Sequence[RequestType]) -> List:
    """The offer of a person (with the complaint route), then, as a second step, one
    button per request the message named."""
    dispatcher.utter_message(response="utter_offer_handoff_urgent")
    if not mentioned:
        return []
    buttons = [{"title": label(tracker, kind), "payload": f"/request_{kind.value}"} for kind in mentioned]
    dispatcher.utter_message(response="utter_offer_request_second_step", requests=labels(tracker, mentioned),
                             buttons=buttons)
    return []


async def person_first(dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str,
                       mentioned: Sequence[RequestType]) -> List:
    """A message that asks for a person, or complains, while naming a request: the
    hand-off (asked for in words) or its offer first, the request second."""
    if asks_for_person(text):
        return await ActionHandoff().run(dispatcher, tracker, domain, mentioned)
    return offer_person(dispatcher, tracker, mentioned)


def has_handoff(events: Sequence[Dict[Text, Any]]) -> bool:
    return any(event.get("event") == "pause" for event in events)


class ActionGreet(Action):
    """A greeting, unless the message is a complaint that merely opens with one
    ("<b>hi</b> I want to complain about..."): then the complaint is what counts."""

    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        text = tracker.latest_message.get("text") or ""
        if sounds_like_complaint(text):
            return offer_person(dispatcher, tracker, requested_types(text))
        dispatcher.utter_message(response="utter_greet")
        return []


# The offer's question in every language (utter_offer_handoff_urgent ends with it).
OFFER_QUESTIONS = tuple(texts_for(language).get("handoff.offer_question") for language in ANSWERED)
OFFER_QUESTION = OFFER_QUESTIONS[0]


def person_was_offered(tracker: Tracker) -> bool:
    """True when a person was offered since the visitor's previous message."""
    users_seen = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users_seen += 1
            if users_seen == 2:
                return False
        elif event.get("event") == "bot" and any(q in (event.get("text") or "") for q in OFFER_QUESTIONS):
            return True
    return False
