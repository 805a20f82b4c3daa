"""RocketChat connector: outgoing webhooks and Omnichannel (livechat) rooms.

Configured in credentials.yml as `extensions.channels.rocketchat.RocketChatInput:`
with `user`, `password`, `server_url`, `webhook_token`, `livechat_token`,
`handoff_department_id` (optional) and `timeout` (seconds). Served at
`/webhooks/rocketchat/webhook`.

The conversation (sender id) is the RocketChat room: `channel_id` of an outgoing
webhook, `_id` of an Omnichannel room. Each user message carries the metadata
`{"shape": "webhook"|"livechat", "room_id", "message_id", "user_id"|"visitor_id"}`.

Differences from Rasa's built-in `rasa.core.channels.rocketchat`:
- both webhook secrets are checked (a shape whose secret is not configured is refused);
- livechat events other than visitor messages, and the bot's own messages, are ignored;
- replies go through one aiohttp session and one login, never blocking the event loop;
  expired tokens, 429 and 5xx answers are retried, failures are logged without text.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.tickets.base import retry_after_seconds  # one Retry-After parser for every client

logger = logging.getLogger(__name__)

LIVECHAT_TOKEN_HEADER = "X-RocketChat-Livechat-Token"
SHAPE_WEBHOOK = "webhook"
SHAPE_LIVECHAT = "livechat"
# Custom JSON that action_handoff sends to ask for the room to be forwarded to people.
HANDOFF_KEY = "imago_handoff"

DEFAULT_TIMEOUT = 10.0
MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.5
# The webhook answers only after the bot turn, so a long Retry-After is not waited out.
RETRY_AFTER_CAP = 5.0


def room_ref(room_id: Optional[Text]) -> Text:
    """A short stable reference to a room for logs, which never show the room id."""
    return hashlib.sha256((room_id or "").encode("utf-8")).hexdigest()[:12]


def _token_matches(presented: Any, expected: Text) -> bool:
    if not isinstance(presented, str):
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True)
class _Login:
    auth_token: Text
    user_id: Text

    def headers(self) -> Dict[Text, Text]:
        return {"X-Auth-Token": self.auth_token, "X-User-Id": self.user_id}


@dataclass(frozen=True)
class _Answer:
    status: Optional[int]  # None: no answer came
    body: Any = None
    retry_after: Optional[float] = None
    worth_repeating: bool = False


class RocketChatClient:
    """The REST client shared by every reply: one HTTP session, one login.

    The aiohttp session is made on first use, inside the running event loop.
    """

    def __init__(
        self,
        user: Text,
        password: Text,
        server_url: Text,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = BACKOFF_BASE,
        retry_after_cap: float = RETRY_AFTER_CAP,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.user = user
        self._password = password
        self.server_url = (server_url or "").rstrip("/")
        self.timeout = float(timeout)
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_base = backoff_base
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._session: Optional[aiohttp.ClientSession] = None
        self._login: Optional[_Login] = None
        self._login_lock = asyncio.Lock()

    @property
    def bot_user_id(self) -> Optional[Text]:
        return self._login.user_id if self._login else None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post_message(self, room_id: Text, payload: Dict[Text, Any]) -> bool:
        """POST /api/v1/chat.postMessage; `payload` holds text and/or attachments."""
        body = dict(payload)
        if not body.get("channel"):
            body.setdefault("roomId", room_id)
        return await self._call("chat.postMessage", body, room_id)

    async def forward_room(
        self, room_id: Text, department_id: Text, comment: Optional[Text] = None
    ) -> bool:
        """POST /api/v1/livechat/room.forward: hands an Omnichannel room to people."""
        body: Dict[Text, Any] = {"roomId": room_id, "departmentId": department_id}
        if comment:
            body["comment"] = comment
        return await self._call("livechat/room.forward", body, room_id)

    async def _call(self, endpoint: Text, body: Dict[Text, Any], room_id: Text) -> bool:
        status: Optional[int] = None
        answer: Any = None
        login = await self._current_login()
        if login is not None:
            status, answer = await self._post(endpoint, body, login.headers())
            if status == 401:  # token expired or revoked: one new login, one more try
                logger.info("RocketChat token refused (401); logging in again")
                login = await self._current_login(stale=login)
                if login is not None:
                    status, answer = await self._post(endpoint, body, login.headers())
        if login is None:
            logger.error(
                "RocketChat %s not sent to room %s: login failed",
                endpoint, room_ref(room_id),
            )
            return False
        refused = isinstance(answer, dict) and answer.get("success") is False
        if status is not None and 200 <= status < 300 and not refused:
            return True
        logger.error(
            "RocketChat %s failed for room %s (status %s)",
            endpoint, room_ref(room_id), status,
        )
        return False

    async def _current_login(self, stale: Optional[_Login] = None) -> Optional[_Login]:
        """The shared login; a new one only if there is none or `stale` was refused.

        Several replies failing with the same expired token cause one login, not many.
        """
        async with self._login_lock:
            if self._login is not None and self._login is not stale:
                return self._login
            self._login = None
            status, answer = await self._post(
                "login", {"user": self.user, "password": self._password}, {}
            )
            data = answer.get("data") if isinstance(answer, dict) else None
            if status != 200 or not isinstance(data, dict):
                logger.error("RocketChat login failed (status %s)", status)
                return None
            token, user_id = data.get("authToken"), data.get("userId")
            if not token or not user_id:
                logger.error("RocketChat login answer lacks authToken/userId")
                return None
            self._login = _Login(token, user_id)
            return self._login

    async def _post(
        self, endpoint: Text, body: Dict[Text, Any], headers: Dict[Text, Text]
    ) -> Tuple[Optional[int], Any]:
        """POSTs JSON, retrying 429, 5xx and lost connections with backoff.

        Returns the last status (None if no answer came) and the JSON body.
        """
        attempt = 1
        while True:
            answer = await self._post_once(endpoint, body, headers)
            if not answer.worth_repeating or attempt >= self.max_attempts:
                return answer.status, answer.body
            delay = self.backoff_base * 2 ** (attempt - 1)
            if answer.status == 429 and answer.retry_after is not None:
                delay = min(answer.retry_after, self.retry_after_cap)
            logger.warning(
                "RocketChat %s answered %s; retry %d in %.2fs",
                endpoint, answer.status, attempt, delay,
            )
            await self._sleep(delay)
            attempt += 1

    async def _post_once(
        self, endpoint: Text, body: Dict[Text, Any], headers: Dict[Text, Text]
    ) -> _Answer:
        url = f"{self.server_url}/api/v1/{endpoint}"
        try:
            async with self._http().post(url, json=body, headers=headers) as resp:
                try:
                    parsed = await resp.json(content_type=None)
                except ValueError:
                    parsed = None
                return _Answer(
                    resp.status,
                    parsed,
                    retry_after_seconds(resp.headers.get("Retry-After")),
                    worth_repeating=resp.status == 429 or resp.status >= 500,
                )
        except aiohttp.ClientConnectionError as error:
            # Refused, reset, or a kept-alive connection the server had closed.
            logger.warning("RocketChat %s connection failed (%s)", endpoint, type(error).__name__)
            return _Answer(None, worth_repeating=True)
        except asyncio.TimeoutError:
            # RocketChat may have posted the message already: not repeated.
            logger.warning("RocketChat %s timed out after %ss", endpoint, self.timeout)
            return _Answer(None)
        except aiohttp.ClientError as error:
            logger.warning("RocketChat %s failed (%s)", endpoint, type(error).__name__)
            return _Answer(None)


class RocketChatBot(OutputChannel):
    """Sends the bot's replies into a RocketChat room (channel, DM or livechat)."""

    @classmethod
    def name(cls) -> Text:
        return "rocketchat"

    def __init__(
        self, client: RocketChatClient, handoff_department_id: Optional[Text] = None
    ) -> None:
        self.client = client
        self.handoff_department_id = handoff_department_id

    async def send_text_message(
        self, recipient_id: Text, text: Text, **kwargs: Any
    ) -> None:
        for part in text.strip().split("\n\n"):
            await self.client.post_message(recipient_id, {"text": part})

    async def send_text_with_buttons(
        self,
        recipient_id: Text,
        text: Text,
        buttons: List[Dict[Text, Any]],
        **kwargs: Any,
    ) -> None:
        actions = [
            {
                "type": "button",
                "text": button["title"],
                "msg": button["payload"],
                "msg_in_chat_window": True,
            }
            for button in buttons
        ]
        await self.client.post_message(
            recipient_id, {"text": text, "attachments": [{"actions": actions}]}
        )

    async def send_image_url(
        self, recipient_id: Text, image: Text, **kwargs: Any
    ) -> None:
        await self.client.post_message(
            recipient_id, {"attachments": [{"image_url": image, "collapsed": False}]}
        )

    async def send_attachment(
        self, recipient_id: Text, attachment: Any, **kwargs: Any
    ) -> None:
        if isinstance(attachment, dict):
            await self.client.post_message(recipient_id, {"attachments": [attachment]})
        else:
            await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        """Posts a chat.postMessage body as given (roomId defaults to the room).

        `{"imago_handoff": {"escalation": REF}}` (from action_handoff in a livechat
        room) is not a message: it forwards the room to the hand-off department.
        """
        handoff = json_message.get(HANDOFF_KEY)
        if handoff is not None:
            reference = handoff.get("escalation") if isinstance(handoff, dict) else None
            comment = f"Escalation {reference}" if reference else "Hand-off from the assistant"
            await self.forward_to_department(recipient_id, comment)
            return
        await self.client.post_message(recipient_id, json_message)

    async def forward_to_department(
        self,
        room_id: Text,
        comment: Optional[Text] = None,
        department_id: Optional[Text] = None,
    ) -> bool:
        """Moves an Omnichannel room to the hand-off department; True if it moved."""
        department = department_id or self.handoff_department_id
        if not department:
            logger.warning("RocketChat hand-off asked for, but no department configured")
            return False
        return await self.client.forward_room(room_id, department, comment)


