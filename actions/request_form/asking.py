"""The form's questions: the email address, the code, the correction's details, and the
confirmation that shows what will be filed.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.request_form.common import (
    current_types,
    reset_slots,
    returning_after_digression,
)
from actions.request_form.replies import CONFIRM_BUTTONS, about, retention_note
from imago_core.identity.codes import (
    get_verifier,
    mask_email,
)
from imago_core.requests import drafts
from imago_core.requests.flow import (
    labels,
)
from imago_core.settings import get_settings
from imago_core.storage.models import RequestType

logger = logging.getLogger(__name__)


class _AskAction(Action):
    """Asks for a form slot unless the validator has just asked in its own words;
    after a digression it restates the pending question briefly."""

    slot = ""
    response = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        if tracker.get_slot("reprompted"):
            return [SlotSet("reprompted", None)]
        if returning_after_digression(tracker):
            dispatcher.utter_message(**self.restated(tracker))
        else:
            dispatcher.utter_message(response=self.response)
        return []

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        raise NotImplementedError


class ActionAskEmail(_AskAction):
    slot, response = "email", "utter_request_email"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        return {"text": f"Back to {about(tracker)}: what is your email address? I'll send a 6-digit code to it."}


class ActionAskOtpCode(_AskAction):
    slot, response = "otp_code", "utter_request_code"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        email = tracker.get_slot("email")
        where = f" I sent to {mask_email(email)}" if email else ""
        return {"text": f"Back to {about(tracker)}: please type the 6-digit code{where}. "
                        "Say \"new code\" if it didn't arrive."}


class ActionAskCorrectionDetails(_AskAction):
    slot, response = "correction_details", "utter_request_correction_details"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        return {"text": "Back to your correction: what is wrong in the data we hold about you, and what should it be?"}


class ActionAskConfirmation(Action):
    """The form's last question: shows what will be filed (remembered in the database
    as drafts, one per request type) and asks for confirmation."""

    def name(self) -> Text:
        return "action_ask_confirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        if tracker.get_slot("reprompted"):
            return [SlotSet("reprompted", None)]
        email = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
        types = current_types(tracker)
        if not email or not types:
            dispatcher.utter_message(
                text="I couldn't confirm your email address, so nothing was filed. You can start again any time."
            )
            return [ActiveLoop(None), SlotSet("requested_slot", None), *reset_slots()]
        details = tracker.get_slot("correction_details") if RequestType.CORRECTION in types else None
        await asyncio.to_thread(drafts.save_drafts, tracker.sender_id, email, types, details)
        if returning_after_digression(tracker):
            dispatcher.utter_message(
                text=f"Back to {about(tracker)} for {email}: shall I file it?"
                if len(types) == 1 else f"Back to your requests ({labels(types)}) for {email}: shall I file them?",
                buttons=CONFIRM_BUTTONS)
            return []
        several = len(types) > 1
        lines = ["Here's what I'll send to the privacy team:"]
        if several:
            lines.append("- Requests (each filed separately, with its own reference):")
            lines += [f"  - {kind.label}" for kind in types]
        else:
            lines.append(f"- Request: {types[0].label}")
        lines.append(f"- Email: {email}")
        if details:
            lines.append(f"- Details: {details}")
        if RequestType.DELETION in types:
            lines += ["", retention_note(get_settings().policy_url)]
        lines += ["", "Shall I file them?" if several else "Shall I file it?"]
        dispatcher.utter_message(text="\n".join(lines), buttons=CONFIRM_BUTTONS)
        return []


# Older name kept for callers and tests written before the confirmation joined the form.
ActionSummariseRequest = ActionAskConfirmation
