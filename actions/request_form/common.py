"""The request flow's shared vocabulary: the form, its slots, the intents that start or
interrupt it, and what the actions read from the tracker (steering only: what is
verified and confirmed is read from the database).
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from imago_core.identity.client_address import CLIENT_ADDRESS_KEY
from imago_core.identity.codes import (
    extract_code,
)
from imago_core.storage.models import RequestType

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


RESEND = re.compile(r"\b(new|another|fresh|resend|re-send|send again|again)\b|did ?n.?t (get|receive|arrive)|not (got|received)|no (code|email)"
                    # Chinese: "新驗證碼", "再寄一個", "收唔到", "没收到"
                    r"|新驗證碼|新验证码|新嘅驗證碼|再寄|再發|再发|重新發送|重新发送|收唔到|收不到|沒收到|没收到|未收到|冇收到", re.I)


YES = re.compile(r"^\W*(y|yes|yeah|yep|yup|sure|ok|okay|please do|go ahead|do it|file it|confirm\w*|correct)\b"
                 # Chinese ("係", "好", "是的", "冇問題"), unless a negation follows ("係唔係", "好唔好");
                 # 唔該 ("please", "thanks") is not one.
                 r"|^\W*(?:係|好|是|冇問題|沒問題|没问题|無問題|可以|確認|确认|提交|對|对|得|當然|当然)(?!.*(?:唔(?!該|该)|不|別|别))",
                 re.I)


QUESTION = re.compile(r"[?？]\s*$|^\W*(what|why|how|who|whom|when|where|which|do|does|did|can|could|is|are|will|would|should)\b"
                      r"|(?:嗎|吗|呢|咩|未呀)\W*$|點解|为什么|為甚麼|為什麼|幾時|几时|邊個|谁|誰|點樣|怎样|怎麼|怎么", re.I)


# Details of a correction are free text; these words say it is one, whatever the intent.
CORRECTION_CUES = re.compile(r"should be|is wrong|was wrong|spelled|spelt|instead of|incorrect|not correct|"
                              r"misspel|changed|my (?:name|surname|address|phone|birthday|date of birth)"
                              r"|應該係|應該是|应该是|錯咗|错了|錯了|串錯|拼錯|拼错|寫錯|写错|唔啱|不对|不對|改成|改為|改为", re.I)


MAX_DETAILS = 2000


# Messages that are not an answer to the form's question: answered by their own rule,
# then the form comes back (data/rules/digressions.yml).
CHITCHAT_INTENTS = {"greet", "thank", "bot_challenge", "ask_capabilities", "out_of_scope", "ask_code_purpose",
                    "policy_silent", "request_human", "report_urgent", "request_status", "follow_up"}


SWITCH_INTENTS = {intent for intent, task in INTENT_TO_TASK.items() if task != "status"}


def channel_of(tracker: Tracker) -> str:
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


def latest_metadata(tracker: Tracker) -> Dict[Text, Any]:
    return tracker.latest_message.get("metadata") or {}


def reset_slots(tracker: Optional[Tracker] = None) -> List[Dict[Text, Any]]:
    """Clears the request's slots (only those set, when the tracker is given: a form
    reads every slot event of the turn as a candidate answer)."""
    names = (*FORM_SLOTS, "task", "tasks", "reprompted", "reverify", "offered_tasks")
    return [SlotSet(name, None) for name in names if tracker is None or tracker.get_slot(name) is not None]


def is_payload(text: str) -> bool:
    """A button's payload ("/request_deletion"), not words the visitor typed."""
    return (text or "").lstrip().startswith("/")


def intent_of(tracker: Tracker) -> tuple:
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def current_types(tracker: Tracker) -> List[RequestType]:
    """The request types under way (steering only: what is filed comes from the drafts)."""
    values = tracker.get_slot("tasks") or []
    if not values and tracker.get_slot("task") in {t.value for t in RequestType}:
        values = [tracker.get_slot("task")]
    return [RequestType(v) for v in values if v in {t.value for t in RequestType}]


def form_is_active(tracker: Tracker) -> bool:
    return (tracker.active_loop or {}).get("name") == FORM


def type_slots(types: List[RequestType], task: str) -> List[Dict[Text, Any]]:
    values = [kind.value for kind in types]
    return [SlotSet("task", task if task in values else values[0]), SlotSet("tasks", values)]


ADDRESS_TOKEN = re.compile(r"\S+@\S+")


def typed_code(text: str) -> Optional[str]:
    """The code in a message, never digits that are part of an address (jo.552193@x.org)."""
    return extract_code(ADDRESS_TOKEN.sub(" ", text or ""))


def ranked_request_intent(tracker: Tracker) -> Optional[str]:
    """A request intent among the classifier's three likeliest, when it wasn't sure."""
    for entry in (tracker.latest_message.get("intent_ranking") or [])[:3]:
        if entry.get("name") in SWITCH_INTENTS and float(entry.get("confidence") or 0) >= 0.15:
            return entry["name"]
    return None


def activated_this_turn(tracker: Tracker) -> bool:
    """True when the form was switched on after the latest user message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "active_loop" and event.get("name") == FORM:
            return True
    return False


def returning_after_digression(tracker: Tracker) -> bool:
    """True when something else answered the latest message and the form is back."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action_execution_rejected" and event.get("name") == FORM:
            return True
    return False
