"""Masks one-time codes in conversation events before they are stored.

A code is typed as an ordinary user message, so Rasa would keep it in clear in the
tracker store. A user message is treated as a code answer when the verification
form had asked for the code (the last `requested_slot` set before it is
`otp_code`); every digit run in it is masked, and the `otp_code` slot is masked
wherever it appears.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Dict, Iterable, Iterator, List

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


def redact_event_dicts(events: Iterable[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
    """Yields copies of serialised events with code answers masked."""
    awaiting_code = False
    for event in events:
        kind = event.get("event")
        if kind == "slot" and event.get("name") == "requested_slot":
            awaiting_code = event.get("value") == CODE_SLOT
        if kind == "active_loop" and event.get("name") is None:
            awaiting_code = False
        if kind == "user" and awaiting_code:
            event = _mask_user_event(event)
        elif kind == "slot" and event.get("name") == CODE_SLOT and event.get("value"):
            event = {**event, "value": MASK}
        yield event


def _mask_user_event(event: Dict[str, Any]) -> Dict[str, Any]:
    masked = copy.deepcopy(event)
    if masked.get("text"):
        masked["text"] = mask_digits(masked["text"])
    parse_data = masked.get("parse_data") or {}
    if parse_data.get("text"):
        parse_data["text"] = mask_digits(parse_data["text"])
    for entity in parse_data.get("entities") or []:
        if isinstance(entity.get("value"), str):
            entity["value"] = mask_digits(entity["value"])
    return masked


def redact_all(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return list(redact_event_dicts(events))
