"""Actions for data-subject requests: start, verify, confirm, file, status, cancel.

Security model: slots steer the conversation but never decide anything. Whether
the visitor is verified, and what exactly they confirmed, is read from the
database (VerifiedConversation, RequestDraft), so a typed `/intent{...}` payload
cannot skip verification or confirmation.

Conversations bend (docs: Rasa "unhappy paths"): the request form's validator
rejects the form for a message that isn't an answer to the pending question (a
policy question, chitchat, another request type, "what is this code for?"), so
the rules in data/rules/digressions.yml answer it and bring the form back; the
form's action_ask_* then restate the pending question briefly.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecutionRejected, ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from imago_core import drafts
from imago_core.client_address import CLIENT_ADDRESS_KEY
from imago_core.models import RequestType
from imago_core.policy import get_catalogue
from imago_core.private_channel import in_shared_room, move_request
from imago_core.privacy_requests import format_date, record_request, requests_for
from imago_core.request_flow import (
    asks_for_person,
    labels,
    sounds_like_complaint,
    merge_types,
    negated_types,
    requested_types,
    types_for_start,
    wants_details_change,
    wants_email_change,
)
from imago_core.settings import get_settings
from imago_core.texts import text as text_for
from imago_core.verification_age import DELETION_PROOF_MAX_AGE, deletion_needs_fresh_code, has_pending_deletion
from imago_core.verification import (
    CheckStatus,
    extract_code,
    extract_email,
    get_verifier,
    mask_email,
    SendStatus,
)

logger = logging.getLogger(__name__)

FORM = "request_form"
INTENT_TO_TASK = {
    "request_access": "access",
    "request_deletion": "deletion",
    "request_correction": "correction",
    "request_export": "export",
    "request_marketing_optout": "marketing_optout",
    "request_status": "status",
}
FORM_SLOTS = ["email", "otp_code", "correction_details", "confirmation"]
ACTION_LISTEN = "action_listen"
CODE_MASK = "******"
_RESEND = re.compile(r"\b(new|another|fresh|resend|re-send|send again|again)\b|did ?n.?t (get|receive|arrive)|not (got|received)|no (code|email)", re.I)
_YES = re.compile(r"^\W*(y|yes|yeah|yep|yup|sure|ok|okay|please do|go ahead|do it|file it|confirm\w*|correct)\b", re.I)
_QUESTION = re.compile(r"\?\s*$|^\W*(what|why|how|who|whom|when|where|which|do|does|did|can|could|is|are|will|would|should)\b", re.I)
# Details of a correction are free text; these words say it is one, whatever the intent.
_CORRECTION_CUES = re.compile(r"should be|is wrong|was wrong|spelled|spelt|instead of|incorrect|not correct|"
                              r"misspel|changed|my (?:name|surname|address|phone|birthday|date of birth)", re.I)
MAX_DETAILS = 2000

# Messages that are not an answer to the form's question: answered by their own rule,
# then the form comes back (data/rules/digressions.yml).
CHITCHAT_INTENTS = {"greet", "thank", "bot_challenge", "ask_capabilities", "out_of_scope", "ask_code_purpose",
                    "policy_silent", "request_human", "report_urgent", "request_status", "follow_up"}
SWITCH_INTENTS = {intent for intent, task in INTENT_TO_TASK.items() if task != "status"}

def _channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


def client_address(tracker: Tracker) -> Optional[str]:
    """The visitor's network address, as the input channel recorded it in the message
    metadata (channels overwrite whatever the client sent under this key)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            metadata = event.get("metadata") or {}
            value = metadata.get(CLIENT_ADDRESS_KEY) if isinstance(metadata, dict) else None
            return value if isinstance(value, str) else None
    return None


def _latest_metadata(tracker: Tracker) -> Dict[Text, Any]:
    return tracker.latest_message.get("metadata") or {}


