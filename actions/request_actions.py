"""Actions for data-subject requests: start, verify, summarise, file, status, cancel.

Security model: slots steer the conversation but never decide anything. Whether
the visitor is verified, and what exactly they confirmed, is read from the
database (VerifiedConversation, RequestDraft), so a typed `/intent{...}` payload
cannot skip verification or confirmation.
"""
from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from imago_core import audit
from imago_core.client_address import CLIENT_ADDRESS_KEY
from imago_core.db import session_scope
from imago_core.models import RequestDraft, RequestType, utcnow
from imago_core.policy import get_catalogue
from imago_core.private_channel import in_shared_room, move_request
from imago_core.privacy_requests import format_date, record_request, requests_for
from imago_core.settings import get_settings
from imago_core.verification import (
    CheckStatus,
    SendStatus,
    Verifier,
    extract_code,
    extract_email,
    mask_email,
    verifier_from_settings,
)

logger = logging.getLogger(__name__)

INTENT_TO_TASK = {
    "request_access": "access",
    "request_deletion": "deletion",
    "request_correction": "correction",
    "request_export": "export",
    "request_marketing_optout": "marketing_optout",
    "request_status": "status",
}
FORM_SLOTS = ["email", "otp_code", "correction_details"]
ACTION_LISTEN = "action_listen"
CODE_MASK = "******"
DRAFT_TTL = timedelta(minutes=30)
_RESEND = re.compile(r"\b(new|another|fresh|resend|re-send|send again|again)\b|did ?n.?t (get|receive|arrive)|not (got|received)|no (code|email)", re.I)
MAX_DETAILS = 2000

_verifier: Optional[Verifier] = None


def get_verifier() -> Verifier:
    global _verifier
    if _verifier is None:
        _verifier = verifier_from_settings()
    return _verifier


def set_verifier(verifier: Optional[Verifier]) -> None:
    """Tests inject a verifier with their own mailer and clock."""
    global _verifier
    _verifier = verifier


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


def _reset_slots() -> List[Dict[Text, Any]]:
    return [SlotSet(name, None) for name in (*FORM_SLOTS, "task", "reprompted")]


class ActionStartTask(Action):
    """Remembers what the visitor asked for; the request form then verifies them."""

    def name(self) -> Text:
        return "action_start_task"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        task = INTENT_TO_TASK.get(intent)
        if task is None:
            dispatcher.utter_message(response="utter_default")
            return []
        if in_shared_room(_latest_metadata(tracker)):
            # Nobody else in the room may see the email or code prompts: no form here.
            dispatcher.utter_message(json_message=move_request(task))
            return [FollowupAction(ACTION_LISTEN)]
        if task == "status":
            dispatcher.utter_message(text="I can look up your requests once I've checked your email address.")
        else:
            label = RequestType(task).label
            dispatcher.utter_message(text=f"I can file that for you: **{label}**.")
        return [*_reset_slots(), SlotSet("task", task)]  # a fresh start, then the new task


class ValidateRequestForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_request_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        needed: List[Text] = []
        verified = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
        if not verified:
            needed += ["email", "otp_code"]
        if tracker.get_slot("task") == "correction":
            needed.append("correction_details")
        return needed

    async def validate_email(self, value: Any, dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        email = extract_email(str(value or ""))
        if email is None:
            dispatcher.utter_message(
                text="That doesn't look like an email address. Please type it like name@example.com, or say \"cancel\"."
            )
            return {"email": None, "reprompted": True}
        return await self._send_code(dispatcher, tracker, email)

    async def _send_code(self, dispatcher: CollectingDispatcher, tracker: Tracker, email: str) -> Dict[Text, Any]:
        result = await asyncio.to_thread(get_verifier().request_code, tracker.sender_id, email,
                                         client_address(tracker))
        if result.status is SendStatus.SENT:
            dispatcher.utter_message(
                text=f"I've sent a 6-digit code to {mask_email(email)}. Please type it here; it's valid for "
                f"{get_settings().code_ttl_minutes} minutes. Didn't get it? Say \"new code\". Say \"cancel\" to stop."
            )
            return {"email": email, "otp_code": None, "reprompted": True}
        if result.status is SendStatus.RATE_LIMITED:
            dispatcher.utter_message(
                text="You've asked for several codes in a short time, so I can't send another one yet. "
                f"Please try again after {result.retry_at:%H:%M} UTC on {format_date(result.retry_at)}. "
                "Say \"cancel\" to stop for now."
            )
        else:
            dispatcher.utter_message(
                text="Sorry, I couldn't send the email just now (our mail service didn't accept it). "
                "This did not count against your code limit. Please type your email address again to retry, "
                "or say \"cancel\"."
            )
        return {"email": None, "otp_code": None, "reprompted": True}

    async def validate_otp_code(self, value: Any, dispatcher: CollectingDispatcher,
                                tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        text = str(value or "")
        email = tracker.get_slot("email")
        code = extract_code(text)
        if email and code is None and _RESEND.search(text):
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
            return {"otp_code": CODE_MASK, "verified_email": mask_email(email)}
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
        details = " ".join(str(value or "").replace("\x00", "").split())  # PostgreSQL text refuses NUL
        if len(details) < 5:
            dispatcher.utter_message(text="Please tell me what is wrong and what it should be, in a sentence.")
            return {"correction_details": None, "reprompted": True}
        if len(details) > MAX_DETAILS:
            dispatcher.utter_message(text=f"That's a bit long: please keep it under {MAX_DETAILS} characters.")
            return {"correction_details": None, "reprompted": True}
        return {"correction_details": details}


class _AskAction(Action):
    """Asks for a form slot unless the validator has just asked in its own words."""

    slot = ""
    response = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        if tracker.get_slot("reprompted"):
            return [SlotSet("reprompted", None)]
        dispatcher.utter_message(response=self.response)
        return []


class ActionAskEmail(_AskAction):
    slot, response = "email", "utter_request_email"


class ActionAskOtpCode(_AskAction):
    slot, response = "otp_code", "utter_request_code"


class ActionAskCorrectionDetails(_AskAction):
    slot, response = "correction_details", "utter_request_correction_details"


def _retention_note(policy_url: str) -> str:
    retention = get_catalogue().by_id("retention")
    return (
        "Please note: deletion may not cover everything. The policy says we keep data where we are "
        "\"subject to legal, contractual, regulatory, or similar, obligations to retain certain types of data\" "
        f"(for example mandatory data retention laws). See {retention.link(policy_url)}."
    )


class ActionSummariseRequest(Action):
    """Shows what will be filed and asks for confirmation; remembers it in the database."""

    def name(self) -> Text:
        return "action_summarise_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        email = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
        task = tracker.get_slot("task")
        if not email or task not in {t.value for t in RequestType}:
            dispatcher.utter_message(
                text="I couldn't confirm your email address, so nothing was filed. You can start again any time."
            )
            return _reset_slots()
        request_type = RequestType(task)
        details = tracker.get_slot("correction_details") if request_type is RequestType.CORRECTION else None
        await asyncio.to_thread(_save_draft, tracker.sender_id, email, request_type, details)
        lines = [
            "Here's what I'll send to the privacy team:",
            f"- Request: {request_type.label}",
            f"- Email: {email}",
        ]
        if details:
            lines.append(f"- Details: {details}")
        if request_type is RequestType.DELETION:
            lines += ["", _retention_note(get_settings().policy_url)]
        lines += ["", "Shall I file it?"]
        dispatcher.utter_message(
            text="\n".join(lines),
            buttons=[{"title": "Yes, file it", "payload": "/affirm"}, {"title": "No, cancel", "payload": "/cancel"}],
        )
        return []


def _save_draft(conversation_id: str, email: str, request_type: RequestType, details: Optional[str]) -> None:
    with session_scope() as session:
        for old in session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id, RequestDraft.consumed_at.is_(None)
        )).scalars():
            old.consumed_at = utcnow()
        session.add(RequestDraft(conversation_id=conversation_id, email=email, request_type=request_type,
                                 details=details.replace("\x00", "") if details else details))


def _take_draft(conversation_id: str, email: str) -> Optional[RequestDraft]:
    """The confirmed draft: this conversation's latest, unconsumed, fresh, same address."""
    with session_scope() as session:
        draft = session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id,
            RequestDraft.consumed_at.is_(None),
            RequestDraft.created_at > utcnow() - DRAFT_TTL,
        ).order_by(RequestDraft.id.desc()).limit(1)).scalar_one_or_none()
        if draft is None or draft.email != email:
            return None
        draft.consumed_at = utcnow()
        return draft


class ActionFileRequest(Action):
    def name(self) -> Text:
        return "action_file_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        verifier = get_verifier()
        email = await asyncio.to_thread(verifier.verified_email, tracker.sender_id)
        draft = await asyncio.to_thread(_take_draft, tracker.sender_id, email) if email else None
        if draft is None:
            dispatcher.utter_message(
                text="I have nothing confirmed to file (or your verification has expired), so nothing was filed. "
                "You can start again any time."
            )
            return _reset_slots()
        view = await asyncio.to_thread(
            record_request, email, draft.request_type, draft.details, _channel(tracker), tracker.sender_id,
            get_settings().ticket_backend, None, verifier.address_key(email),
        )
        await _after_recording()
        if view.duplicate:
            dispatcher.utter_message(
                text=f"You already have an open {view.request_type.short} request: **{view.reference}** "
                f"(status: {view.status.value}, due by {format_date(view.due_at)}). I haven't filed a second one."
            )
        else:
            dispatcher.utter_message(
                text=f"Done. Your {view.request_type.short} request is filed.\n\n"
                f"- Reference: **{view.reference}**\n"
                f"- We must answer by: **{format_date(view.due_at)}** (one month, as the GDPR requires)\n\n"
                "Keep the reference. You can ask me for the status at any time."
            )
            export_note = await asyncio.to_thread(_mail_assistant_export, view, email)
            if export_note:
                dispatcher.utter_message(text=export_note)
        return _reset_slots()


def _mail_assistant_export(view, email: str) -> Optional[str]:
    """Access and export requests: the assistant's own data, mailed as JSON (actions/data_export.py)."""
    from imago_core.data_export import after_request_filed

    return after_request_filed(view.request_type, view.reference, email, view.duplicate)


async def _after_recording() -> None:
    """Wakes the delivery loop (imago_core/delivery.py), which starts with the action
    server (imago_core/background.py)."""
    from imago_core.delivery import kick

    kick()


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
        await asyncio.to_thread(_discard_drafts, tracker.sender_id)
        dispatcher.utter_message(response="utter_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *_reset_slots()]


def _discard_drafts(conversation_id: str) -> None:
    with session_scope() as session:
        for draft in session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id, RequestDraft.consumed_at.is_(None)
        )).scalars():
            draft.consumed_at = utcnow()
    audit.record("task_cancelled", conversation_id=conversation_id)
