"""What a RocketChat webhook call carries, read as hostile input.

Two shapes arrive at the same URL:
- outgoing webhooks (payload built by
  apps/meteor/app/integrations/server/lib/triggerHandler.ts, `mapEventArgsToData`);
- Omnichannel webhooks (payload of apps/meteor/app/livechat/server/hooks/sendToCRM.ts;
  the serving agent is the payload's `agent`).

Like Rocket.Chat's Rasa app (RocketChat/Apps.Rasa, `handler/PostMessageSentHandler.ts`),
a turn runs only where the serving agent is the bot, never for edited messages
(`editedAt`), agents' messages (`agentId`) or closed rooms.
"""
from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Text, Tuple

from imago_core.storage.message_dedup import claim_once, was_claimed

SHAPE_WEBHOOK = "webhook"
SHAPE_LIVECHAT = "livechat"

IsBot = Callable[..., bool]  # is_bot(username=None, user_id=None)


@dataclass
class Incoming:
    text: Text
    room_id: Text
    user_id: Optional[Text]
    message_id: Optional[Text]
    metadata: Dict[Text, Any]
    shape: Text


def shape_of(payload: Dict[Text, Any]) -> Text:
    return SHAPE_LIVECHAT if "visitor" in payload else SHAPE_WEBHOOK


def token_matches(presented: Any, expected: Text) -> bool:
    if not isinstance(presented, str):
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def closed_marker(room_id: Text) -> Text:
    return f"rocketchat-closed:{room_id}"


def webhook_messages(payload: Dict[Text, Any], is_bot: IsBot) -> Tuple[List[Incoming], Text]:
    """The message an outgoing-webhook call carries."""
    if payload.get("bot") or is_bot(payload.get("user_name"), payload.get("user_id")):
        return [], "bot message"
    if payload.get("isEdited"):
        return [], "edited message"
    text, room_id = payload.get("text"), payload.get("channel_id")
    if not isinstance(text, str) or not text.strip():
        return [], "no text"
    if not isinstance(room_id, str) or not room_id:
        return [], "no channel_id"
    user_id = payload.get("user_id") if isinstance(payload.get("user_id"), str) else None
    message_id = payload.get("message_id")
    metadata = {"shape": SHAPE_WEBHOOK, "room_id": room_id, "user_id": user_id, "message_id": message_id}
    return [Incoming(text, room_id, user_id, message_id, metadata, SHAPE_WEBHOOK)], ""


async def livechat_messages(payload: Dict[Text, Any], is_bot: IsBot) -> Tuple[List[Incoming], Text]:
    """The visitor's messages in an Omnichannel `Message` event of a room the bot serves.

    Closed rooms: the payload never has `open` (sendToCRM.ts sends no such field, and
    Rocket.Chat removes it from a closed room), so a room counts as closed by its
    `LivechatSession` (close) event or a `closedAt`; the close event is remembered in
    the database so that a late re-send of an earlier message gets no turn either.
    """
    room_id = payload.get("_id")
    if not isinstance(room_id, str) or not room_id:
        return [], "no room id"
    event_type = payload.get("type")
    if event_type == "LivechatSession" or payload.get("closedAt"):
        await asyncio.to_thread(claim_once, closed_marker(room_id))
        return [], "room closed"
    if event_type != "Message":
        return [], f"event {event_type}"
    agent = payload.get("agent")
    if not isinstance(agent, dict) or not is_bot(agent.get("username"), agent.get("_id")):
        return [], "room not served by the bot"
    if await asyncio.to_thread(was_claimed, closed_marker(room_id)):
        return [], "room closed"
    visitor = payload.get("visitor") if isinstance(payload.get("visitor"), dict) else {}
    messages = payload.get("messages")
    if not isinstance(messages, list):  # fuzzing found `true` and numbers here (issue 9)
        return [], "no messages"
    incoming = []
    for message in messages:
        if not isinstance(message, dict) or _not_a_visitor_turn(message, visitor.get("username")):
            continue
        if is_bot(message.get("username")):
            continue
        message_id, visitor_id = message.get("_id"), visitor.get("_id")
        metadata = {"shape": SHAPE_LIVECHAT, "room_id": room_id, "room_kind": SHAPE_LIVECHAT,
                    "visitor_id": visitor_id, "message_id": message_id}
        incoming.append(Incoming(message["msg"], room_id, visitor_id, message_id, metadata, SHAPE_LIVECHAT))
    return incoming, ("" if incoming else "no visitor message")


def _not_a_visitor_turn(message: Dict[Text, Any], visitor_name: Optional[Text]) -> bool:
    """Agents' messages carry `agentId`; edits `editedAt`; the close comment
    `closingMessage` (sendToCRM.ts)."""
    if message.get("agentId") or message.get("closingMessage") or message.get("editedAt"):
        return True
    if visitor_name and message.get("username") != visitor_name:
        return True
    text = message.get("msg")
    return not isinstance(text, str) or not text.strip()
