"""The request form's validation: each answer checked, and a message that is not an
answer let through to its own rule (data/rules/digressions.yml).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import ActionExecutionRejected, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.address_locked import say_address_locked
from actions.handoff_actions import person_was_offered
from actions.language import language_of, t
from actions.request_form.common import (
    CHITCHAT_INTENTS,
    CODE_MASK,
    CORRECTION_CUES,
    FORM,
    MAX_DETAILS,
    QUESTION,
    RESEND,
    SWITCH_INTENTS,
    YES,
    activated_this_turn,
    client_address,
    current_types,
    form_is_active,
    intent_of,
    ranked_request_intent,
    typed_code,
)
from actions.request_form.freshness import deletion_proof_stale, minutes_of
from imago_core.identity.codes import (
    CheckStatus,
    SendStatus,
    extract_email,
    get_verifier,
    mask_email,
)
from imago_core.identity.verification_age import DELETION_PROOF_MAX_AGE
from imago_core.policy import get_catalogue
from imago_core.requests.deadlines import format_date
from imago_core.requests.flow import (
    asks_for_person,
    requested_types,
    sounds_like_complaint,
    wants_details_change,
    wants_email_change,
)
from imago_core.requests.questions import request_question
from imago_core.settings import get_settings
from imago_core.storage.models import RequestType

logger = logging.getLogger(__name__)


class ValidateRequestForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_request_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        candidates = tracker.slots_to_validate()
        step = tracker.get_slot("requested_slot")
        # At activation Rasa validates before the form counts as active (rasa/core/actions/forms.py, activate).
        if activated_this_turn(tracker) or not form_is_active(tracker):
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
        intent, confidence = intent_of(tracker)
        if step == "email" and extract_email(text):
            return False
        if step == "otp_code" and (typed_code(text) or extract_email(text) or RESEND.search(text)
                                   or wants_email_change(text)):
            return False
        if step == "confirmation" and (wants_email_change(text) or wants_details_change(text)):
            return False
        if request_question(text) and QUESTION.search(text):
            return True  # "how long will that take?": answered from the request's facts, then back here
        if intent == "affirm" and step != "confirmation" and person_was_offered(tracker):
            return True  # "yes" to the offer of a person (data/rules/digressions.yml)
        if step in ("email", "otp_code", "confirmation") and intent == "deny":
            return True  # data/rules/requests.yml: a "no" instead of an answer cancels
        if step == "correction_details":
            if CORRECTION_CUES.search(text) or confidence < 0.6 or intent == "request_correction":
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
        return intent == "nlu_fallback" and bool(QUESTION.search(text))

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
            dispatcher.utter_message(text=t(tracker, "request.email_invalid"))
            return {"email": None, "reprompted": True}
        return await self._send_code(dispatcher, tracker, email)

    async def _send_code(self, dispatcher: CollectingDispatcher, tracker: Tracker, email: str,
                         lead: str = "") -> Dict[Text, Any]:
        result = await asyncio.to_thread(get_verifier().request_code, tracker.sender_id, email,
                                         client_address(tracker), language_of(tracker))
        if result.status is SendStatus.SENT:
            dispatcher.utter_message(
                # The same words whether or not the address's own ceiling held the mail back:
                # true either way, and they reveal nothing about anyone else asking.
                text=lead + t(tracker, "request.code_sent", address=mask_email(email),
                              minutes=get_settings().code_ttl_minutes)
            )
            return {"email": email, "otp_code": None, "reprompted": True}
        if result.status is SendStatus.ADDRESS_LOCKED:
            if lead:
                dispatcher.utter_message(text=lead.strip())
            return say_address_locked(dispatcher, result.retry_at)
        if result.status is SendStatus.RATE_LIMITED:
            dispatcher.utter_message(
                text=lead + t(tracker, "request.code_rate_limited", time=f"{result.retry_at:%H:%M}",
                              date=format_date(result.retry_at, language_of(tracker)))
            )
        else:
            dispatcher.utter_message(
                text=lead + t(tracker, "request.code_mail_failed")
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
                                         lead=t(tracker, "request.use_instead", address=mask_email(typed_email)))
        if code is None and wants_email_change(text):
            return {"email": None, "otp_code": None}  # the form asks for the address again
        if email and code is None and (RESEND.search(text) or typed_email):
            return await self._send_code(dispatcher, tracker, email)
        if not email:
            return {"otp_code": None}
        if code is None:
            dispatcher.utter_message(
                text=t(tracker, "request.code_format")
            )
            return {"otp_code": None, "reprompted": True}
        result = await asyncio.to_thread(get_verifier().check_code, tracker.sender_id, email, code)
        if result.status is CheckStatus.NO_CODE and await asyncio.to_thread(
                get_verifier().verified_email, tracker.sender_id) == email:
            # Already verified for this address: the turn that accepted the code was lost in
            # a crash and the code comes again (issue 21). The proof exists; asking for a
            # new code would lose the visitor's place, and accepting grants nothing new.
            result = type(result)(CheckStatus.VERIFIED)
        if result.status is CheckStatus.VERIFIED:
            dispatcher.utter_message(text=t(tracker, "request.code_verified"))
            return {"otp_code": CODE_MASK, "verified_email": mask_email(email), "reverify": None}
        if result.status is CheckStatus.ADDRESS_LOCKED:
            return say_address_locked(dispatcher, result.locked_until)
        messages = {
            CheckStatus.WRONG: t(tracker, "request.code_wrong_one" if result.attempts_left == 1 else "request.code_wrong",
                                 left=result.attempts_left),
            CheckStatus.EXPIRED: t(tracker, "request.code_expired"),
            CheckStatus.LOCKED: t(tracker, "request.code_locked"),
            CheckStatus.NO_CODE: t(tracker, "request.code_none"),
        }
        dispatcher.utter_message(text=messages[result.status])
        return {"otp_code": None, "reprompted": True}

    async def validate_correction_details(self, value: Any, dispatcher: CollectingDispatcher,
                                          tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value is None:  # a reset, not an answer
            return {"correction_details": None}
        details = " ".join(str(value or "").replace("\x00", "").split())  # PostgreSQL text refuses NUL
        if len(details) < 5:
            dispatcher.utter_message(text=t(tracker, "request.details_short"))
            return {"correction_details": None, "reprompted": True}
        if len(details) > MAX_DETAILS:
            dispatcher.utter_message(text=t(tracker, "request.details_long", limit=MAX_DETAILS))
            return {"correction_details": None, "reprompted": True}
        return {"correction_details": details}

    async def validate_confirmation(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value is None:  # a reset, not an answer
            return {"confirmation": None}
        text = str(value or "")
        intent, _ = intent_of(tracker)
        if wants_email_change(text):
            # Back to the address step only; the new address is verified before anything is filed.
            events: Dict[Text, Any] = {"email": None, "otp_code": None, "confirmation": None, "reverify": True}
            typed_email = extract_email(text)
            if typed_email:
                events.update(await self._send_code(dispatcher, tracker, typed_email,
                                                    lead=t(tracker, "request.use_instead",
                                                           address=mask_email(typed_email))))
            return events
        if wants_details_change(text):
            if RequestType.CORRECTION in current_types(tracker):
                return {"correction_details": None, "confirmation": None}
            dispatcher.utter_message(text=t(tracker, "request.no_details"))
            return {"confirmation": None, "reprompted": True}
        if YES.search(text) or (intent == "affirm" and not QUESTION.search(text)):
            stale = await asyncio.to_thread(deletion_proof_stale, tracker)
            if stale:
                # A deletion can't be undone: the address is proved again, with a code sent now.
                answer = await self._send_code(dispatcher, tracker, stale, lead=t(
                    tracker, "request.deletion_fresh_code", minutes=minutes_of(DELETION_PROOF_MAX_AGE)) + " ")
                return {**answer, "confirmation": None, "reverify": True}
            return {"confirmation": "yes"}
        dispatcher.utter_message(text=t(tracker, "request.confirm_hint"))
        return {"confirmation": None, "reprompted": True}
