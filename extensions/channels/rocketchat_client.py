"""The Rocket.Chat REST client the connector uses: one HTTP session, one login.

What it follows in Rocket.Chat's own source (RocketChat/Rocket.Chat):
- `apps/meteor/app/api/server/api.ts`: every v1 route may be rate-limited per route
  and IP; each answer then carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
  `X-RateLimit-Reset` (epoch *milliseconds*), and a refused call gets 429 with no
  `Retry-After`. A 401 means the token is gone. Users with the
  `api-bypass-rate-limit` permission (the `bot` role by default) are not limited.
- `packages/rest-typings/src/v1/chat.ts` (`ChatPostMessageSchema`): chat.postMessage
  takes `roomId` *or* `channel` (never both) plus `text`, `alias`, `emoji`, `avatar`,
  `attachments`, `tmid` (with roomId only), `customFields`, `parseUrls`; any other
  key is a 400 (`additionalProperties: false`).
- `apps/meteor/app/livechat/server/api/v1/room.ts`: `livechat/room.forward` needs the
  `view-l-room` and `transfer-livechat-guest` permissions; refusals are 403, and the
  forward's own errors (same department, no agent online, closed room) are 400.

Secrets (password, token) and message texts never reach the log; rooms appear as a
short hash.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import aiohttp

from imago_core.delivery.retry import (
    retry_after_seconds,  # one Retry-After parser for every client
)

logger = logging.getLogger("extensions.channels.rocketchat")

DEFAULT_TIMEOUT = 10.0
MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.5
# Turns run in the background, so a rate-limit window (60 s by default in
# Rocket.Chat) can be waited out; longer waits are cut to this.
RATE_LIMIT_WAIT_CAP = 60.0

# chat.postMessage keys besides roomId/channel (ChatPostMessageSchema).
POST_MESSAGE_KEYS = frozenset({"text", "alias", "emoji", "avatar", "attachments", "customFields", "parseUrls"})


def room_ref(room_id: Optional[Text]) -> Text:
    """A short stable reference to a room for logs, which never show the room id."""
    return hashlib.sha256((room_id or "").encode("utf-8")).hexdigest()[:12]


def post_message_body(room_id: Text, payload: Dict[Text, Any]) -> Tuple[Dict[Text, Any], List[Text]]:
    """A chat.postMessage body that Rocket.Chat's schema accepts, and the keys dropped.

    `channel` in the payload wins (then no roomId is sent); otherwise `roomId`
    (the payload's, else the conversation's room). `tmid` only goes with roomId.
    """
    body = {key: value for key, value in payload.items() if key in POST_MESSAGE_KEYS}
    dropped = sorted(k for k in payload if k not in POST_MESSAGE_KEYS | {"roomId", "channel", "tmid"})
    if payload.get("channel"):
        body["channel"] = payload["channel"]
        if "tmid" in payload:
            dropped.append("tmid")
    else:
        body["roomId"] = payload.get("roomId") or room_id
        if payload.get("tmid"):
            body["tmid"] = payload["tmid"]
    return body, dropped


@dataclass(frozen=True)
class Answer:
    """What a call came back with; `status` None means no answer came."""

    status: Optional[int]
    body: Any = None

    @property
    def ok(self) -> bool:
        refused = isinstance(self.body, dict) and self.body.get("success") is False
        return self.status is not None and 200 <= self.status < 300 and not refused

    @property
    def error(self) -> Text:
        """Rocket.Chat's error text (e.g. `error-forwarding-chat-same-department`)."""
        if isinstance(self.body, dict):
            for key in ("error", "message", "errorType"):
                if isinstance(self.body.get(key), str) and self.body[key]:
                    return self.body[key]
        return f"status {self.status}"


@dataclass(frozen=True)
class _Login:
    auth_token: Text
    user_id: Text

    def headers(self) -> Dict[Text, Text]:
        return {"X-Auth-Token": self.auth_token, "X-User-Id": self.user_id}


@dataclass(frozen=True)
class _Attempt:
    answer: Answer
    wait: Optional[float] = None  # what the server asked us to wait (rate limit)
    worth_repeating: bool = False


