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

from actions.language import confirm_buttons, label, labels, t
from actions.request_form.common import (
    current_types,
    reset_slots,
    returning_after_digression,
)
from actions.request_form.replies import about, retention_note
from imago_core.identity.codes import (
    get_verifier,
    mask_email,
)
from imago_core.requests import drafts
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
        return {"text": t(tracker, "request.ask_email_again", about=about(tracker))}


class ActionAskOtpCode(_AskAction):
    slot, response = "otp_code", "utter_request_code"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        email = tracker.get_slot("email")
        if email:
            return {"text": t(tracker, "request.ask_code_again_to", about=about(tracker), address=mask_email(email))}
        return {"text": t(tracker, "request.ask_code_again", about=about(tracker))}


class ActionAskCorrectionDetails(_AskAction):
    slot, response = "correction_details", "utter_request_correction_details"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        return {"text": t(tracker, "request.ask_details_again")}


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
            dispatcher.utter_message(text=t(tracker, "request.unconfirmed"))
            return [ActiveLoop(None), SlotSet("requested_slot", None), *reset_slots()]
        details = tracker.get_slot("correction_details") if RequestType.CORRECTION in types else None
        await asyncio.to_thread(drafts.save_drafts, tracker.sender_id, email, types, details)
        if returning_after_digression(tracker):
            dispatcher.utter_message(
                text=t(tracker, "request.confirm_again_one", about=about(tracker), email=email)
                if len(types) == 1 else
                t(tracker, "request.confirm_again_several", labels=labels(tracker, types), email=email),
                buttons=confirm_buttons(tracker))
            return []
        several = len(types) > 1
        lines = [t(tracker, "request.summary.head")]
        if several:
            lines.append(t(tracker, "request.summary.several"))
            lines += [t(tracker, "request.summary.item", label=label(tracker, kind)) for kind in types]
        else:
            lines.append(t(tracker, "request.summary.one", label=label(tracker, types[0])))
        lines.append(t(tracker, "request.summary.email", email=email))
        if details:
            lines.append(t(tracker, "request.summary.details", details=details))
        if RequestType.DELETION in types:
            lines += ["", retention_note(get_settings().policy_url, tracker)]
        lines += ["", t(tracker, "request.summary.ask_several" if several else "request.summary.ask_one")]
        dispatcher.utter_message(text="\n".join(lines), buttons=confirm_buttons(tracker))
        return []


# Older name kept for callers and tests written before the confirmation joined the form.
ActionSummariseRequest = ActionAskConfirmation
