"""Masks one-time codes in conversation events before they are stored.

A code is typed as an ordinary user message, so Rasa would keep it in clear in the
tracker store. A user message is treated as a code answer when the verification
form had asked for the code (the last `requested_slot` set before it is
`otp_code`); every digit run in it is masked, and the `otp_code` slot is masked
wherever it appears. While a code is outstanding, 6-digit runs are masked in every
message. The client address the channels add to message metadata (for the send
limits) is not stored.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from imago_core.identity.client_address import CLIENT_ADDRESS_KEY
from imago_core.settings import get_settings

CODE_SLOT = "otp_code"
MASK = "******"
_DIGITS = re.compile(r"\d[\d\s-]{2,}\d|\d{3,}")


_CODE_LIKE = re.compile(r"(?<!\d)\d{3}[\s-]?\d{3}(?!\d)")


def mask_digits(text: str) -> str:
    return _DIGITS.sub(MASK, text)


def mask_code_like(text: str) -> str:
    """Masks 6-digit runs ("482913", "482 913") only: a safety net for text that is
    not a known answer to the code question."""
    return _CODE_LIKE.sub(MASK, text)


def redact_event_dicts(events: Iterable[Dict[str, Any]],
                       code_ttl_seconds: Optional[float] = None) -> Iterator[Dict[str, Any]]:
    """Yields copies of serialised events with code answers masked.

    Two rules: an answer to the code question has every digit run masked; and while a
    code is outstanding (sent, not yet accepted, younger than the code TTL) any
    6-digit run in any message is masked too, so a code typed after "cancel" or
    in the middle of another question is not stored either.
    """
    ttl = _code_ttl_seconds() if code_ttl_seconds is None else code_ttl_seconds
    awaiting_code = False
    code_sent_at: Optional[float] = None
    for event in events:
        kind, name, value = event.get("event"), event.get("name"), event.get("value")
        if kind == "slot" and name == "requested_slot":
            awaiting_code = value == CODE_SLOT
        if kind == "active_loop" and name is None:
            awaiting_code = False
        if kind == "slot" and ((name == "requested_slot" and value == CODE_SLOT) or (name == "email" and value)):
            code_sent_at = _timestamp(event, code_sent_at)
        if kind == "slot" and name in (CODE_SLOT, "verified_email") and value:
            code_sent_at = None  # the code was accepted: nothing outstanding
        if kind == "user" and awaiting_code:
            event = _mask_user_event(event, mask_digits)
        elif kind == "user" and code_sent_at is not None and _timestamp(event, code_sent_at) - code_sent_at <= ttl:
            event = _mask_user_event(event, mask_code_like)
        elif kind == "slot" and name == CODE_SLOT and value:
            event = {**event, "value": MASK}
        if kind == "user" and CLIENT_ADDRESS_KEY in (event.get("metadata") or {}):
            event = {**event, "metadata": {k: v for k, v in event["metadata"].items() if k != CLIENT_ADDRESS_KEY}}
        yield event


def _timestamp(event: Dict[str, Any], default: Optional[float]) -> float:
    value = event.get("timestamp")
    return float(value) if isinstance(value, (int, float)) else (default or 0.0)


def _code_ttl_seconds() -> float:
    try:
        return get_settings().code_ttl_minutes * 60.0
    except Exception:  # noqa: BLE001 - masking must work even with broken settings
        return 600.0


def _mask_user_event(event: Dict[str, Any], mask: Callable[[str], str]) -> Dict[str, Any]:
    masked = copy.deepcopy(event)
    if masked.get("text"):
        masked["text"] = mask(masked["text"])
    parse_data = masked.get("parse_data") or {}
    if parse_data.get("text"):
        parse_data["text"] = mask(parse_data["text"])
    for entity in parse_data.get("entities") or []:
        if isinstance(entity.get("value"), str):
            entity["value"] = mask(entity["value"])
    return masked


def redact_all(events: List[Dict[str, Any]], code_ttl_seconds: Optional[float] = None) -> List[Dict[str, Any]]:
    return list(redact_event_dicts(events, code_ttl_seconds))