class RocketChatClient:
    """Made once per channel; the aiohttp session is created on first use, inside
    the running event loop.

    Authentication: a personal access token (`auth_token` + `user_id`) when given,
    which survives two-factor authentication; otherwise `POST /api/v1/login` with
    the password, and one new login when a token is refused (401).
    """

    def __init__(
        self,
        user: Text,
        password: Optional[Text],
        server_url: Text,
        timeout: float = DEFAULT_TIMEOUT,
        auth_token: Optional[Text] = None,
        user_id: Optional[Text] = None,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = BACKOFF_BASE,
        rate_limit_wait_cap: float = RATE_LIMIT_WAIT_CAP,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user = user
        self._password = password
        self.server_url = (server_url or "").rstrip("/")
        self.timeout = float(timeout)
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_base = backoff_base
        self.rate_limit_wait_cap = rate_limit_wait_cap
        self._sleep = sleep
        self._clock = clock
        self._token = _Login(auth_token, user_id) if auth_token and user_id else None
        self._session: Optional[aiohttp.ClientSession] = None
        self._login: Optional[_Login] = self._token
        self._login_lock = asyncio.Lock()
        self._not_before: Dict[Text, float] = {}  # endpoint -> epoch seconds (remaining was 0)

    @property
    def uses_personal_token(self) -> bool:
        return self._token is not None

    @property
    def bot_user_id(self) -> Optional[Text]:
        return self._login.user_id if self._login else None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # -- the calls the connector makes --------------------------------------------
    async def post_message(self, room_id: Text, payload: Dict[Text, Any]) -> bool:
        body, dropped = post_message_body(room_id, payload)
        if dropped:
            logger.warning("RocketChat chat.postMessage: dropped keys Rocket.Chat refuses: %s", ", ".join(dropped))
        if not any(body.get(key) for key in ("text", "attachments")):
            return True  # nothing left to post
        answer = await self._call("POST", "chat.postMessage", room_id, body=body)
        return answer.ok

    async def forward_room(self, room_id: Text, department_id: Text, comment: Optional[Text] = None) -> Answer:
        """POST /api/v1/livechat/room.forward: hands an Omnichannel room to a department."""
        body: Dict[Text, Any] = {"roomId": room_id, "departmentId": department_id}
        if comment:
            body["comment"] = comment
        return await self._call("POST", "livechat/room.forward", room_id, body=body)

    async def room_info(self, room_id: Text) -> Optional[Dict[Text, Any]]:
        """GET /api/v1/rooms.info: type, members count, department, open/closed."""
        answer = await self._call("GET", "rooms.info", room_id, params={"roomId": room_id})
        room = answer.body.get("room") if answer.ok and isinstance(answer.body, dict) else None
        return room if isinstance(room, dict) else None

    async def department_online(self, department_id: Text) -> Optional[bool]:
        """GET /api/v1/livechat/config?department=: whether the department would take a
        chat now (online agents; apps/meteor/app/livechat/server/api/v1/config.ts).
        None when unknown."""
        answer = await self._call("GET", "livechat/config", None, params={"department": department_id})
        config = answer.body.get("config") if answer.ok and isinstance(answer.body, dict) else None
        online = config.get("online") if isinstance(config, dict) else None
        return online if isinstance(online, bool) else None

    async def username_of(self, user_id: Text) -> Optional[Text]:
        """GET /api/v1/users.info?userId=: the username im.create needs."""
        answer = await self._call("GET", "users.info", None, params={"userId": user_id})
        user = answer.body.get("user") if answer.ok and isinstance(answer.body, dict) else None
        return user.get("username") if isinstance(user, dict) else None

    async def create_direct_room(self, username: Text) -> Optional[Text]:
        """POST /api/v1/im.create {username}: the id of the direct message with that user."""
        answer = await self._call("POST", "im.create", None, body={"username": username})
        room = answer.body.get("room") if answer.ok and isinstance(answer.body, dict) else None
        if not isinstance(room, dict):
            return None
        return room.get("rid") or room.get("_id")

    async def me(self) -> Optional[Dict[Text, Any]]:
        answer = await self._call("GET", "me", None)
        return answer.body if answer.ok and isinstance(answer.body, dict) else None

    async def permission_roles(self) -> Optional[Dict[Text, List[Text]]]:
        """GET /api/v1/permissions.listAll, as {permission: [roles]}."""
        answer = await self._call("GET", "permissions.listAll", None)
        if not answer.ok or not isinstance(answer.body, dict):
            return None
        return {
            item["_id"]: [r for r in item.get("roles") or [] if isinstance(r, str)]
            for item in answer.body.get("update") or []
            if isinstance(item, dict) and isinstance(item.get("_id"), str)
        }

    async def ensure_login(self) -> bool:
        return await self._current_login() is not None

    # -- authentication ------------------------------------------------------------
    async def _call(self, method: Text, endpoint: Text, room_id: Optional[Text],
                    body: Optional[Dict[Text, Any]] = None, params: Optional[Dict[Text, Any]] = None) -> Answer:
        login = await self._current_login()
        if login is None:
            logger.error("RocketChat %s not sent (room %s): login failed", endpoint, room_ref(room_id))
            return Answer(None)
        answer = await self._request(method, endpoint, body, params, login.headers())
        if answer.status == 401:  # token expired or revoked
            if self.uses_personal_token:
                logger.error("RocketChat refused the personal access token (401): create a new one")
            else:
                logger.info("RocketChat token refused (401); logging in again")
                login = await self._current_login(stale=login)
                if login is not None:
                    answer = await self._request(method, endpoint, body, params, login.headers())
        if not answer.ok:
            logger.error("RocketChat %s failed for room %s (%s)", endpoint, room_ref(room_id),
                         _loggable_error(answer))
        return answer

    async def _current_login(self, stale: Optional[_Login] = None) -> Optional[_Login]:
        """The shared login; a new one only if there is none or `stale` was refused.

        Several replies failing with the same expired token cause one login, not many.
        """
        if self._token is not None:
            return self._token
        async with self._login_lock:
            if self._login is not None and self._login is not stale:
                return self._login
            self._login = None
            answer = await self._request("POST", "login", {"user": self.user, "password": self._password}, None, {})
            data = answer.body.get("data") if isinstance(answer.body, dict) else None
            if answer.status != 200 or not isinstance(data, dict):
                logger.error("RocketChat login failed (status %s)", answer.status)
                return None
            token, user_id = data.get("authToken"), data.get("userId")
            if not token or not user_id:
                logger.error("RocketChat login answer lacks authToken/userId")
                return None
            self._login = _Login(token, user_id)
            return self._login

    # -- transport: retries and rate limits ----------------------------------------
    async def _request(self, method: Text, endpoint: Text, body: Optional[Dict[Text, Any]],
                       params: Optional[Dict[Text, Any]], headers: Dict[Text, Text]) -> Answer:
        """Retries 429, 5xx and lost connections; returns the last answer."""
        attempt = 1
        while True:
            await self._respect_rate_limit(endpoint)
            result = await self._request_once(method, endpoint, body, params, headers)
            if not result.worth_repeating or attempt >= self.max_attempts:
                return result.answer
            delay = self.backoff_base * 2 ** (attempt - 1)
            if result.answer.status == 429 and result.wait is not None:
                # Never shorter than the backoff: a reset already past (our clock ahead of the
                # server's) would otherwise mean retrying at once into the same 429.
                delay = min(max(result.wait, delay), self.rate_limit_wait_cap)
            logger.warning("RocketChat %s answered %s; retry %d in %.2fs",
                           endpoint, result.answer.status, attempt, delay)
            await self._sleep(delay)
            attempt += 1

    async def _respect_rate_limit(self, endpoint: Text) -> None:
        """Waits when the last answer said no calls remain in this window."""
        not_before = self._not_before.pop(endpoint, None)
        if not_before is None:
            return
        wait = not_before - self._clock()
        if wait > 0:
            await self._sleep(min(wait, self.rate_limit_wait_cap))

    async def _request_once(self, method: Text, endpoint: Text, body: Optional[Dict[Text, Any]],
                            params: Optional[Dict[Text, Any]], headers: Dict[Text, Text]) -> _Attempt:
        url = f"{self.server_url}/api/v1/{endpoint}"
        try:
            async with self._http().request(method, url, json=body, params=params, headers=headers) as resp:
                try:
                    parsed = await resp.json(content_type=None)
                except ValueError:
                    parsed = None
                wait = self._note_rate_limit(endpoint, resp.headers)
                return _Attempt(Answer(resp.status, parsed), wait,
                                worth_repeating=resp.status == 429 or resp.status >= 500)
        except aiohttp.ClientConnectionError as error:
            # Refused, reset, or a kept-alive connection the server had closed.
            logger.warning("RocketChat %s connection failed (%s)", endpoint, type(error).__name__)
            return _Attempt(Answer(None), worth_repeating=True)
        except asyncio.TimeoutError:
            # A POST may have been carried out already: only reads are repeated.
            logger.warning("RocketChat %s timed out after %ss", endpoint, self.timeout)
            return _Attempt(Answer(None), worth_repeating=method == "GET")
        except aiohttp.ClientError as error:
            logger.warning("RocketChat %s failed (%s)", endpoint, type(error).__name__)
            return _Attempt(Answer(None))

    def _note_rate_limit(self, endpoint: Text, headers: Any) -> Optional[float]:
        """Seconds until the window resets: X-RateLimit-Reset (epoch ms), else Retry-After.

        When no calls remain, the next call to the endpoint waits for the reset.
        """
        wait = None
        reset = headers.get("X-RateLimit-Reset")
        if reset:
            try:
                reset_at = float(reset) / 1000.0
            except ValueError:
                reset_at = None
            if reset_at is not None:
                wait = max(0.0, reset_at - self._clock())
                if headers.get("X-RateLimit-Remaining") == "0":
                    self._not_before[endpoint] = reset_at
        if wait is None:
            wait = retry_after_seconds(headers.get("Retry-After"))
        return wait


def _loggable_error(answer: Answer) -> Text:
    """Status and Rocket.Chat's error code; error texts are Rocket.Chat's, never ours."""
    if answer.status is None:
        return "no answer"
    error = answer.error
    return f"status {answer.status}" + ("" if error.startswith("status ") else f": {error[:120]}")
