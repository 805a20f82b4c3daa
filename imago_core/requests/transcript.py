"""A conversation as staff read it: the visitor's and the assistant's (or staff's) lines,
with one-time codes masked. Shared by the escalation console and the desk's request page
(the conversation that filed the request)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from imago_core.identity.redaction import mask_code_like, redact_all
from imago_core.storage.conversations import conversation_events, tracker_engine

TRANSCRIPT_LIMIT = 60  # turns kept; enough context, bounded size


def transcript_from_events(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """User and bot messages, oldest first, with one-time codes masked (as the
    tracker store would) and, in the visitor's lines, any other 6-digit run too,
    to be safe. The assistant's and staff's lines never carry codes."""
    lines = []
    for event in redact_all(list(events)):
        if event.get("event") == "user" and event.get("text"):
            text = event["text"]
            if text.startswith("/"):  # button payloads: show the intent only
                text = text.split("{", 1)[0]
            lines.append({"who": "visitor", "text": mask_code_like(text), "at": event.get("timestamp")})
        elif event.get("event") == "bot" and event.get("text"):
            staff = (event.get("metadata") or {}).get("staff")
            line = {"who": "staff" if staff else "assistant", "text": event["text"], "at": event.get("timestamp")}
            if staff:
                line["staff"] = staff
            lines.append(line)
    return lines[-TRANSCRIPT_LIMIT:]


def conversation_transcript(conversation_id: Optional[str]) -> List[Dict[str, Any]]:
    """The stored conversation's transcript; empty when it is gone (retention, erasure)."""
    if not conversation_id:
        return []
    return transcript_from_events(conversation_events(tracker_engine(), conversation_id))
