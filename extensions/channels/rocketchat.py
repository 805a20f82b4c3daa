"""RocketChat connector: outgoing webhooks and Omnichannel (livechat) rooms.

Configured in credentials.yml as `extensions.channels.rocketchat.RocketChatInput:`
with `user`, `server_url`, either `auth_token` + `user_id` (a personal access token,
preferred) or `password`, `webhook_token`, `livechat_token`, `handoff_department_id`
(optional) and `timeout` (seconds). Served at `/webhooks/rocketchat/webhook`.

How it meets a real Rocket.Chat (files named are in RocketChat/Rocket.Chat unless said):
- Exactly one turn per message. Rocket.Chat waits `Livechat_http_timeout` (5 s) for
  the Omnichannel webhook and re-sends after a timeout, a 5xx or a 429, up to 5 times,
  20 s apart (`apps/meteor/app/livechat/server/lib/webhooks.ts`). So the webhook
  claims each message `_id` in the database (imago_core/storage/message_dedup.py: shared by all
  replicas), answers 200 at once and runs the bot turn in the background.
- Only the bot's rooms. The Omnichannel webhook fires for every livechat room
  (`apps/meteor/app/livechat/server/hooks/sendToCRM.ts`; the serving agent is the
  payload's `agent`). Like Rocket.Chat's Rasa app (RocketChat/Apps.Rasa,
  `handler/PostMessageSentHandler.ts`), a turn runs only where the serving agent is
  the bot, never for edited messages (`editedAt`), agents' messages (`agentId`) or
  closed rooms (the `LivechatSession` close event is remembered in the database).
  Outgoing webhooks likewise: a direct message between two people (a webhook set
  to `all_direct_messages` sends every one) gets no turn and is not stored.
- Conversations belong to (room, user): a room with several people gives each
  person their own conversation (`conversation_id`), and a privacy request started
  there is moved to a direct message (`im.create`) before anything personal is asked.
- Hand-off can't strand anyone: the forward's preconditions are checked (permissions
  at startup; before each forward the room's department and whether anyone in the
  hand-off department is online); when Rocket.Chat refuses anyway or
  no agent is online the escalation stays with the staff console (and ticket) and the
  visitor is told so.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Text, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from imago_core.handoff.escalations import record_forward_outcome
from imago_core.identity.client_address import MAX_MESSAGE_CHARS, TOO_LONG_REPLY, clean_text
from imago_core.storage.message_dedup import claim_once, was_claimed
from extensions.channels.rocketchat_client import (  # noqa: F401 - re-exported for callers and tests
    DEFAULT_TIMEOUT,
    RATE_LIMIT_WAIT_CAP,
    RocketChatClient,
    room_ref,
)

logger = logging.getLogger(__name__)

LIVECHAT_TOKEN_HEADER = "X-RocketChat-Livechat-Token"
SHAPE_WEBHOOK = "webhook"
SHAPE_LIVECHAT = "livechat"
# Custom JSON the actions send: forward the room to people / continue in private.
HANDOFF_KEY = "imago_handoff"
MOVE_KEY = "imago_move_private"
# What room.forward needs (apps/meteor/app/livechat/server/api/v1/room.ts).
FORWARD_PERMISSIONS = ("view-l-room", "transfer-livechat-guest")
BYPASS_RATE_LIMIT = "api-bypass-rate-limit"

DEFAULT_CONNECTING = "I'm asking a person from the privacy team to take over this chat. Please stay here."
DEFAULT_FALLBACK = ("I couldn't connect you to a live agent in this chat right now. The privacy team has "
                    "your conversation and will reply here.")
TURN_FAILED_TEXT = "Sorry, something went wrong on my side. Please send that again."
ROOM_KIND_CACHE_SIZE = 10_000  # rooms remembered; the oldest is forgotten (and asked again)


# -- conversation ids: kept in these two functions so that the channel prefixes of
#    issue 9 (e.g. "rc:") can be aligned in one place -----------------------------
ROOM_USER_SEPARATOR = ":"  # Rocket.Chat ids never contain it


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


def _is_direct_room_of(room_id: Text, user_id: Optional[Text]) -> bool:
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


def _kind_of(info: Dict[Text, Any], bot_id: Optional[Text]) -> Text:
    """A room's kind from rooms.info: a DM without the bot is someone else's conversation."""
    uids = info.get("uids") or []
    if info.get("t") == "d":
        if bot_id not in uids:
            return "foreign"
        members = info.get("usersCount") or len(uids)
        return "direct" if members == 2 else "shared"
    return "shared"


def _token_matches(presented: Any, expected: Text) -> bool:
    if not isinstance(presented, str):
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


@dataclass
class SetupState:
    """What the startup check learnt about the bot user; shared with the output channel."""

    checked: bool = False
    missing_permissions: Set[Text] = field(default_factory=set)

    @property
    def can_forward(self) -> bool:
        return not any(p in self.missing_permissions for p in FORWARD_PERMISSIONS)


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

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        for part in text.strip().split("\n\n"):
            await self.client.post_message(room_of(recipient_id), {"text": part})

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self.client.post_message(room_of(recipient_id), {"text": text, "attachments": [
            {"actions": [_button(b["title"], b["payload"]) for b in buttons]}]})

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
        what really happened; records the outcome on the escalation."""
        room = room_of(conversation)
        reference = handoff.get("escalation") if isinstance(handoff.get("escalation"), str) else None
        comment = f"Escalation {reference}" if reference else "Hand-off from the assistant"
        refusal = await self._forward_refusal(room)
        if refusal is None:
            await self.client.post_message(room, {"text": handoff.get("connecting_text") or DEFAULT_CONNECTING})
            answer = await self.client.forward_room(room, self.handoff_department_id, comment)
            refusal = None if answer.ok else answer.error
        if refusal is not None:
            logger.warning("RocketChat hand-off for room %s not forwarded (%s); staying with the staff console",
                           room_ref(room), refusal[:120])
            await self.client.post_message(room, {"text": handoff.get("fallback_text") or DEFAULT_FALLBACK})
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
            if info.get("open") is False:
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
            refusal = move.get("failed_text") or "Please write to me in a direct message."
            await self.client.post_message(room, {"text": refusal})
            return False
        await self.client.post_message(room, {"text": move.get("moved_text") or "I've sent you a direct message."})
        intent = move.get("intent")
        body: Dict[Text, Any] = {"text": move.get("dm_text") or "Let's continue here."}
        if isinstance(intent, str) and intent.startswith("/"):
            body["attachments"] = [{"actions": [_button(move.get("button_text") or "Continue", intent)]}]
        await self.client.post_message(direct, body)
        return True


