"""Questions about a request, answered from its facts, and requests asked as questions.

- Inside a request, or once this conversation has filed one, "how long will that
  take?", "what's next?", "who handles it?", "does it cost anything?" and "can I
  cancel it?" are answered from the request itself (deadline and date, reference,
  the privacy team and how the visitor hears back, free of charge under GDPR Art.
  12(5)); the digression rules then bring the form back. Whatever intent the
  classifier chose, the actions that could receive such a message ask
  `answer_request_question` first.
- "Can I delete my account and also unsubscribe?" names two requests inside a
  question: the section is answered as usual, and every type named is offered, one
  button each (`offer_requests`); a "yes" or an email address next starts them.

The words are Rasa responses in domain.yml (utter_request_*, utter_offer_requests_*).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import label, labels, language_of, t
from actions.request_form.common import current_types, form_is_active
from imago_core.identity.codes import get_verifier, mask_email
from imago_core.language.dates import format_date
from imago_core.requests.clocks import due_date, regimes_from_setting
from imago_core.requests.questions import (
    RequestQuestion,
    request_question,
    requests_in_question,
)
from imago_core.requests.records import RequestView, requests_filed_in
from imago_core.settings import get_settings
from imago_core.storage.models import RequestType, utcnow

OFFERED_SLOT = "offered_tasks"

# Which intent's payload starts each request type (data/rules/requests.yml).
_TYPE_INTENTS = {
    RequestType.ACCESS: "/request_access",
    RequestType.DELETION: "/request_deletion",
    RequestType.CORRECTION: "/request_correction",
    RequestType.EXPORT: "/request_export",
    RequestType.MARKETING_OPTOUT: "/request_marketing_optout",
}


@dataclass
class RequestContext:
    pending: List[RequestType]  # under way in the form, not filed yet
    filed: List[RequestView]  # filed by this conversation (the latest filing)
    email: Optional[str] = None


async def request_context(tracker: Tracker) -> Optional[RequestContext]:
    """The request the visitor can be asking about: the one under way, else the
    latest one this conversation filed; None when there is neither."""
    if form_is_active(tracker) and current_types(tracker):
        return RequestContext(current_types(tracker), [])
    filed = await asyncio.to_thread(requests_filed_in, tracker.sender_id)
    if not filed:
        return None
    latest = filed[-1].received_at
    # One filing can file several requests a moment apart: they are answered together.
    group = [v for v in filed if abs((latest - v.received_at).total_seconds()) < 60]
    email = await asyncio.to_thread(get_verifier().verified_email, tracker.sender_id)
    return RequestContext([], group, email)


def _pending_due(pending: Sequence[RequestType]):
    """The date the law would give a request filed now: the earliest of its regimes'
    deadlines (imago_core/requests/clocks), the soonest of the types under way."""
    regimes = regimes_from_setting(get_settings().regimes)
    return min(due_date(utcnow(), kind.value, regimes).due for kind in pending)


def _reply(kind: RequestQuestion, context: RequestContext, tracker: Tracker) -> Dict[Text, str]:
    settings, language = get_settings(), language_of(tracker)
    team = settings.privacy_team_email
    if kind is RequestQuestion.COST:
        return {"response": "utter_request_cost"}
    if context.pending:
        requests = labels(tracker, context.pending)
        return {
            RequestQuestion.DEADLINE: {"response": "utter_request_deadline_pending", "requests": requests,
                                       "date": format_date(_pending_due(context.pending), language)},
            RequestQuestion.NEXT: {"response": "utter_request_next_pending", "requests": requests},
            RequestQuestion.WHO: {"response": "utter_request_who_pending"},
            RequestQuestion.CANCEL: {"response": "utter_request_cancel_pending", "team_email": team},
        }[kind]
    views = context.filed
    facts = {
        "requests": labels(tracker, [v.request_type for v in views]),
        "reference": ", ".join(v.reference for v in views),
        "date": format_date(min(v.due_at for v in views), language),
        "address": mask_email(context.email) if context.email else t(tracker, "request.verified_address_fallback"),
        "team_email": team,
    }
    response = {
        RequestQuestion.DEADLINE: "utter_request_deadline_filed",
        RequestQuestion.NEXT: "utter_request_next_filed",
        RequestQuestion.WHO: "utter_request_who_filed",
        RequestQuestion.CANCEL: "utter_request_cancel_filed",
    }[kind]
    return {"response": response, **facts}


async def answer_request_question(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List]:
    """Answers a question about the request under way or just filed and returns the
    events; None when the message is not one (or there is no such request)."""
    kind = request_question(tracker.latest_message.get("text") or "")
    if kind is None:
        return None
    context = await request_context(tracker)
    if context is None:
        return None
    dispatcher.utter_message(**_reply(kind, context, tracker))
    return [SlotSet("fallback_count", 0)]


def _user_turns(tracker: Tracker) -> int:
    return sum(1 for event in tracker.events if event.get("event") == "user")


def offer_requests(dispatcher: CollectingDispatcher, tracker: Tracker,
                   types: Optional[Sequence[RequestType]] = None) -> List:
    """Offers every request type the question named, one button each; remembered for
    one turn so that a "yes" or an email address next starts them."""
    types = list(types if types is not None else requests_in_question(tracker.latest_message.get("text") or ""))
    if not types:
        return []
    buttons = [{"title": label(tracker, kind), "payload": _TYPE_INTENTS[kind]} for kind in types]
    response = "utter_offer_requests_one" if len(types) == 1 else "utter_offer_requests_several"
    dispatcher.utter_message(response=response, requests=labels(tracker, types), buttons=buttons)
    return [SlotSet(OFFERED_SLOT, {"types": [kind.value for kind in types], "turn": _user_turns(tracker)})]


def offered_types(tracker: Tracker) -> List[RequestType]:
    """The request types offered in reply to the visitor's previous message."""
    offer = tracker.get_slot(OFFERED_SLOT) or {}
    if not isinstance(offer, dict) or offer.get("turn") != _user_turns(tracker) - 1:
        return []
    return [RequestType(value) for value in offer.get("types") or [] if value in {t.value for t in RequestType}]
