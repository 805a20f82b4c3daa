"""Privacy requests only in a conversation with one person.

In a RocketChat room with several people, everyone would see the bot ask for an
email address, the masked address and the code prompt. The RocketChat connector
marks such messages with `metadata["room_kind"] == "shared"`; a request started
there is moved to a direct message before anything personal is asked for.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from imago_core.language.texts import text

SHARED = "shared"
MOVE_KEY = "imago_move_private"  # custom JSON the RocketChat connector acts on
# What each request is called in the direct message: texts `private.task.<task>`.
TASKS = ("access", "deletion", "correction", "export", "marketing_optout", "status")


def in_shared_room(metadata: Optional[Mapping[str, Any]]) -> bool:
    return bool(metadata) and metadata.get("room_kind") == SHARED


def move_request(task: str, language: str = "en") -> Dict[str, Any]:
    """The custom JSON that asks the connector to continue `task` in a direct message.

    The connector posts `moved_text` in the shared room only once the direct message
    exists, and `failed_text` if it could not be opened; `dm_text` opens the direct
    message, with a button (`button_text`) that starts the same request there. All in
    the visitor's language (data/texts/<language>.yml).
    """
    about = text(language, f"private.task.{task}" if task in TASKS else "private.task.other")
    return {MOVE_KEY: {
        "task": task,
        "intent": f"/request_{task}",
        "moved_text": text(language, "private.moved"),
        "failed_text": text(language, "private.failed"),
        "dm_text": text(language, "private.dm", task=about),
        "button_text": text(language, "private.continue"),
    }}
