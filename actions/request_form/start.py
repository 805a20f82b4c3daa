"""Starting a request, or switching and adding types while one is under way.
"""
from __future__ import annotations

import asyncio
import logging
from typing import List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff_actions import has_handoff, person_first
from actions.language import label, labels, language_of, t
from actions.request_form.common import (
    ACTION_LISTEN,
    INTENT_TO_TASK,
    current_types,
    form_is_active,
    intent_of,
    is_payload,
    latest_metadata,
    reset_slots,
    type_slots,
)
from actions.request_form.questions import answer_request_question
from imago_core.identity.codes import (
    get_verifier,
)
from imago_core.identity.private_channel import in_shared_room, move_request
from imago_core.policy import get_catalogue
from imago_core.requests.flow import (
    asks_for_person,
    merge_types,
    negated_types,
    requested_types,
    sounds_like_complaint,
    types_for_start,
)
from imago_core.requests.questions import requests_in_question
from imago_core.settings import get_settings
from imago_core.storage.models import RequestType

logger = logging.getLogger(__name__)


class ActionStartTask(Action):
    """Remembers what the visitor asked for (every type named), or switches/adds a
    type while a request is under way; the request form then verifies them."""

    def name(self) -> Text:
        return "action_start_task"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        return await self.start(dispatcher, tracker, intent_of(tracker)[0], domain)

    async def start(self, dispatcher: CollectingDispatcher, tracker: Tracker, intent: Optional[str],
                    domain: Optional[DomainDict] = None) -> List:
        task = INTENT_TO_TASK.get(intent)
        if task is None:
            dispatcher.utter_message(response="utter_default")
            return []
        if in_shared_room(latest_metadata(tracker)):
            # Nobody else in the room may see the email or code prompts: no form here.
            dispatcher.utter_message(json_message=move_request(task, language_of(tracker)))
            return [FollowupAction(ACTION_LISTEN)]
        text = tracker.latest_message.get("text") or ""
        under_way = current_types(tracker) if form_is_active(tracker) else []
        # A question about the request under way or just filed ("how long will the
        # deletion take?") is answered from its facts; the form, if any, resumes.
        answered = await answer_request_question(dispatcher, tracker)
        if answered is not None:
            return answered + ([] if under_way else [FollowupAction(ACTION_LISTEN)])
        if task == "status" and under_way:
            # "What's the status?" mid-request: answer it and keep the request.
            dispatcher.utter_message(text=t(tracker, "request.status.not_filed_yet", labels=labels(tracker, under_way)))
            return []
        if not is_payload(text) and (asks_for_person(text) or sounds_like_complaint(text)):
            # A person asked for, or a complaint, wins over the request words in it: the
            # hand-off (or its offer) first, the request offered as a second step.
            mentioned = requested_types(text) if task == "status" else types_for_start(text, RequestType(task))
            events = await person_first(dispatcher, tracker, domain, text, mentioned)
            return events + ([] if under_way or has_handoff(events) else [FollowupAction(ACTION_LISTEN)])
        if task == "status":
            verified = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
            dispatcher.utter_message(text=t(tracker, "request.status.here") if verified else
                                     t(tracker, "request.status.verify_first"))
            return [*reset_slots(tracker), SlotSet("requested_slot", None), SlotSet("task", "status")]
        types = types_for_start(text, RequestType(task))
        if under_way:
            return self._switch(dispatcher, tracker, under_way, merge_types(under_way, types, text), task)
        if not types:
            # Every type it named was negated ("I do NOT want you to delete anything"): nothing to file.
            refused = negated_types(text) or [RequestType(task)]
            dispatcher.utter_message(text=t(tracker, "request.refused", labels=labels(tracker, refused)))
            return [FollowupAction(ACTION_LISTEN)]
        if requests_in_question(text):
            # "Can I delete my account and also unsubscribe?": yes, and on what grounds, then the request.
            section = "marketing-opt-out" if types == [RequestType.MARKETING_OPTOUT] else "your-rights"
            dispatcher.utter_message(response="utter_request_question_grounds",
                                     link=get_catalogue().by_id(section).link(get_settings().policy_url,
                                                                              language_of(tracker)))
        return self.begin(dispatcher, tracker, types, task)

    @staticmethod
    def begin(dispatcher: CollectingDispatcher, tracker: Tracker, types: Sequence[RequestType],
              task: Optional[str] = None, announce: bool = True) -> List:
        """Opens a fresh request for `types`; the request form verifies the visitor next."""
        types = list(types)
        task = task or types[0].value
        if len(types) == 1:
            opening = t(tracker, "request.opening_one", label=label(tracker, types[0]))
        else:
            opening = "\n".join([t(tracker, "request.opening_several"),
                                 *(t(tracker, "request.opening_item", label=label(tracker, k)) for k in types)])
        if announce:
            dispatcher.utter_message(text=opening)
        # A fresh start; requested_slot cleared so the opening message fills no slot.
        return [*reset_slots(tracker), SlotSet("requested_slot", None), *type_slots(types, task)]

    @staticmethod
    def _switch(dispatcher: CollectingDispatcher, tracker: Tracker, before: Sequence[RequestType],
                after: List[RequestType], task: str) -> List:
        if after == list(before):
            dispatcher.utter_message(text=t(tracker, "request.switch_same", labels=labels(tracker, after)))
        elif set(before) <= set(after):
            dispatcher.utter_message(text=t(tracker, "request.switch_added", labels=labels(tracker, after)))
        else:
            dispatcher.utter_message(text=t(tracker, "request.switch_changed", after=labels(tracker, after),
                                            before=labels(tracker, before)))
        events = [*type_slots(after, task), SlotSet("confirmation", None), SlotSet("reprompted", None)]
        if RequestType.CORRECTION not in after:
            events.append(SlotSet("correction_details", None))
        return events
