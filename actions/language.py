"""The visitor's language on the action server's side: the reply language read from
the tracker's language slots (resolved by imago_core.language, as the Rasa server's
NLG resolves it), and texts from data/texts/<language>.yml."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from rasa_sdk import Tracker

from imago_core.language import needs_language_notice, reply_language
from imago_core.language.texts import text
from imago_core.vocabulary import RequestStatus, RequestType

LANGUAGE_SLOTS = ("language", "language_choice")


def language_of(tracker: Tracker) -> str:
    earlier = [e.get("value") for e in tracker.events
               if e.get("event") == "slot" and e.get("name") in LANGUAGE_SLOTS]
    return reply_language(tracker.get_slot("language"), tracker.get_slot("language_choice"), earlier)


def t(tracker: Tracker, key: str, **params: Any) -> str:
    """The text `key` in the visitor's language."""
    return text(language_of(tracker), key, **params)


def with_notice(tracker: Tracker, message: str) -> str:
    """A message in a language not answered: the English reply, and which languages are."""
    if needs_language_notice(tracker.get_slot("language"), tracker.get_slot("language_choice")):
        return f"{message}\n\n{text('en', 'language.notice')}"
    return message


def button(tracker: Tracker, key: str, payload: str) -> Dict[str, str]:
    return {"title": t(tracker, key), "payload": payload}


def label(tracker: Tracker, kind: RequestType) -> str:
    return t(tracker, f"request_type.{kind.value}.label")


def short(tracker: Tracker, kind: RequestType) -> str:
    return t(tracker, f"request_type.{kind.value}.short")


def status_text(tracker: Tracker, status: RequestStatus) -> str:
    return t(tracker, f"status.{status.name.lower()}")


def joined(tracker: Tracker, names: List[str]) -> str:
    """"deletion and marketing opt-out", "刪除及停止推廣"."""
    if len(names) <= 1:
        return "".join(names)
    tail = t(tracker, "list.last", first=names[-2], last=names[-1])
    for name in reversed(names[:-2]):
        tail = t(tracker, "list.more", first=name, rest=tail)
    return tail


def labels(tracker: Tracker, types: Iterable[RequestType]) -> str:
    return joined(tracker, [short(tracker, kind) for kind in types])


def confirm_buttons(tracker: Tracker) -> List[Dict[str, str]]:
    return [button(tracker, "button.file_it", "/affirm"), button(tracker, "button.cancel", "/cancel")]


