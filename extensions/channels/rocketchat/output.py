"""The RocketChat output channel: replies, hand-offs to people, moves to a direct message.

Hand-off can't strand anyone: the forward's preconditions are checked (permissions at
startup; before each forward the room's state and department and whether anyone in
the hand-off department is online); when Rocket.Chat refuses anyway or no agent is
online, the escalation stays with the staff console (and ticket) and the visitor is
told so.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Text

from rasa.core.channels.channel import OutputChannel
from sqlalchemy.exc import SQLAlchemyError

from extensions.channels.rocketchat_client import RocketChatClient, room_ref
from imago_core.handoff.escalations import record_forward_outcome

from .ids import livechat_room_closed, room_and_user, room_of
from .texts import TEXTS

logger = logging.getLogger(__name__)

# Custom JSON the actions send: forward the room to people / continue in private.
HANDOFF_KEY = "imago_handoff"
MOVE_KEY = "imago_move_private"
# What room.forward needs (apps/meteor/app/livechat/server/api/v1/room.ts).
FORWARD_PERMISSIONS = ("view-l-room", "transfer-livechat-guest")
BYPASS_RATE_LIMIT = "api-bypass-rate-limit"


@dataclass
class SetupState:
    """What the startup check learnt about the bot user; shared with the output channel."""

    checked: bool = False
    missing_permissions: Set[Text] = field(default_factory=set)

    @property
    def can_forward(self) -> bool:
        return not any(p in self.missing_permissions for p in FORWARD_PERMISSIONS)


def button(title: Text, payload: Text) -> Dict[Text, Any]:
    return {"type": "button", "text": title, "msg": payload, "msg_in_chat_window": True}


class RocketChatBot(OutputChannel):
    """Sends the bot's replies into a RocketChat room (channel, DM or livechat)."""

    @classmethod
    def name(cls) -> Text:
        return "rocketchat"

    def __init__(self, client: RocketChatClient, handoff_department_id: Optional[Text] = None,
                 setup: Optional[SetupState] = None) -> None:
        self.client = client
        self.handoff_department_id = handoff_department_id
        self.setup = setup or SetupState()

    async def push_text(self, recipient_id: Text, text: Text) -> bool:
        """Posts the text; True only if Rocket.Chat took every part.

        Rasa's OutputChannel methods return nothing, so a refused post would go unseen;
        the staff console calls this instead to tell staff whether the visitor got the
        reply (after a forward the bot has left the room and Rocket.Chat refuses it).
        """
        delivered = True
        for part in text.strip().split("\n\n"):
            delivered = await self.client.post_message(room_of(recipient_id), {"text": part}) and delivered
        return delivered

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        # Inside a turn a refusal is logged by the client; raising would lose the turn.
        await self.push_text(recipient_id, text)

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self.client.post_message(room_of(recipient_id), {"text": text, "attachments": [
            {"actions": [button(b["title"], b["payload"]) for b in buttons]}]})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.client.post_message(room_of(recipient_id),
                                       {"attachments": [{"image_url": image, "collapsed": False}]})

    async def send_attachment(self, recipient_id: Text, attachment: Any, **kwargs: Any) -> None:
        if isinstance(attachment, dict):
            await self.client.post_message(room_of(recipient_id), {"attachments": [attachment]})
        else:
            await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        """Posts a chat.postMessage body (unknown keys dropped, roomId defaults to the
        room); `imago_handoff` and `imago_move_private` are instructions, not messages."""
        if isinstance(json_message.get(HANDOFF_KEY), dict):
            await self.hand_off(recipient_id, json_message[HANDOFF_KEY])
        elif isinstance(json_message.get(MOVE_KEY), dict):
            await self.move_to_direct_message(recipient_id, json_message[MOVE_KEY])
        else:
            await self.client.post_message(room_of(recipient_id), json_message)

    # -- hand-off ------------------------------------------------------------------
    async def hand_off(self, conversation: Text, handoff: Dict[Text, Any]) -> bool:
        """Forwards the livechat room to the hand-off department, telling the visitor
        what really happened; records the outcome on the escalation (a FORWARDED
        escalation is how the webhook later sees the room handed back to the bot)."""
        room = room_of(conversation)
        reference = handoff.get("escalation") if isinstance(handoff.get("escalation"), str) else None
        comment = f"Escalation {reference}" if reference else "Hand-off from the assistant"
        refusal = await self._forward_refusal(room)
        if refusal is None:
            connecting = handoff.get("connecting_text") or TEXTS["handoff_connecting"]
            await self.client.post_message(room, {"text": connecting})
            answer = await self.client.forward_room(room, self.handoff_department_id, comment)
            refusal = None if answer.ok else answer.error
        if refusal is not None:
            logger.warning("RocketChat hand-off for room %s not forwarded (%s); staying with the staff console",
                           room_ref(room), refusal[:120])
            if refusal != "room closed":  # nobody is there to read it
                await self.client.post_message(room, {"text": handoff.get("fallback_text")
                                                      or TEXTS["handoff_fallback"]})
        if reference:
            try:
                await asyncio.to_thread(record_forward_outcome, reference, refusal is None, refusal or "forwarded")
            except SQLAlchemyError:
                logger.exception("could not record the hand-off outcome of %s", reference)
        return refusal is None

    async def forward_to_department(self, room_id: Text, comment: Optional[Text] = None,
                                    department_id: Optional[Text] = None) -> bool:
        """Moves an Omnichannel room to a department without any message; True if it moved."""
        department = department_id or self.handoff_department_id
        if not department:
            logger.warning("RocketChat hand-off asked for, but no department configured")
            return False
        return (await self.client.forward_room(room_of(room_id), department, comment)).ok

    async def _forward_refusal(self, room: Text) -> Optional[Text]:
        """Why a forward cannot work, found before asking for it; None if it may."""
        if not self.handoff_department_id:
            return "no handoff_department_id configured"
        if not self.setup.can_forward:
            return "bot lacks " + ", ".join(p for p in FORWARD_PERMISSIONS if p in self.setup.missing_permissions)
        info = await self.client.room_info(room)
        if info is not None:
            if livechat_room_closed(info):  # no `open` field, or `closedAt`: see ids.py
                return "room closed"
            if info.get("departmentId") == self.handoff_department_id:
                # Rocket.Chat would answer error-forwarding-chat-same-department.
                return "room already in the hand-off department"
        if await self.client.department_online(self.handoff_department_id) is False:
            # Rocket.Chat would answer error-no-agents-online-in-department.
            return "no agent online in the hand-off department"
        return None

    # -- requests in rooms with several people ----------------------------------------
    async def move_to_direct_message(self, conversation: Text, move: Dict[Text, Any]) -> bool:
        """Opens a direct message with the person (im.create) and continues there."""
        room, user_id = room_and_user(conversation)
        direct = None
        if user_id:
            username = await self.client.username_of(user_id)
            direct = await self.client.create_direct_room(username) if username else None
        if direct is None:
            await self.client.post_message(room, {"text": move.get("failed_text") or TEXTS["move_failed"]})
            return False
        await self.client.post_message(room, {"text": move.get("moved_text") or TEXTS["move_done"]})
        intent = move.get("intent")
        body: Dict[Text, Any] = {"text": move.get("dm_text") or TEXTS["move_direct_greeting"]}
        if isinstance(intent, str) and intent.startswith("/"):
            body["attachments"] = [{"actions": [button(move.get("button_text") or TEXTS["move_continue_button"], intent)]}]
        await self.client.post_message(direct, body)
        return True
