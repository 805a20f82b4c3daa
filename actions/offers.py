"""What a "yes" or a bare email address answers when the assistant offered something.

A person offered (a complaint) is handed over on "yes"; requests offered in reply to
a question ("can I delete my account and also unsubscribe?") are started on "yes"
or on the email address typed next, which then gets its code at once. Anything
else: the usual reply.
"""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff_actions import ActionHandoff, person_was_offered
from actions.request_form.common import FORM
from actions.request_form.questions import offered_types
from actions.request_form.start import ActionStartTask
from imago_core.identity.codes import extract_email


def _start_offered(dispatcher: CollectingDispatcher, tracker: Tracker) -> List:
    types = offered_types(tracker)
    if not types:
        return []
    # The offer already said what will be filed, so no opening again: the form verifies
    # next, and an address in this message gets its code at once (actions/request_form/
    # validation.py, as for an address in a request's first message).
    return ActionStartTask.begin(dispatcher, tracker, types, announce=False) + [FollowupAction(FORM)]


class ActionAcceptOffer(Action):
    """A typed "yes": to the offer of a person it hands over; to offered requests it
    starts them; anywhere else it asks what else the visitor needs."""

    def name(self) -> Text:
        return "action_accept_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        if person_was_offered(tracker):
            return await ActionHandoff().run(dispatcher, tracker, domain)
        started = _start_offered(dispatcher, tracker)
        if started:
            return started
        dispatcher.utter_message(response="utter_anything_else")
        return []


class ActionInform(Action):
    """An address or a code with no request under way: starts the requests just
    offered when it is an address, else says what to ask for first."""

    def name(self) -> Text:
        return "action_inform"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        if extract_email(tracker.latest_message.get("text") or ""):
            started = _start_offered(dispatcher, tracker)
            if started:
                return started
        dispatcher.utter_message(response="utter_inform_without_task")
        return []