@dataclass
class _Incoming:
    text: Text
    sender_id: Text
    message_id: Optional[Text]
    metadata: Dict[Text, Any]


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
        if not credentials:
            cls.raise_missing_credentials_exception()
        for key in ("user", "password", "server_url"):
            if not credentials.get(key):
                cls.raise_missing_credentials_exception()
        return cls(
            user=credentials["user"],
            password=credentials["password"],
            server_url=credentials["server_url"],
            webhook_token=credentials.get("webhook_token"),
            livechat_token=credentials.get("livechat_token"),
            handoff_department_id=credentials.get("handoff_department_id"),
            timeout=credentials.get("timeout") or DEFAULT_TIMEOUT,
        )

    def __init__(
        self,
        user: Text,
        password: Text,
        server_url: Text,
        webhook_token: Optional[Text] = None,
        livechat_token: Optional[Text] = None,
        handoff_department_id: Optional[Text] = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: Optional[RocketChatClient] = None,
    ) -> None:
        self.user = user
        self.webhook_token = str(webhook_token) if webhook_token else None
        self.livechat_token = str(livechat_token) if livechat_token else None
        self.handoff_department_id = (
            str(handoff_department_id) if handoff_department_id else None
        )
        self.client = client or RocketChatClient(user, password, server_url, timeout)
        if not self.webhook_token and not self.livechat_token:
            logger.warning(
                "RocketChat channel has neither webhook_token nor livechat_token: "
                "every webhook call will be refused"
            )

    def get_output_channel(self) -> RocketChatBot:
        return RocketChatBot(self.client, self.handoff_department_id)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
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

            if "visitor" in payload:
                shape = SHAPE_LIVECHAT
                refusal = self._check_secret(
                    request.headers.get(LIVECHAT_TOKEN_HEADER), self.livechat_token
                )
            else:
                shape = SHAPE_WEBHOOK
                refusal = self._check_secret(payload.get("token"), self.webhook_token)
            if refusal is not None:
                logger.warning("RocketChat %s call refused (%s)", shape, refusal.status)
                return refusal

            if shape == SHAPE_LIVECHAT:
                messages, reason = self._livechat_messages(payload)
            else:
                messages, reason = self._webhook_messages(payload)
            if not messages:
                logger.debug("RocketChat %s event ignored: %s", shape, reason)
                return _ignored(reason)

            output_channel = self.get_output_channel()
            for incoming in messages:
                try:
                    await on_new_message(
                        UserMessage(
                            incoming.text,
                            output_channel,
                            incoming.sender_id,
                            input_channel=self.name(),
                            message_id=incoming.message_id,
                            metadata=incoming.metadata,
                        )
                    )
                except Exception:
                    logger.exception(
                        "Bot turn failed for RocketChat room %s",
                        room_ref(incoming.sender_id),
                    )
                    return response.json({"status": "error"}, status=500)
            return response.json({"status": "ok"})

        @rocketchat_webhook.listener("after_server_stop")
        async def close_client(*_: Any) -> None:
            await self.client.close()

        return rocketchat_webhook

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

    def _is_bot(self, username: Any) -> bool:
        return isinstance(username, str) and username.casefold() == (self.user or "").casefold()

    def _webhook_messages(self, payload: Dict[Text, Any]) -> Tuple[List[_Incoming], Text]:
        """The message an outgoing-webhook call carries; the conversation is the room."""
        if payload.get("bot") or self._is_bot(payload.get("user_name")):
            return [], "bot message"
        if payload.get("user_id") and payload.get("user_id") == self.client.bot_user_id:
            return [], "bot message"
        if payload.get("isEdited"):
            return [], "edited message"
        text, room_id = payload.get("text"), payload.get("channel_id")
        if not isinstance(text, str) or not text.strip():
            return [], "no text"
        if not isinstance(room_id, str) or not room_id:
            return [], "no channel_id"
        metadata = {
            "shape": SHAPE_WEBHOOK,
            "room_id": room_id,
            "user_id": payload.get("user_id"),
            "message_id": payload.get("message_id"),
        }
        return [_Incoming(text, room_id, payload.get("message_id"), metadata)], ""

    def _livechat_messages(self, payload: Dict[Text, Any]) -> Tuple[List[_Incoming], Text]:
        """The visitor's messages in an Omnichannel `Message` event.

        RocketChat marks messages written by anyone but the visitor with `agentId`;
        session events (start, taken, forwarded, queued, closed) are not messages.
        """
        event_type = payload.get("type")
        if event_type != "Message":
            return [], f"event {event_type}"
        room_id = payload.get("_id")
        if not isinstance(room_id, str) or not room_id:
            return [], "no room id"
        messages = payload.get("messages")
        if not isinstance(messages, list):  # fuzzing found `true` and numbers here (issue 9)
            return [], "no messages"
        visitor = payload.get("visitor") or {}
        visitor_name = visitor.get("username") if isinstance(visitor, dict) else None
        incoming = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            author = message.get("username")
            if message.get("agentId") or message.get("closingMessage") or self._is_bot(author):
                continue
            if visitor_name and author != visitor_name:
                continue
            text = message.get("msg")
            if not isinstance(text, str) or not text.strip():
                continue
            metadata = {
                "shape": SHAPE_LIVECHAT,
                "room_id": room_id,
                "visitor_id": visitor.get("_id") if isinstance(visitor, dict) else None,
                "message_id": message.get("_id"),
            }
            incoming.append(_Incoming(text, room_id, message.get("_id"), metadata))
        return incoming, ("" if incoming else "no visitor message")
