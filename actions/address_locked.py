"""The reply to a visitor whose address has had too many wrong codes (issue 23,
finding 1): its words are the domain's `utter_address_locked`; this fills them in."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional, Text

from rasa_sdk.executor import CollectingDispatcher

from imago_core.requests.deadlines import format_date
from imago_core.settings import get_settings


def say_address_locked(dispatcher: CollectingDispatcher, until: Optional[datetime]) -> Dict[Text, Any]:
    """Utters the reply and returns the slots to set: the address is dropped, so the
    next message may name another one (or cancel), and the form does not ask again
    in its own words straight after (reprompted)."""
    when = f"{until:%H:%M} UTC on {format_date(until)}" if until else "later"
    dispatcher.utter_message(response="utter_address_locked", until=when,
                             team_email=get_settings().privacy_team_email)
    return {"email": None, "otp_code": None, "reprompted": True}
