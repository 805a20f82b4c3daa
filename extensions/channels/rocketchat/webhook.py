"""The RocketChat input channel: `/webhooks/rocketchat/webhook`, both shapes.

Exactly one turn per message, and nothing lost when something fails:
- Rocket.Chat waits `Livechat_http_timeout` (5 s) for the Omnichannel webhook and
  re-sends after a timeout, a 5xx or a 429, up to 5 times, 20 s apart
  (apps/meteor/app/livechat/server/lib/webhooks.ts). So each message `_id` is claimed
  in the database (imago_core/storage/message_dedup.py: shared by all replicas), the answer
  is 200 at once and the bot turn runs in the background.
- An outgoing webhook is re-sent only when the answer has no body, or has a body and
  a status other than 200/201/202, 410 and 500 (a 410 disables the integration, a
  500 with a body is given up; a connection error or timeout is not retried at all),
  by the integration's retry settings (default 6 retries, powers of ten:
  apps/meteor/app/integrations/server/lib/triggerHandler.ts, `executeTriggerUrl`).
  So every failure here answers 503 with a JSON body, which both webhooks re-send;
  Sanic's own 500 for an unexpected error would lose an outgoing-webhook message.
"""
from __future__ import annotations

import asyncio
import logging
import traceback
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from extensions.channels.rocketchat_client import (
    DEFAULT_TIMEOUT,
    RocketChatClient,
    room_ref,
)
from imago_core.identity.client_address import (
    CLIENT_ADDRESS_KEY,
    MAX_MESSAGE_CHARS,
    TOO_LONG_REPLY,
    clean_text,
    rocketchat_client,
)
from imago_core.storage import message_dedup

from . import payloads
from .handback import resume_if_handed_back
from .ids import conversation_id, direct_room_id, is_direct_room_of, kind_of
from .output import BYPASS_RATE_LIMIT, FORWARD_PERMISSIONS, RocketChatBot, SetupState
from .texts import TEXTS

logger = logging.getLogger(__name__)

LIVECHAT_TOKEN_HEADER = "X-RocketChat-Livechat-Token"
ROOM_KIND_CACHE_SIZE = 10_000  # rooms remembered; the oldest is forgotten (and asked again)
TRY_AGAIN = {"status": "error", "reason": "try again"}


def _ignored(reason: Text) -> HTTPResponse:
    return response.json({"status": "ignored", "reason": reason})


def _refused(status: int, reason: Text) -> HTTPResponse:
    return response.json({"status": "refused", "reason": reason}, status=status)


