"""Builds rasa-sdk trackers for calling actions directly in tests."""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def make_tracker(sender_id: str = "conv-1", intent: Optional[str] = None, text: str = "",
                 slots: Optional[Dict[str, Any]] = None, ranking: Optional[List[Dict[str, Any]]] = None,
                 events: Optional[List[Dict[str, Any]]] = None, channel: str = "rest",
                 active_loop: Optional[str] = None) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9} if intent else {},
        "intent_ranking": ranking or ([{"name": intent, "confidence": 0.9}] if intent else []),
        "entities": [],
    }
    events = list(events or []) + [
        {"event": "user", "text": text, "parse_data": latest, "input_channel": channel}
    ]
    return Tracker(sender_id, dict(slots or {}), latest, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


def texts(dispatcher: CollectingDispatcher) -> List[str]:
    return [m.get("text") or "" for m in dispatcher.messages]


def buttons(dispatcher: CollectingDispatcher) -> List[Dict[str, str]]:
    return [b for m in dispatcher.messages for b in (m.get("buttons") or [])]


def stored_event_text(serialized_events: Iterable[str]) -> str:
    """The stored events as one searchable string, without their timestamps: a
    timestamp's digits can contain a code's digits by chance."""
    events = (json.loads(data) for data in serialized_events)
    return " ".join(json.dumps({k: v for k, v in e.items() if k != "timestamp"}) for e in events)