def _reset_slots(tracker: Optional[Tracker] = None) -> List[Dict[Text, Any]]:
    """Clears the request's slots (only those set, when the tracker is given: a form
    reads every slot event of the turn as a candidate answer)."""
    names = (*FORM_SLOTS, "task", "tasks", "reprompted", "reverify")
    return [SlotSet(name, None) for name in names if tracker is None or tracker.get_slot(name) is not None]


def _intent(tracker: Tracker) -> tuple:
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def current_types(tracker: Tracker) -> List[RequestType]:
    """The request types under way (steering only: what is filed comes from the drafts)."""
    values = tracker.get_slot("tasks") or []
    if not values and tracker.get_slot("task") in {t.value for t in RequestType}:
        values = [tracker.get_slot("task")]
    return [RequestType(v) for v in values if v in {t.value for t in RequestType}]


def _form_is_active(tracker: Tracker) -> bool:
    return (tracker.active_loop or {}).get("name") == FORM


class ActionStartTask(Action):
    """Remembers what the visitor asked for (every type named), or switches/adds a
    type while a request is under way; the request form then verifies them."""

    def name(self) -> Text:
        return "action_start_task"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        return await self.start(dispatcher, tracker, _intent(tracker)[0])

    async def start(self, dispatcher: CollectingDispatcher, tracker: Tracker, intent: Optional[str]) -> List:
        task = INTENT_TO_TASK.get(intent)
        if task is None:
            dispatcher.utter_message(response="utter_default")
            return []
        if in_shared_room(_latest_metadata(tracker)):
            # Nobody else in the room may see the email or code prompts: no form here.
            dispatcher.utter_message(json_message=move_request(task))
            return [FollowupAction(ACTION_LISTEN)]
        text = tracker.latest_message.get("text") or ""
        under_way = current_types(tracker) if _form_is_active(tracker) else []
        if task == "status" and under_way:
            # "How long will it take?" mid-request: answer it and keep the request.
            dispatcher.utter_message(text=f"Your {labels(under_way)} request isn't filed yet, so it has no status. "
                                     "Once it is, you get a reference, and we must answer within one month.")
            return []
        if task == "status":
            verified = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
            dispatcher.utter_message(text="Here are your requests." if verified else
                                     "I can look up your requests once I've checked your email address.")
            return [*_reset_slots(tracker), SlotSet("requested_slot", None), SlotSet("task", "status")]
        types = types_for_start(text, RequestType(task))
        if under_way:
            return self._switch(dispatcher, tracker, under_way, merge_types(under_way, types, text), task)
        if not types:
            # Every type it named was negated ("I do NOT want you to delete anything"): nothing to file.
            refused = negated_types(text) or [RequestType(task)]
            dispatcher.utter_message(text=f"OK, I won't file a {labels(refused)} request. I can also send you a "
                                     "copy of your data, correct it, export it or stop marketing emails: just say which.")
            return [FollowupAction(ACTION_LISTEN)]
        if len(types) == 1:
            opening = f"I can file that for you: **{types[0].label}**."
        else:
            opening = "I can file these for you, one request each:\n" + "\n".join(f"- {k.label}" for k in types)
        if sounds_like_complaint(text):
            # A complaint that comes with a request: the request goes ahead, and a person is offered.
            opening = ("I'm sorry about this. If you'd like a person from IMAGO's privacy team to look at your "
                       "complaint, say \"talk to a person\" at any time.\n\n" + opening)
        dispatcher.utter_message(text=opening)
        # A fresh start; requested_slot cleared so the opening message fills no slot.
        return [*_reset_slots(tracker), SlotSet("requested_slot", None), *_type_slots(types, task)]

    @staticmethod
    def _switch(dispatcher: CollectingDispatcher, tracker: Tracker, before: Sequence[RequestType],
                after: List[RequestType], task: str) -> List:
        if after == list(before):
            dispatcher.utter_message(text=f"That's already what I'm doing: your {labels(after)} request.")
        elif set(before) <= set(after):
            dispatcher.utter_message(text=f"OK, I've added that: I'll file {labels(after)} requests.")
        else:
            dispatcher.utter_message(text=f"OK, I've changed your request to **{labels(after)}** "
                                     f"(instead of {labels(before)}). Nothing was filed for {labels(before)}.")
        events = [*_type_slots(after, task), SlotSet("confirmation", None), SlotSet("reprompted", None)]
        if RequestType.CORRECTION not in after:
            events.append(SlotSet("correction_details", None))
        return events


