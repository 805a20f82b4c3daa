"""The status of the visitor's requests, and cancelling one under way.
"""
from __future__ import annotations

import asyncio
import logging
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.language import language_of, short, status_text, t
from actions.request_form.common import FORM, QUESTION, form_is_active, reset_slots
from actions.request_form.questions import answer_request_question
from imago_core.identity.codes import (
    get_verifier,
    mask_email,
)
from imago_core.requests import drafts
from imago_core.requests.deadlines import format_date
from imago_core.requests.records import requests_for
from imago_core.requests.status_sync import refresh_statuses

logger = logging.getLogger(__name__)


class ActionShowStatus(Action):
    def name(self) -> Text:
        return "action_show_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        email = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
        if not email:
            dispatcher.utter_message(text=t(tracker, "request.status.unverified"))
            return reset_slots()
        views = await asyncio.to_thread(refreshed_requests, email, tracker.sender_id)
        if not views:
            dispatcher.utter_message(text=t(tracker, "request.status.none", address=mask_email(email)))
            return reset_slots()
        lines, language = [t(tracker, "request.status.head", address=mask_email(email))], language_of(tracker)
        for view in views:
            fields = {"reference": view.reference, "type": short(tracker, view.request_type),
                      "status": status_text(tracker, view.status)}
            if view.status.is_open:
                lines.append(t(tracker, "request.status.open", due=format_date(view.due_at, language), **fields))
            else:
                lines.append(t(tracker, "request.status.closed", **fields))
        dispatcher.utter_message(text="\n".join(lines))
        return reset_slots()


def refreshed_requests(email: str, conversation_id: str):
    refresh_statuses(email)
    return requests_for(email, conversation_id)


class ActionCancelTask(Action):
    def name(self) -> Text:
        return "action_cancel_task"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        text = tracker.latest_message.get("text") or ""
        if QUESTION.search(text):
            # "Can I cancel it later?" asks about cancelling; it is not a "cancel". Answered
            # from the request's facts, and the form (if any) asks its question again.
            answered = await answer_request_question(dispatcher, tracker)
            if answered is not None:
                return answered + ([FollowupAction(FORM)] if form_is_active(tracker) else [])
        await asyncio.to_thread(drafts.discard_drafts, tracker.sender_id)
        dispatcher.utter_message(response="utter_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *reset_slots()]
