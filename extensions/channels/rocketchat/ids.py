"""Conversation ids and room kinds of the RocketChat connector.

Kept in one module so that the channel prefixes of issue 9 (e.g. "rc:") are aligned
in one place. Rocket.Chat ids never contain ":".
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Text, Tuple

ROOM_USER_SEPARATOR = ":"

# Every RocketChat conversation id starts with this, so it can never be taken for a
# widget session or a REST sender (`web:`, `rest:`): ids from two channels never collide.
PREFIX = "rc:"


def conversation_id(room_id: Text, user_id: Optional[Text], shared: bool) -> Text:
    """The Rasa sender id: the room when one person talks there (a DM, a livechat),
    else (room, user), so that nobody shares another person's verification."""
    if shared and user_id:
        return f"{PREFIX}{room_id}{ROOM_USER_SEPARATOR}{user_id}"
    return PREFIX + room_id


def room_and_user(conversation: Text) -> Tuple[Text, Optional[Text]]:
    """(room, user) of a conversation id; user is None where the room is the conversation."""
    if conversation.startswith(PREFIX):
        conversation = conversation[len(PREFIX):]
    room, _, user = conversation.partition(ROOM_USER_SEPARATOR)
    return room, user or None


def room_of(conversation: Text) -> Text:
    """The room a conversation's replies go to."""
    return room_and_user(conversation)[0]


def direct_room_id(user_a: Text, user_b: Text) -> Text:
    """The id Rocket.Chat gives the direct message of two users: their ids sorted and
    joined (apps/meteor/app/lib/server/functions/createDirectRoom.ts)."""
    return "".join(sorted([user_a, user_b]))


def is_direct_room_of(room_id: Text, user_id: Optional[Text]) -> bool:
    """True if the id rule shows a direct message of this user with another user."""
    if not user_id or len(room_id) <= len(user_id):
        return False
    if room_id.startswith(user_id):
        other = room_id[len(user_id):]
    elif room_id.endswith(user_id):
        other = room_id[:-len(user_id)]
    else:
        return False
    return room_id == direct_room_id(user_id, other)


def kind_of(info: Dict[Text, Any], bot_id: Optional[Text]) -> Text:
    """A room's kind from rooms.info: a DM without the bot is someone else's conversation."""
    uids = info.get("uids") or []
    if info.get("t") == "d":
        if bot_id not in uids:
            return "foreign"
        members = info.get("usersCount") or len(uids)
        return "direct" if members == 2 else "shared"
    return "shared"


def livechat_room_closed(room: Dict[Text, Any]) -> bool:
    """Whether a livechat room (rooms.info, or an Omnichannel webhook payload) is closed.

    Rocket.Chat never stores `open: false`: closing a room sets `closedAt` and removes
    the field (`$unset: {open: 1}` in LivechatRooms.closeRoomById,
    packages/models/src/models/LivechatRooms.ts; its findClosedRooms asks for
    `open: {$exists: false}, closedAt: {$exists: true}`). So a room is open only while
    `open` is true and no `closedAt` is set. The Omnichannel payload carries no `open`
    at all, so only use this on rooms.info answers; a payload says closed by `closedAt`.
    """
    return room.get("open") is not True or bool(room.get("closedAt"))
