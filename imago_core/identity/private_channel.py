"""Privacy requests only in a conversation with one person.

In a RocketChat room with several people, everyone would see the bot ask for an
email address, the masked address and the code prompt. The RocketChat connector
marks such messages with `metadata["room_kind"] == "shared"`; a request started
there is moved to a direct message before anything personal is asked for.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

SHARED = "shared"
MOVE_KEY = "imago_move_private"  # custom JSON the RocketChat connector acts on

TASK_WORDS = {
    "access": "a copy of your data", "deletion": "deleting your data", "correction": "correcting your data",
    "export": "an export of your data", "marketing_optout": "a marketing opt-out",
    "status": "the status of your requests",
}


def in_shared_room(metadata: Optional[Mapping[str, Any]]) -> bool:
    return bool(metadata) and metadata.get("room_kind") == SHARED


def move_request(task: str) -> Dict[str, Any]:
    """The custom JSON that asks the connector to continue `task` in a direct message.

    The connector posts `moved_text` in the shared room only once the direct message
    exists, and `failed_text` if it could not be opened; `dm_text` opens the direct
    message, with a button that starts the same request there.
    """
    return {MOVE_KEY: {
        "task": task,
        "intent": f"/request_{task}",
        "moved_text": "Other people can read this room, so I won't ask for your email address or a code "
                      "here. I've sent you a direct message; let's continue there.",
        "failed_text": "Other people can read this room, so I can't take a privacy request here, and I "
                       "couldn't open a direct message with you. Please write to me in a direct message, "
                       "or use the chat on IMAGO's website.",
        "dm_text": f"You asked me about {TASK_WORDS.get(task, 'a privacy request')} in a shared room. "
                   "Only you can read this conversation. Press the button (or tell me again) to continue.",
    }}