def _type_slots(types: List[RequestType], task: str) -> List[Dict[Text, Any]]:
    values = [kind.value for kind in types]
    return [SlotSet("task", task if task in values else values[0]), SlotSet("tasks", values)]


class ValidateRequestForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_request_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        candidates = tracker.slots_to_validate()
        step = tracker.get_slot("requested_slot")
        # At activation Rasa validates before the form counts as active (rasa/core/actions/forms.py, activate).
        if _activated_this_turn(tracker) or not _form_is_active(tracker):
            # The message that started the request answers none of its questions, except
            # an email address it gives ("delete my data, I'm anna@example.org"): the
            # code goes to it at once, as if typed at the address step.
            events = [SlotSet(name, None) for name in candidates]
            email = extract_email(tracker.latest_message.get("text") or "")
            if email and "email" in await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain):
                answer = await self._send_code(dispatcher, tracker, email)
                events += [SlotSet(name, value) for name, value in answer.items()]
            # As rasa-sdk's own run ends: the next question comes from our required_slots.
            tracker.add_slots(events)
            next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
            return events + ([next_slot] if next_slot else [])
        if step in candidates and self.interrupts(step, tracker):
            # Not an answer: the form steps aside, a rule answers, the form comes back.
            return [SlotSet(step, None), ActionExecutionRejected(FORM)]
        return await super().run(dispatcher, tracker, domain)

    @staticmethod
    def interrupts(step: str, tracker: Tracker) -> bool:
        text = tracker.latest_message.get("text") or ""
        intent, confidence = _intent(tracker)
        if step == "email" and extract_email(text):
            return False
        if step == "otp_code" and (typed_code(text) or extract_email(text) or _RESEND.search(text)
                                   or wants_email_change(text)):
            return False
        if step == "confirmation" and (wants_email_change(text) or wants_details_change(text)):
            return False
        if intent == "affirm" and step != "confirmation" and _person_was_offered(tracker):
            return True  # "yes" to the offer of a person (data/rules/digressions.yml)
        if step in ("email", "otp_code", "confirmation") and intent == "deny":
            return True  # data/rules/requests.yml: a "no" instead of an answer cancels
        if step == "correction_details":
            if _CORRECTION_CUES.search(text) or confidence < 0.6 or intent == "request_correction":
                return False
            if intent in SWITCH_INTENTS:
                return RequestType.CORRECTION not in requested_types(text)
        if intent in SWITCH_INTENTS or intent in CHITCHAT_INTENTS or get_catalogue().is_topic_intent(intent):
            return True
        if intent == "nlu_fallback" and ranked_request_intent(tracker) and requested_types(text):
            return True  # a request the classifier was torn about ("a copy, then delete it")
        if intent == "nlu_fallback" and (asks_for_person(text) or sounds_like_complaint(text)):
            return True  # action_contextual_fallback hands over or offers a person
        # Not understood: a question gets the did-you-mean reply, anything else the step's own hint.
        return intent == "nlu_fallback" and bool(_QUESTION.search(text))

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        needed: List[Text] = []
        if tracker.get_slot("task") == "status" and not current_types(tracker):
            verified = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
            return [] if verified and not tracker.get_slot("reverify") else ["email", "otp_code"]
        verified = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
        if not verified or tracker.get_slot("reverify"):
            needed += ["email", "otp_code"]
        if RequestType.CORRECTION in current_types(tracker):
            needed.append("correction_details")
        needed.append("confirmation")
        return needed

    async def validate_email(self, value: Any, dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value is None:  # a reset, not an answer
            return {"email": None}
        email = extract_email(str(value or ""))
        if email is None:
            dispatcher.utter_message(
                text="That doesn't look like an email address. Please type it like name@example.com, or say \"cancel\"."
            )
            return {"email": None, "reprompted": True}
        return await self._send_code(dispatcher, tracker, email)

    async def _send_code(self, dispatcher: CollectingDispatcher, tracker: Tracker, email: str,
                         lead: str = "") -> Dict[Text, Any]:
        result = await asyncio.to_thread(get_verifier().request_code, tracker.sender_id, email,
                                         client_address(tracker))
        if result.status is SendStatus.SENT:
            dispatcher.utter_message(
                # The same words whether or not the address's own ceiling held the mail back:
                # true either way, and they reveal nothing about anyone else asking.
                text=f"{lead}I've sent a 6-digit code to {mask_email(email)} if it can take one (an address gets "
                "at most 3 codes in 15 minutes, whoever asks). Please type it here; it's valid for "
                f"{get_settings().code_ttl_minutes} minutes. Didn't get it? Say \"new code\". Say \"cancel\" to stop."
            )
            return {"email": email, "otp_code": None, "reprompted": True}
        if result.status is SendStatus.RATE_LIMITED:
            dispatcher.utter_message(
                text=f"{lead}You've asked for several codes in a short time, so I can't send another one yet. "
                f"Please try again after {result.retry_at:%H:%M} UTC on {format_date(result.retry_at)}. "
                "Say \"cancel\" to stop for now."
            )
        else:
            dispatcher.utter_message(
                text=f"{lead}Sorry, I couldn't send the email just now (our mail service didn't accept it). "
                "This did not count against your code limit. Please type your email address again to retry, "
                "or say \"cancel\"."
            )
        return {"email": None, "otp_code": None, "reprompted": True}

    async def validate_otp_code(self, value: Any, dispatcher: CollectingDispatcher,
                                tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value is None:  # a reset, not an answer
            return {"otp_code": None}
        text = str(value or "")
        email = tracker.get_slot("email")
        code = typed_code(text)
        typed_email = extract_email(text)
        if code is None and typed_email and typed_email != email:
            # A corrected address: verification restarts for it (the old code is invalidated
            # by the new send, and the send limits apply as always).
            return await self._send_code(dispatcher, tracker, typed_email,
                                         lead=f"OK, I'll use {mask_email(typed_email)} instead. ")
        if code is None and wants_email_change(text):
            return {"email": None, "otp_code": None}  # the form asks for the address again
        if email and code is None and (_RESEND.search(text) or typed_email):
            return await self._send_code(dispatcher, tracker, email)
        if not email:
            return {"otp_code": None}
        if code is None:
            dispatcher.utter_message(
                text="The code is 6 digits, like 123456. Please type it, say \"new code\" for another one, or \"cancel\"."
            )
            return {"otp_code": None, "reprompted": True}
        result = await asyncio.to_thread(get_verifier().check_code, tracker.sender_id, email, code)
        if result.status is CheckStatus.VERIFIED:
            dispatcher.utter_message(text="Thanks, your email address is verified.")
            return {"otp_code": CODE_MASK, "verified_email": mask_email(email), "reverify": None}
        messages = {
            CheckStatus.WRONG: f"That code isn't right. You have {result.attempts_left} "
            f"{'try' if result.attempts_left == 1 else 'tries'} left. Please type the code again.",
            CheckStatus.EXPIRED: "That code has expired. Say \"new code\" and I'll send a fresh one, or \"cancel\".",
            CheckStatus.LOCKED: "That was the fifth wrong code, so it no longer works. Say \"new code\" for a "
            "fresh one, or \"cancel\".",
            CheckStatus.NO_CODE: "There's no valid code for this conversation any more. Say \"new code\" for a "
            "fresh one, or \"cancel\".",
        }
        dispatcher.utter_message(text=messages[result.status])
        return {"otp_code": None, "reprompted": True}

    async def validate_correction_details(self, value: Any, dispatcher: CollectingDispatcher,
                                          tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value is None:  # a reset, not an answer
            return {"correction_details": None}
        details = " ".join(str(value or "").replace("\x00", "").split())  # PostgreSQL text refuses NUL
        if len(details) < 5:
            dispatcher.utter_message(text="Please tell me what is wrong and what it should be, in a sentence.")
            return {"correction_details": None, "reprompted": True}
        if len(details) > MAX_DETAILS:
            dispatcher.utter_message(text=f"That's a bit long: please keep it under {MAX_DETAILS} characters.")
            return {"correction_details": None, "reprompted": True}
        return {"correction_details": details}

    async def validate_confirmation(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value is None:  # a reset, not an answer
            return {"confirmation": None}
        text = str(value or "")
        intent, _ = _intent(tracker)
        if wants_email_change(text):
            # Back to the address step only; the new address is verified before anything is filed.
            events: Dict[Text, Any] = {"email": None, "otp_code": None, "confirmation": None, "reverify": True}
            typed_email = extract_email(text)
            if typed_email:
                events.update(await self._send_code(dispatcher, tracker, typed_email,
                                                    lead=f"OK, I'll use {mask_email(typed_email)} instead. "))
            return events
        if wants_details_change(text):
            if RequestType.CORRECTION in current_types(tracker):
                return {"correction_details": None, "confirmation": None}
            dispatcher.utter_message(text="There are no details to change for this request. "
                                     "Shall I file it? Say yes to file it, or no to cancel.")
            return {"confirmation": None, "reprompted": True}
        if _YES.search(text) or (intent == "affirm" and not _QUESTION.search(text)):
            stale = await asyncio.to_thread(_deletion_proof_stale, tracker)
            if stale:
                # A deletion can't be undone: the address is proved again, with a code sent now.
                answer = await self._send_code(dispatcher, tracker, stale, lead=text_for(
                    "deletion_fresh_code", minutes=_minutes(DELETION_PROOF_MAX_AGE)) + " ")
                return {**answer, "confirmation": None, "reverify": True}
            return {"confirmation": "yes"}
        dispatcher.utter_message(text="Shall I file it? Say yes to file it, or no to cancel. You can also say "
                                 "\"change the email\" or ask me a question first.")
        return {"confirmation": None, "reprompted": True}


_ADDRESS_TOKEN = re.compile(r"\S+@\S+")


def typed_code(text: str) -> Optional[str]:
    """The code in a message, never digits that are part of an address (jo.552193@x.org)."""
    return extract_code(_ADDRESS_TOKEN.sub(" ", text or ""))


def _person_was_offered(tracker: Tracker) -> bool:
    from actions.handoff_actions import person_was_offered  # handoff_actions imports this module

    return person_was_offered(tracker)


def ranked_request_intent(tracker: Tracker) -> Optional[str]:
    """A request intent among the classifier's three likeliest, when it wasn't sure."""
    for entry in (tracker.latest_message.get("intent_ranking") or [])[:3]:
        if entry.get("name") in SWITCH_INTENTS and float(entry.get("confidence") or 0) >= 0.15:
            return entry["name"]
    return None


def _activated_this_turn(tracker: Tracker) -> bool:
    """True when the form was switched on after the latest user message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "active_loop" and event.get("name") == FORM:
            return True
    return False


def _returning_after_digression(tracker: Tracker) -> bool:
    """True when something else answered the latest message and the form is back."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action_execution_rejected" and event.get("name") == FORM:
            return True
    return False


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
        if _returning_after_digression(tracker):
            dispatcher.utter_message(**self.restated(tracker))
        else:
            dispatcher.utter_message(response=self.response)
        return []

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        raise NotImplementedError


def _about(tracker: Tracker) -> str:
    types = current_types(tracker)
    return f"your {labels(types)} request" if types else "your request"


class ActionAskEmail(_AskAction):
    slot, response = "email", "utter_request_email"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        return {"text": f"Back to {_about(tracker)}: what is your email address? I'll send a 6-digit code to it."}


class ActionAskOtpCode(_AskAction):
    slot, response = "otp_code", "utter_request_code"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        email = tracker.get_slot("email")
        where = f" I sent to {mask_email(email)}" if email else ""
        return {"text": f"Back to {_about(tracker)}: please type the 6-digit code{where}. "
                        "Say \"new code\" if it didn't arrive."}


class ActionAskCorrectionDetails(_AskAction):
    slot, response = "correction_details", "utter_request_correction_details"

    def restated(self, tracker: Tracker) -> Dict[Text, Any]:
        return {"text": "Back to your correction: what is wrong in the data we hold about you, and what should it be?"}


def _retention_note(policy_url: str) -> str:
    retention = get_catalogue().by_id("retention")
    return (
        "Please note: deletion may not cover everything. The policy says we keep data where we are "
        "\"subject to legal, contractual, regulatory, or similar, obligations to retain certain types of data\" "
        f"(for example mandatory data retention laws). See {retention.link(policy_url)}."
    )


CONFIRM_BUTTONS = [{"title": "Yes, file it", "payload": "/affirm"}, {"title": "No, cancel", "payload": "/cancel"}]


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
            return [ActiveLoop(None), SlotSet("requested_slot", None), *_reset_slots()]
        details = tracker.get_slot("correction_details") if RequestType.CORRECTION in types else None
        await asyncio.to_thread(drafts.save_drafts, tracker.sender_id, email, types, details)
        if _returning_after_digression(tracker):
            dispatcher.utter_message(
                text=f"Back to {_about(tracker)} for {email}: shall I file it?"
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
            lines += ["", _retention_note(get_settings().policy_url)]
        lines += ["", "Shall I file them?" if several else "Shall I file it?"]
        dispatcher.utter_message(text="\n".join(lines), buttons=CONFIRM_BUTTONS)
        return []


# Older name kept for callers and tests written before the confirmation joined the form.
ActionSummariseRequest = ActionAskConfirmation


class ActionFileRequest(Action):
    def name(self) -> Text:
        return "action_file_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        verifier = get_verifier()
        email = await asyncio.to_thread(verifier.verified_email, tracker.sender_id)
        if email and await asyncio.to_thread(_deletion_blocked, tracker.sender_id, email):
            # The form asks for a fresh code first; this holds for a typed /affirm that skips it.
            dispatcher.utter_message(text=text_for("deletion_not_filed_stale",
                                                   minutes=_minutes(DELETION_PROOF_MAX_AGE)))
            return _reset_slots()
        confirmed = await asyncio.to_thread(drafts.take_drafts, tracker.sender_id, email) if email else []
        if not confirmed:
            dispatcher.utter_message(
                text="I have nothing confirmed to file (or your verification has expired), so nothing was filed. "
                "You can start again any time."
            )
            return _reset_slots()
        views = []
        for draft in confirmed:
            views.append(await asyncio.to_thread(
                record_request, email, draft.request_type, draft.details, _channel(tracker), tracker.sender_id,
                get_settings().ticket_backend, None, verifier.address_key(email),
            ))
        await _after_recording()
        note = None
        for view in views:  # one copy of the assistant's data, even for access and export together
            note = await asyncio.to_thread(_mail_assistant_export, view, email)
            if note:
                break
        # One reply: the export note belongs to the filing it follows.
        dispatcher.utter_message(text="\n\n".join(filter(None, [_filed_message(views), note])))
        return _reset_slots()


def _minutes(age) -> int:
    return int(age.total_seconds() // 60)


def _deletion_proof_stale(tracker: Tracker) -> Optional[str]:
    """The verified address, when a deletion is confirmed on a proof older than
    DELETION_PROOF_MAX_AGE (imago_core/verification_age.py); None otherwise."""
    if RequestType.DELETION not in current_types(tracker):
        return None
    verifier = get_verifier()
    email = verifier.verified_email(tracker.sender_id)
    if email and deletion_needs_fresh_code(tracker.sender_id, email, now=verifier.clock()):
        return email
    return None


def _deletion_blocked(conversation_id: str, email: str) -> bool:
    """A confirmed deletion draft (the drafts decide what is filed) on a stale proof."""
    return has_pending_deletion(conversation_id) and \
        deletion_needs_fresh_code(conversation_id, email, now=get_verifier().clock())


def _mail_assistant_export(view, email: str) -> Optional[str]:
    """Access and export requests: the assistant's own data, mailed as JSON (imago_core/data_export.py)."""
    from imago_core.data_export import after_request_filed

    return after_request_filed(view.request_type, view.reference, email, view.duplicate)


def _filed_message(views) -> str:
    due = "(one month, as the GDPR requires)"
    if len(views) == 1:
        view = views[0]
        if view.duplicate:
            return (f"You already have an open {view.request_type.short} request: **{view.reference}** "
                    f"(status: {view.status.value}, due by {format_date(view.due_at)}). I haven't filed a second one.")
        return (f"Done. Your {view.request_type.short} request is filed.\n\n"
                f"- Reference: **{view.reference}**\n"
                f"- We must answer by: **{format_date(view.due_at)}** {due}\n\n"
                "Keep the reference. You can ask me for the status at any time.")
    lines = ["Done. Each request is filed separately:"]
    for view in views:
        if view.duplicate:
            lines.append(f"- {view.request_type.short}: you already have an open one, **{view.reference}** "
                         f"(status: {view.status.value}); I haven't filed a second one")
        else:
            lines.append(f"- {view.request_type.short}: **{view.reference}**, answer due by "
                         f"**{format_date(view.due_at)}**")
    lines += ["", "We must answer each within one month, as the GDPR requires. Keep the references; "
              "you can ask me for the status at any time."]
    return "\n".join(lines)


async def _after_recording() -> None:
    """Wakes the delivery loop (imago_core/delivery.py), which starts with the action
    server (imago_core/background.py)."""
    from imago_core.delivery import kick

    kick()


class ActionFinishRequest(Action):
    """The form is done: a status lookup shows the requests, anything else files what
    the confirmed drafts in the database hold (the slot only picks which)."""

    def name(self) -> Text:
        return "action_finish_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        if tracker.get_slot("task") == "status":
            return await ActionShowStatus().run(dispatcher, tracker, domain)
        return await ActionFileRequest().run(dispatcher, tracker, domain)


class ActionShowStatus(Action):
    def name(self) -> Text:
        return "action_show_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        email = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
        if not email:
            dispatcher.utter_message(text="I couldn't confirm your email address, so I can't show any requests.")
            return _reset_slots()
        views = await asyncio.to_thread(_refreshed_requests, email, tracker.sender_id)
        if not views:
            dispatcher.utter_message(text=f"I found no requests for {mask_email(email)}.")
            return _reset_slots()
        lines = [f"Requests for {mask_email(email)}:"]
        for view in views:
            lines.append(
                f"- **{view.reference}** {view.request_type.short}: {view.status.value}"
                + (f", due by {format_date(view.due_at)}" if view.status.is_open else "")
            )
        dispatcher.utter_message(text="\n".join(lines))
        return _reset_slots()


def _refreshed_requests(email: str, conversation_id: str):
    from imago_core.delivery import refresh_statuses

    refresh_statuses(email)
    return requests_for(email, conversation_id)


class ActionCancelTask(Action):
    def name(self) -> Text:
        return "action_cancel_task"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        await asyncio.to_thread(drafts.discard_drafts, tracker.sender_id)
        dispatcher.utter_message(response="utter_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *_reset_slots()]