def _button(title: Text, payload: Text) -> Dict[Text, Any]:
    return {"type": "button", "text": title, "msg": payload, "msg_in_chat_window": True}


@dataclass
class _Incoming:
    text: Text
    room_id: Text
    user_id: Optional[Text]
    message_id: Optional[Text]
    metadata: Dict[Text, Any]
    shape: Text


def _ignored(reason: Text) -> HTTPResponse:
    return response.json({"status": "ignored", "reason": reason})


def _refused(status: int, reason: Text) -> HTTPResponse:
    return response.json({"status": "refused", "reason": reason}, status=status)


class RocketChatInput(InputChannel):
    """Receives RocketChat outgoing-webhook and Omnichannel webhook calls."""

    @classmethod
    def name(cls) -> Text:
        return "rocketchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        if not credentials or not credentials.get("user") or not credentials.get("server_url"):
            cls.raise_missing_credentials_exception()
        has_token = credentials.get("auth_token") and credentials.get("user_id")
        if not has_token and not credentials.get("password"):
            cls.raise_missing_credentials_exception()
        return cls(
            user=credentials["user"],
            password=credentials.get("password"),
            server_url=credentials["server_url"],
            webhook_token=credentials.get("webhook_token"),
            livechat_token=credentials.get("livechat_token"),
            handoff_department_id=credentials.get("handoff_department_id"),
            timeout=credentials.get("timeout") or DEFAULT_TIMEOUT,
            auth_token=credentials.get("auth_token"),
            user_id=credentials.get("user_id"),
        )

    def __init__(
        self,
        user: Text,
        password: Optional[Text],
        server_url: Text,
        webhook_token: Optional[Text] = None,
        livechat_token: Optional[Text] = None,
        handoff_department_id: Optional[Text] = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: Optional[RocketChatClient] = None,
        auth_token: Optional[Text] = None,
        user_id: Optional[Text] = None,
    ) -> None:
        self.user = user
        self.webhook_token = str(webhook_token) if webhook_token else None
        self.livechat_token = str(livechat_token) if livechat_token else None
        self.handoff_department_id = str(handoff_department_id) if handoff_department_id else None
        self.client = client or RocketChatClient(user, password, server_url, timeout,
                                                 auth_token=auth_token, user_id=user_id)
        self.setup = SetupState()
        self._turns: Set[asyncio.Task] = set()
        # room id -> "direct" | "shared" | "foreign" (a room's kind never changes); bounded LRU
        self._room_kinds: "OrderedDict[Text, Text]" = OrderedDict()
        if not self.webhook_token and not self.livechat_token:
            logger.warning("RocketChat channel has neither webhook_token nor livechat_token: "
                           "every webhook call will be refused")

    def get_output_channel(self) -> RocketChatBot:
        return RocketChatBot(self.client, self.handoff_department_id, self.setup)

    # -- startup check -------------------------------------------------------------------
    async def check_setup(self) -> SetupState:
        """Logs what the bot user lacks for hand-offs, so that an admin sees it at start."""
        me = await self.client.me()
        roles = await self.client.permission_roles() if me is not None else None
        if me is None or roles is None:
            logger.error("RocketChat setup check failed: cannot log in as %r or read permissions.listAll "
                         "(check server_url and the bot's credentials)", self.user)
            return self.setup
        bot_roles = set(me.get("roles") or [])
        missing = {p for p in (*FORWARD_PERMISSIONS, BYPASS_RATE_LIMIT) if not bot_roles & set(roles.get(p, []))}
        self.setup.missing_permissions, self.setup.checked = missing, True
        lacking = [p for p in FORWARD_PERMISSIONS if p in missing]
        if lacking and self.handoff_department_id:
            logger.warning("RocketChat bot user %r lacks the permission(s) %s that livechat/room.forward "
                           "needs: hand-offs will stay with the staff console. Grant them to one of its roles "
                           "(%s) in Administration > Workspace > Permissions (see deploy/README.md).",
                           self.user, ", ".join(lacking), ", ".join(sorted(bot_roles)) or "none")
        if BYPASS_RATE_LIMIT in missing:
            logger.warning("RocketChat bot user %r lacks %s: its replies are rate-limited like a person's",
                           self.user, BYPASS_RATE_LIMIT)
        if not self.handoff_department_id:
            logger.info("RocketChat: no handoff_department_id; livechat hand-offs go to the staff console")
        return self.setup

    async def wait_for_turns(self) -> None:
        """Waits for the bot turns running in the background (tests, shutdown)."""
        while self._turns:
            await asyncio.gather(*list(self._turns), return_exceptions=True)

    # -- the webhook ---------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rocketchat_webhook = Blueprint("custom_rocketchat_webhook", __name__)

        @rocketchat_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rocketchat_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                payload = request.json
            except InvalidUsage:
                payload = None
            if not isinstance(payload, dict):
                return response.json({"status": "error", "reason": "bad json"}, status=400)

            shape = SHAPE_LIVECHAT if "visitor" in payload else SHAPE_WEBHOOK
            if shape == SHAPE_LIVECHAT:
                refusal = self._check_secret(request.headers.get(LIVECHAT_TOKEN_HEADER), self.livechat_token)
            else:
                refusal = self._check_secret(payload.get("token"), self.webhook_token)
            if refusal is not None:
                logger.warning("RocketChat %s call refused (%s)", shape, refusal.status)
                return refusal

            try:
                if shape == SHAPE_LIVECHAT:
                    messages, reason = await self._livechat_messages(payload)
                else:
                    messages, reason = self._webhook_messages(payload)
                fresh = [m for m in messages if await self._first_time(m)]
            except SQLAlchemyError:
                # Not taken: Rocket.Chat re-sends a 5xx later (webhooks.ts), so nothing is lost.
                logger.exception("RocketChat %s event not taken: database unavailable", shape)
                return response.json({"status": "error", "reason": "try again"}, status=503)
            if not fresh:
                reason = reason or "already processed"
                logger.debug("RocketChat %s event ignored: %s", shape, reason)
                return _ignored(reason)
            # Answer now; Rocket.Chat re-sends whatever takes longer than its timeout.
            turn = asyncio.create_task(self._run_turns(on_new_message, fresh))
            self._turns.add(turn)
            turn.add_done_callback(self._turns.discard)
            return response.json({"status": "accepted"})

        @rocketchat_webhook.listener("after_server_start")
        async def start_check(*_: Any) -> None:
            # In the background: a Rocket.Chat that is down must not stop Rasa starting.
            self._startup_check = asyncio.create_task(self.check_setup())

        @rocketchat_webhook.listener("before_server_stop")
        async def finish_turns(*_: Any) -> None:
            try:  # accepted messages get their answer before the server goes
                await asyncio.wait_for(self.wait_for_turns(), timeout=30)
            except asyncio.TimeoutError:
                logger.warning("RocketChat: %d bot turns still running at shutdown", len(self._turns))

        @rocketchat_webhook.listener("after_server_stop")
        async def close_client(*_: Any) -> None:
            await self.client.close()

        return rocketchat_webhook

    async def _first_time(self, incoming: _Incoming) -> bool:
        """Claims the message id in the database: True only for the first delivery."""
        if not incoming.message_id:
            return True
        return await asyncio.to_thread(claim_once, f"rocketchat:{incoming.message_id}")

    async def _run_turns(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                         messages: List[_Incoming]) -> None:
        output_channel = self.get_output_channel()
        for incoming in messages:
            shared = False
            if incoming.shape == SHAPE_WEBHOOK:
                kind = await self._room_kind(incoming.room_id, incoming.user_id)
                if kind == "foreign":
                    # A DM between two people (an outgoing webhook set to all_direct_messages
                    # fires for every DM in the workspace): never read, answered or stored.
                    logger.warning("RocketChat: message in a direct message without the bot (room %s) ignored; "
                                   "set the outgoing webhook's Channel to @<bot username>",
                                   room_ref(incoming.room_id))
                    continue
                shared = kind == "shared"
                incoming.metadata["room_kind"] = kind
            sender = conversation_id(incoming.room_id, incoming.user_id, shared)
            text = clean_text(incoming.text)  # the same rules as REST and socket.io (issue 9)
            if len(text) > MAX_MESSAGE_CHARS:  # answered, neither processed nor stored
                await output_channel.send_text_message(sender, TOO_LONG_REPLY)
                continue
            try:
                await on_new_message(UserMessage(text, output_channel, sender,
                                                 input_channel=self.name(), message_id=incoming.message_id,
                                                 metadata=incoming.metadata))
            except Exception:
                logger.exception("Bot turn failed for RocketChat room %s", room_ref(incoming.room_id))
                await self.client.post_message(incoming.room_id, {"text": TURN_FAILED_TEXT})

    async def _room_kind(self, room_id: Text, user_id: Optional[Text]) -> Text:
        """"direct" for a direct message between the bot and this user, "foreign" for a
        direct message the bot is not in, else "shared".

        The id rule of createDirectRoom.ts answers without a call (a DM's id is its two
        members' ids joined); otherwise rooms.info (`t == "d"`, members in `uids`).
        Unknown means shared: the safe side.
        """
        bot_id = self.client.bot_user_id
        if bot_id is None:
            await self.client.ensure_login()
            bot_id = self.client.bot_user_id
        if bot_id and user_id and room_id == direct_room_id(bot_id, user_id):
            return "direct"
        if _is_direct_room_of(room_id, user_id):
            return "foreign"  # the sender's DM with someone else
        if room_id in self._room_kinds:
            self._room_kinds.move_to_end(room_id)
            return self._room_kinds[room_id]
        info = await self.client.room_info(room_id)
        if info is None:
            return "shared"  # not cached: ask again next time
        self._room_kinds[room_id] = _kind_of(info, bot_id)
        if len(self._room_kinds) > ROOM_KIND_CACHE_SIZE:
            self._room_kinds.popitem(last=False)
        return self._room_kinds[room_id]

    @staticmethod
    def _check_secret(presented: Any, expected: Optional[Text]) -> Optional[HTTPResponse]:
        """None if the call carries the configured secret, else the refusal to send."""
        if not expected:
            return _refused(403, "shape not enabled")
        if presented is None or presented == "":
            return _refused(401, "missing token")
        if not _token_matches(presented, expected):
            return _refused(403, "wrong token")
        return None

    def _is_bot(self, username: Any = None, user_id: Any = None) -> bool:
        if isinstance(username, str) and username.casefold() == (self.user or "").casefold():
            return True
        return bool(user_id) and user_id == self.client.bot_user_id

    def _webhook_messages(self, payload: Dict[Text, Any]) -> Tuple[List[_Incoming], Text]:
        """The message an outgoing-webhook call carries (payload built by
        apps/meteor/app/integrations/server/lib/triggerHandler.ts)."""
        if payload.get("bot") or self._is_bot(payload.get("user_name"), payload.get("user_id")):
            return [], "bot message"
        if payload.get("isEdited"):
            return [], "edited message"
        text, room_id = payload.get("text"), payload.get("channel_id")
        if not isinstance(text, str) or not text.strip():
            return [], "no text"
        if not isinstance(room_id, str) or not room_id:
            return [], "no channel_id"
        user_id = payload.get("user_id") if isinstance(payload.get("user_id"), str) else None
        metadata = {"shape": SHAPE_WEBHOOK, "room_id": room_id, "user_id": user_id,
                    "message_id": payload.get("message_id")}
        return [_Incoming(text, room_id, user_id, payload.get("message_id"), metadata, SHAPE_WEBHOOK)], ""

    async def _livechat_messages(self, payload: Dict[Text, Any]) -> Tuple[List[_Incoming], Text]:
        """The visitor's messages in an Omnichannel `Message` event of a room the bot serves."""
        room_id = payload.get("_id")
        if not isinstance(room_id, str) or not room_id:
            return [], "no room id"
        closed_key = f"rocketchat-closed:{room_id}"
        event_type = payload.get("type")
        if event_type == "LivechatSession" or payload.get("closedAt"):
            await asyncio.to_thread(claim_once, closed_key)  # the close event: remember it
            return [], "room closed"
        if event_type != "Message":
            return [], f"event {event_type}"
        agent = payload.get("agent")
        if not isinstance(agent, dict) or not self._is_bot(agent.get("username"), agent.get("_id")):
            return [], "room not served by the bot"
        if payload.get("open") is False or await asyncio.to_thread(was_claimed, closed_key):
            return [], "room closed"
        visitor = payload.get("visitor") if isinstance(payload.get("visitor"), dict) else {}
        incoming = []
        messages = payload.get("messages")
        if not isinstance(messages, list):  # fuzzing found `true` and numbers here (issue 9)
            return [], "no messages"
        for message in messages:
            if not isinstance(message, dict) or _not_a_visitor_turn(message, visitor.get("username")):
                continue
            if self._is_bot(message.get("username")):
                continue
            metadata = {"shape": SHAPE_LIVECHAT, "room_id": room_id, "room_kind": SHAPE_LIVECHAT,
                        "visitor_id": visitor.get("_id"), "message_id": message.get("_id")}
            incoming.append(_Incoming(message["msg"], room_id, visitor.get("_id"), message.get("_id"),
                                      metadata, SHAPE_LIVECHAT))
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
