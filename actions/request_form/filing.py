"""Filing what the visitor confirmed: one record per request type, the delivery loop
woken, and the assistant's own data mailed for access and export.
"""
from __future__ import annotations

import asyncio
import logging
from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.language import language_of, t
from actions.request_form.common import channel_of, reset_slots
from actions.request_form.freshness import deletion_blocked, minutes_of
from actions.request_form.replies import filed_message
from actions.request_form.status import ActionShowStatus
from imago_core.delivery.loop import kick
from imago_core.identity.codes import (
    get_verifier,
)
from imago_core.identity.verification_age import DELETION_PROOF_MAX_AGE
from imago_core.requests.clocks import regimes_volunteered
from imago_core.requests.confirmation import send_due as send_confirmations
from imago_core.requests.export import after_request_filed
from imago_core.requests.filing import file_confirmed
from imago_core.settings import get_settings

logger = logging.getLogger(__name__)


class ActionFileRequest(Action):
    def name(self) -> Text:
        return "action_file_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List:
        verifier = get_verifier()
        email = await asyncio.to_thread(verifier.verified_email, tracker.sender_id)
        if email and await asyncio.to_thread(deletion_blocked, tracker.sender_id, email):
            # The form asks for a fresh code first; this holds for a typed /affirm that skips it.
            dispatcher.utter_message(text=t(tracker, "request.deletion_not_filed_stale",
                                            minutes=minutes_of(DELETION_PROOF_MAX_AGE)))
            return reset_slots()
        # One transaction for all drafts; a turn run again after a crash gets what was filed
        # (imago_core/requests/filing.py).
        filing = await asyncio.to_thread(
            file_confirmed, tracker.sender_id, email, channel_of(tracker), get_settings().ticket_backend,
            verifier.address_key(email), volunteered=volunteered_regimes(tracker),
            language=language_of(tracker)) if email else None
        if not filing or not filing.views:
            dispatcher.utter_message(text=t(tracker, "request.nothing_to_file"))
            return reset_slots()
        views = filing.views
        await after_recording()
        try:
            await asyncio.to_thread(send_confirmations, [view.reference for view in views if not view.duplicate])
        except Exception:  # noqa: BLE001 - filed and due: the confirmation-mails job sends it later
            logger.warning("confirmation mail not sent now; it stays due")
        note = None
        for view in views if not filing.replayed else []:  # one copy of the assistant's data, even for both
            note = await asyncio.to_thread(mail_assistant_export, view, email, language_of(tracker))
            if note:
                break
        # One reply: the export note belongs to the filing it follows.
        dispatcher.utter_message(text="\n\n".join(filter(None, [filed_message(views, tracker), note])))
        return reset_slots()


def volunteered_regimes(tracker: Tracker) -> frozenset:
    """The regimes the visitor's own messages put them under ("I live in California"):
    only what they wrote, never the assistant's replies (docs/legal-clocks.md)."""
    found: set = set()
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            found |= regimes_volunteered(event["text"])
    return frozenset(found)


def mail_assistant_export(view, email: str, language: str = "en") -> Optional[str]:
    """Access and export requests: the assistant's own data, mailed as JSON (imago_core/requests/export.py)."""
    return after_request_filed(view.request_type, view.reference, email, view.duplicate, language=language)


async def after_recording() -> None:
    """Wakes the delivery loop (imago_core/delivery/loop.py), which starts with the action
    server (imago_core/service.py)."""
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