def _where(error: BaseException) -> Text:
    """file:line where an error was raised: enough to find it, and never message text."""
    frames = traceback.extract_tb(error.__traceback__)
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "-"


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
                return await self._take(request, on_new_message)
            except Exception as error:  # noqa: BLE001 - whatever failed, Rocket.Chat must re-send
                # Not taken, and said so in a way both webhooks re-send (see the module doc).
                # Only the error's type and place are logged: its text may quote the payload.
                logger.error("RocketChat webhook call not taken (%s at %s); answered 503 so that it is re-sent",
                             type(error).__name__, _where(error))
                return response.json(TRY_AGAIN, status=503)

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

    async def _take(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        try:
            payload = request.json
        except InvalidUsage:
            payload = None
        if not isinstance(payload, dict):
            return response.json({"status": "error", "reason": "bad json"}, status=400)

        shape = payloads.shape_of(payload)
        if shape == payloads.SHAPE_LIVECHAT:
            refusal = self._check_secret(request.headers.get(LIVECHAT_TOKEN_HEADER), self.livechat_token)
        else:
            refusal = self._check_secret(payload.get("token"), self.webhook_token)
        if refusal is not None:
            logger.warning("RocketChat %s call refused (%s)", shape, refusal.status)
            return refusal

        if shape == payloads.SHAPE_LIVECHAT:
            messages, reason = await payloads.livechat_messages(payload, self._is_bot)
        else:
            messages, reason = payloads.webhook_messages(payload, self._is_bot)
        agent = getattr(request.app.ctx, "agent", None)
        fresh: List[payloads.Incoming] = []
        try:
            for incoming in messages:
                if await self._first_time(incoming):
                    fresh.append(incoming)
        except Exception:
            # The messages claimed so far run now (the re-send will skip them as claimed);
            # the 503 that follows makes Rocket.Chat re-send the rest.
            self._start_turns(on_new_message, fresh, agent)
            raise
        if not fresh:
            reason = reason or "already processed"
            logger.debug("RocketChat %s event ignored: %s", shape, reason)
            return _ignored(reason)
        # Answer now; Rocket.Chat re-sends whatever takes longer than its timeout.
        self._start_turns(on_new_message, fresh, agent)
        return response.json({"status": "accepted"})

    def _start_turns(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                     messages: List[payloads.Incoming], agent: Any) -> None:
        if not messages:
            return
        turn = asyncio.create_task(self._run_turns(on_new_message, messages, agent))
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)

    async def _first_time(self, incoming: payloads.Incoming) -> bool:
        """Claims the message id in the database: True only for the first delivery."""
        if not incoming.message_id:
            return True
        return await asyncio.to_thread(message_dedup.claim_once, f"rocketchat:{incoming.message_id}")

    async def _run_turns(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                         messages: List[payloads.Incoming], agent: Any = None) -> None:
        output_channel = self.get_output_channel()
        for incoming in messages:
            try:
                await self._run_turn(on_new_message, output_channel, incoming, agent)
            except Exception:  # noqa: BLE001 - the visitor is told; the next message still runs
                logger.exception("Bot turn failed for RocketChat room %s", room_ref(incoming.room_id))
                await self.client.post_message(incoming.room_id, {"text": TEXTS["turn_failed"]})

    async def _run_turn(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                        output_channel: RocketChatBot, incoming: payloads.Incoming, agent: Any) -> None:
        shared = False
        if incoming.shape == payloads.SHAPE_WEBHOOK:
            kind = await self._room_kind(incoming.room_id, incoming.user_id)
            if kind == "foreign":
                # A DM between two people (an outgoing webhook set to all_direct_messages
                # fires for every DM in the workspace): never read, answered or stored.
                logger.warning("RocketChat: message in a direct message without the bot (room %s) ignored; "
                               "set the outgoing webhook's Channel to @<bot username>", room_ref(incoming.room_id))
                return
            shared = kind == "shared"
            incoming.metadata["room_kind"] = kind
        sender = conversation_id(incoming.room_id, incoming.user_id, shared)
        # The send limits' client: Rocket.Chat, not the visitor, calls this webhook, so the
        # user (or livechat visitor) id stands in for a network (issue 23, finding 1).
        incoming.metadata[CLIENT_ADDRESS_KEY] = rocketchat_client(incoming.user_id)
        text = clean_text(incoming.text)  # the same rules as REST and socket.io (issue 9)
        if len(text) > MAX_MESSAGE_CHARS:  # answered, neither processed nor stored
            await output_channel.send_text_message(sender, TOO_LONG_REPLY)
            return
        if incoming.shape == payloads.SHAPE_LIVECHAT:
            # Only rooms the bot serves get here: one forwarded away earlier came back.
            await resume_if_handed_back(agent, sender)
        await on_new_message(UserMessage(text, output_channel, sender, input_channel=self.name(),
                                         message_id=incoming.message_id, metadata=incoming.metadata))

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
        if is_direct_room_of(room_id, user_id):
            return "foreign"  # the sender's DM with someone else
        if room_id in self._room_kinds:
            self._room_kinds.move_to_end(room_id)
            return self._room_kinds[room_id]
        info = await self.client.room_info(room_id)
        if info is None:
            return "shared"  # not cached: ask again next time
        self._room_kinds[room_id] = kind_of(info, bot_id)
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
        if not payloads.token_matches(presented, expected):
            return _refused(403, "wrong token")
        return None

    def _is_bot(self, username: Any = None, user_id: Any = None) -> bool:
        if isinstance(username, str) and username.casefold() == (self.user or "").casefold():
            return True
        return bool(user_id) and user_id == self.client.bot_user_id
