"""A stand-in Rocket.Chat for tests, on 127.0.0.1 and a free port, that keeps the real
server's contracts. Each contract names the file of RocketChat/Rocket.Chat (or
RocketChat/Apps.Rasa) it follows; where the fake simplifies, it says so.

REST (`/api/v1/...`, auth by `X-Auth-Token` + `X-User-Id`):
- `POST login` (JSON or form `user`, `password`) -> `{"status": "success", "data":
  {"authToken", "userId", "me"}}`, 401 otherwise (apps/meteor/app/api/server/api.ts,
  `_initAuth`). Personal access tokens: `personal_access_token()` gives a token that
  works without login. A missing or wrong token on any route: 401 with
  `{"status": "error", "message": "You must be logged in to do this."}` (api.ts).
- Rate limits (api.ts, `enforceRateLimit`): per route, a fixed window of
  `rate_limit_calls` calls per `rate_limit_window` seconds; every answer of a limited
  route carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
  (epoch ms); over the limit: 429 `error-too-many-requests`, no `Retry-After`. Users
  whose roles hold `api-bypass-rate-limit` (the `bot` role by default,
  apps/meteor/app/authorization/server/constant/permissions.ts) are not limited.
- `POST chat.postMessage`: the strict `ChatPostMessageSchema` of
  packages/rest-typings/src/v1/chat.ts (roomId xor channel, no unknown keys) -> 400
  `invalid-params`. Into a livechat room only the serving agent (`servedBy`) or a user
  with `view-livechat-rooms` may post: canSendMessage.ts (`error-not-allowed` when
  canAccessRoomAsync fails) with the validators of
  apps/meteor/app/livechat/server/roomAccessValidator.compatibility.ts; so after a
  forward the bot's posts are refused (answered 400, as api.ts answers a thrown error;
  the status itself was not checked for this path).
- `POST livechat/room.forward` (apps/meteor/app/livechat/server/api/v1/room.ts):
  403 without `view-l-room` and `transfer-livechat-guest`; then the department rules
  of `forwardRoomToDepartment` (apps/meteor/app/livechat/server/lib/Helper.ts): 400
  `error-forwarding-chat-same-department`, 400 `error-no-agents-online-in-department`
  (or queued when the department has `allowReceiveForwardOffline`), 400 for a closed
  room; on success the room's `servedBy` becomes an online agent of the department.
- `GET livechat/config?department=` (apps/meteor/app/livechat/server/api/v1/config.ts,
  no login needed): `config.online` is true when the department has an online agent or
  `accept_chats_with_no_agents` (Livechat_accept_chats_with_no_agents) is on
  (apps/meteor/app/livechat/server/lib/service-status.ts; bot agents not modelled).
- Closing a livechat room (`close_room`) sets `closedAt` and removes `open`, as
  LivechatRooms.closeRoomById does (`$unset: {open: 1}`,
  packages/models/src/models/LivechatRooms.ts); rooms.info then has no `open` at all.
- `GET rooms.info`, `GET users.info`, `POST im.create` (direct message ids as in
  apps/meteor/app/lib/server/functions/createDirectRoom.ts), `GET me`,
  `GET permissions.listAll` (apps/meteor/app/api/server/v1/permissions.ts).

Webhooks the fake *sends* (as Rocket.Chat would):
- Omnichannel (`send_livechat`): the payload of
  apps/meteor/app/livechat/server/hooks/sendToCRM.ts (`_id` = room, `visitor`,
  `agent` = the serving agent, `type`, `messages` with `agentId` for agents and
  `editedAt` for edits), header `X-RocketChat-Livechat-Token`, and the delivery rule
  of apps/meteor/app/livechat/server/lib/webhooks.ts: timeout `http_timeout`
  (Livechat_http_timeout, 5 s), anything but 200 that is a 5xx or 429 (or no answer)
  is re-sent after `resend_interval` (timeout * 4 = 20 s there; shorter in tests),
  5 attempts in all.
- Outgoing webhook (`send_outgoing`): the payload of
  apps/meteor/app/integrations/server/lib/triggerHandler.ts (`channel_id`,
  `message_id`, `user_id`, `user_name`, `text`, `isEdited`, `bot`, `token`) and its
  own delivery rule, not the Omnichannel one (`executeTriggerUrl`): 200/201/202 with
  a body ends it; no body (any status) or any other status with a body is retried
  `retry_count` times (the form's default: retryFailedCalls on, 6 retries,
  'powers-of-ten' = 0.1 s, 1 s, 10 s, ... after try n: 10^(n+2) ms); but a 410 with a
  body disables the integration and a 500 with a body is given up, both at once; a
  connection error or timeout lands in the fetch's `.catch` and is not retried.
  (triggerHandler.ts read at commit 005c99bc: a 7.x file, with no vm2 engine left after
  PR #32980. The defaults are those of the admin form's NewOutgoingWebhook in an older
  client, and of server migration 89, which set them on existing integrations.)

It runs in a thread, so both blocking and asyncio clients can use it.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

import requests

API = "/api/v1/"
LOGIN = "/api/v1/login"
POST_MESSAGE = "/api/v1/chat.postMessage"
ROOM_FORWARD = "/api/v1/livechat/room.forward"
ROOMS_INFO = "/api/v1/rooms.info"
USERS_INFO = "/api/v1/users.info"
IM_CREATE = "/api/v1/im.create"
ME = "/api/v1/me"
PERMISSIONS = "/api/v1/permissions.listAll"
LIVECHAT_CONFIG = "/api/v1/livechat/config"

# Default role grants of the permissions that matter here (permissions.ts).
DEFAULT_PERMISSIONS = {
    "view-l-room": ["livechat-manager", "livechat-monitor", "livechat-agent", "admin"],
    "transfer-livechat-guest": ["livechat-manager", "livechat-monitor", "admin"],
    "api-bypass-rate-limit": ["admin", "bot", "app"],
    "view-livechat-rooms": ["livechat-manager", "livechat-monitor", "admin"],
}
# ChatPostMessageSchema (packages/rest-typings/src/v1/chat.ts).
_POST_MESSAGE_COMMON = {"text", "alias", "emoji", "avatar", "attachments", "customFields", "parseUrls"}
_POST_MESSAGE_ROOM_KEYS = _POST_MESSAGE_COMMON | {"roomId", "tmid"}
_POST_MESSAGE_CHANNEL_KEYS = _POST_MESSAGE_COMMON | {"channel"}
FORBIDDEN = "User does not have the permissions required for this action [error-unauthorized]"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Dict[str, str]
    body: Any
    status: int  # what the fake answered


@dataclass
class _Fault:
    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    expire_token: bool = False


@dataclass
class User:
    _id: str
    username: str
    roles: List[str]
    online: bool = True


@dataclass
class Room:
    _id: str
    t: str  # "c" channel, "p" group, "d" direct, "l" livechat
    uids: List[str] = field(default_factory=list)
    name: Optional[str] = None
    department_id: Optional[str] = None
    served_by: Optional[str] = None  # user id of the serving agent (livechat)
    visitor: Optional[Dict[str, Any]] = None
    closed_at: Optional[str] = None  # a closed room has this and no `open` (closeRoomById)

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass
class Department:
    _id: str
    agents: List[str]  # user ids
    allow_receive_forward_offline: bool = False


@dataclass
class Delivery:
    """One webhook delivery as Rocket.Chat's sendRequest would make it."""

    attempts: List[Optional[int]] = field(default_factory=list)  # status, None = no answer in time
    waits: List[float] = field(default_factory=list)  # seconds waited before each re-send
    integration_disabled: bool = False  # an outgoing webhook answered 410 (triggerHandler.ts)


class FakeRocketChat:
    def __init__(self, user: str = "privacy-bot", password: str = "bot-password", bot_user_id: str = "BOTUSERID",
                 bot_roles: Optional[List[str]] = None, http_timeout: float = 5.0,
                 resend_interval: Optional[float] = None, rate_limit_calls: int = 10,
                 rate_limit_window: float = 60.0) -> None:
        self.user = user
        self.password = password
        self.bot_user_id = bot_user_id
        self.http_timeout = http_timeout  # Livechat_http_timeout (ms in Rocket.Chat)
        self.resend_interval = resend_interval if resend_interval is not None else http_timeout * 4
        self.rate_limit_calls = rate_limit_calls  # API_Enable_Rate_Limiter_Limit_Calls_Default
        self.rate_limit_window = rate_limit_window  # ..._Limit_Time_Default (60000 ms)
        self.permissions: Dict[str, List[str]] = {k: list(v) for k, v in DEFAULT_PERMISSIONS.items()}
        self.accept_chats_with_no_agents = False  # Livechat_accept_chats_with_no_agents
        self.users: Dict[str, User] = {}
        self.rooms: Dict[str, Room] = {}
        self.departments: Dict[str, Department] = {}
        self.requests: List[RecordedRequest] = []
        self._faults: Dict[str, List[_Fault]] = {}
        self._delays: Dict[str, List[float]] = {}
        self._valid_tokens: Dict[str, str] = {}  # token -> user id
        self._windows: Dict[str, List[float]] = {}  # route -> [window start, count]
        self._counter = itertools.count(1)
        self._lock = threading.RLock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.add_user(bot_user_id, user, bot_roles or ["bot", "livechat-agent"])

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> "FakeRocketChat":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-rocketchat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeRocketChat":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- the workspace ------------------------------------------------------------
    def add_user(self, user_id: str, username: str, roles: Optional[List[str]] = None, online: bool = True) -> User:
        with self._lock:
            self.users[user_id] = User(user_id, username, roles or ["user"], online)
            return self.users[user_id]

    def add_channel(self, room_id: str, member_ids: List[str], name: str = "general") -> Room:
        with self._lock:
            self.rooms[room_id] = Room(room_id, "c", list(member_ids), name)
            return self.rooms[room_id]

    def add_direct_message(self, member_ids: List[str], room_id: Optional[str] = None) -> Room:
        """A DM: two members get their joined ids (createDirectRoom.ts), more a random id."""
        rid = room_id or "".join(sorted(member_ids))
        with self._lock:
            self.rooms[rid] = Room(rid, "d", sorted(member_ids))
            return self.rooms[rid]

    def add_department(self, department_id: str, agent_ids: List[str], allow_receive_forward_offline: bool = False):
        with self._lock:
            self.departments[department_id] = Department(department_id, list(agent_ids),
                                                         allow_receive_forward_offline)

    def add_livechat_room(self, room_id: str, visitor_username: str = "guest-1", visitor_id: str = "VISITORID",
                          department_id: Optional[str] = None, served_by: Optional[str] = "bot") -> Room:
        """A livechat room; `served_by` "bot" (default) means the bot user serves it."""
        agent = self.bot_user_id if served_by == "bot" else served_by
        visitor = {"_id": visitor_id, "token": f"token-{visitor_id}", "name": "Visitor", "username": visitor_username}
        with self._lock:
            self.rooms[room_id] = Room(room_id, "l", [], None, department_id, agent, visitor)
            return self.rooms[room_id]

    def grant(self, permission: str, roles: List[str]) -> None:
        with self._lock:
            self.permissions[permission] = list(roles)

    def personal_access_token(self, user_id: Optional[str] = None) -> str:
        token = f"pat-{next(self._counter)}"
        with self._lock:
            self._valid_tokens[token] = user_id or self.bot_user_id
        return token

    def close_room(self, room_id: str) -> Dict[str, Any]:
        """Closes a livechat room; returns the `LivechatSession` event Rocket.Chat sends."""
        with self._lock:
            room = self.rooms[room_id]
            room.closed_at = "2024-05-01T11:00:00.000Z"
            payload = self._livechat_base(room)
        payload.update({"type": "LivechatSession", "closedAt": room.closed_at,
                        "departmentId": room.department_id, "messages": []})
        return payload

    def forward_to_agent(self, room_id: str, user_id: str, department_id: Optional[str] = None) -> None:
        """A person forwards the room to an agent (the bot, to hand it back): `servedBy` changes."""
        with self._lock:
            room = self.rooms[room_id]
            room.served_by = user_id
            if department_id is not None:
                room.department_id = department_id

    # -- payloads Rocket.Chat would send ----------------------------------------------
    def livechat_message(self, room_id: str, text: str, message_id: Optional[str] = None, edited: bool = False,
                         from_agent: Optional[str] = None) -> Dict[str, Any]:
        """A `Message` event as sendToCRM.ts builds it for one new message."""
        with self._lock:
            room = self.rooms[room_id]
            payload = self._livechat_base(room)
            author = self.users[from_agent].username if from_agent else room.visitor["username"]
        message: Dict[str, Any] = {"_id": message_id or f"LMSG{next(self._counter)}", "username": author,
                                   "msg": text, "ts": "2024-05-01T10:00:00.000Z", "rid": room_id}
        if edited:
            message["editedAt"] = "2024-05-01T10:01:00.000Z"
        if from_agent:
            message["agentId"] = from_agent
        payload.update({"type": "Message", "messages": [message]})
        return payload

    def _livechat_base(self, room: Room) -> Dict[str, Any]:
        """getLivechatRoomGuestInfo: room, visitor and (when served) the agent."""
        payload: Dict[str, Any] = {"_id": room._id, "label": room.visitor["name"], "topic": None,
                                   "createdAt": "2024-05-01T09:59:00.000Z", "tags": None, "customFields": {},
                                   "visitor": {**room.visitor, "email": None, "phone": None}}
        if room.served_by:
            agent = self.users[room.served_by]
            payload["agent"] = {"_id": agent._id, "username": agent.username, "name": agent.username,
                                "email": None}
        return payload

    def outgoing_message(self, room_id: str, user_id: str, text: str, token: str,
                         message_id: Optional[str] = None, edited: bool = False) -> Dict[str, Any]:
        with self._lock:
            room, user = self.rooms[room_id], self.users[user_id]
        payload = {"token": token, "bot": False, "channel_id": room_id, "channel_name": room.name,
                   "message_id": message_id or f"MSG{next(self._counter)}", "timestamp": "2024-05-01T10:00:00Z",
                   "user_id": user_id, "user_name": user.username, "text": text, "siteUrl": self.url}
        if edited:
            payload["isEdited"] = True
        return payload

    # -- delivering webhooks (blocking: call it from a thread in async tests) -----------
    def send_livechat(self, url: str, payload: Dict[str, Any], secret: Optional[str], attempts: int = 5) -> Delivery:
        """webhooks.ts sendRequest: POST with the secret header; 200 ends it; a 5xx, 429
        or no answer within `http_timeout` is re-sent after `resend_interval`."""
        headers = {"X-RocketChat-Livechat-Token": secret} if secret else {}
        return self._deliver(url, payload, headers, attempts)

    def send_outgoing(self, url: str, payload: Dict[str, Any], retry_count: int = 6,
                      sleep=None) -> Delivery:
        """triggerHandler.ts executeTriggerUrl (see the module doc). `sleep` stands in for the
        setTimeout between tries (tests pass one that records and returns at once)."""
        delivery = Delivery()
        for tries in range(retry_count + 1):
            try:
                answer = requests.post(url, json=payload, timeout=self.http_timeout)
                status, content = answer.status_code, answer.text
            except requests.RequestException:
                delivery.attempts.append(None)
                return delivery  # the fetch's .catch: logged, never retried
            delivery.attempts.append(status)
            if content and status in (200, 201, 202):
                return delivery
            if content and status == 410:
                delivery.integration_disabled = True
                return delivery
            if content and status == 500:
                return delivery
            if tries < retry_count:
                wait = 10 ** (tries + 2) / 1000.0  # 'powers-of-ten'
                delivery.waits.append(wait)
                (sleep or time.sleep)(wait)
        return delivery

    def _deliver(self, url: str, payload: Dict[str, Any], headers: Dict[str, str], attempts: int) -> Delivery:
        delivery = Delivery()
        for attempt in range(attempts):
            try:
                status = requests.post(url, json=payload, headers=headers, timeout=self.http_timeout).status_code
            except requests.RequestException:
                status = None
            delivery.attempts.append(status)
            if status is not None and not (status >= 500 or status == 429):
                return delivery  # 200, or an error that is not worth repeating
            if attempt + 1 < attempts:
                time.sleep(self.resend_interval)
        return delivery

    # -- fault injection ------------------------------------------------------------
    def fail_next(self, path: str, status: int, times: int = 1, headers: Optional[Dict[str, str]] = None,
                  expire_token: bool = False) -> None:
        """The next `times` requests to `path` get `status` (and `headers`)."""
        with self._lock:
            queue = self._faults.setdefault(path, [])
            for _ in range(times):
                queue.append(_Fault(status, dict(headers or {}), expire_token))

    def fail_next_login(self, status: int = 401) -> None:
        self.fail_next(LOGIN, status)

    def fail_next_post_messages(self, times: int, status: int, retry_after: Optional[str] = None) -> None:
        """401 also expires the token presented, like a real expired session."""
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        self.fail_next(POST_MESSAGE, status, times, headers, expire_token=status == 401)

    def slow_next(self, path: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._delays.setdefault(path, []).extend([seconds] * times)

    def expire_all_tokens(self) -> None:
        with self._lock:
            self._valid_tokens.clear()

    # -- what was received ----------------------------------------------------------
    def calls(self, path: str) -> List[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for_calls(self, path: str, count: int, timeout: float = 5.0) -> List[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.calls(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {len(self.calls(path))} calls, expected {count}")
            time.sleep(0.01)
        return self.calls(path)

    def login_count(self) -> int:
        return len(self.calls(LOGIN))

    def posted_messages(self, room_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Bodies of the chat.postMessage calls that succeeded, in order."""
        return [r.body for r in self.calls(POST_MESSAGE)
                if r.status == 200 and (room_id is None or r.body.get("roomId") == room_id)]

    def forwards(self) -> List[Dict[str, Any]]:
        return [r.body for r in self.calls(ROOM_FORWARD) if r.status == 200]

    # -- request handling -------------------------------------------------------------
    def _handle(self, method: str, target: str, headers: Dict[str, str], raw: bytes):
        split = urlsplit(target)
        path, query = split.path, {k: v[0] for k, v in parse_qs(split.query).items()}
        body = _parse_body(headers.get("content-type", ""), raw) if method == "POST" else query
        with self._lock:
            delays = self._delays.get(path)
            delay = delays.pop(0) if delays else 0.0
        if delay:
            time.sleep(delay)
        with self._lock:
            status, answer, extra_headers = self._answer(method, path, headers, body)
            self.requests.append(RecordedRequest(method, path, headers, body, status))
        return status, answer, extra_headers

    def _answer(self, method: str, path: str, headers: Dict[str, str], body: Any):
        routes = {("POST", LOGIN): None, ("POST", POST_MESSAGE): self._post_message,
                  ("POST", ROOM_FORWARD): self._room_forward, ("GET", ROOMS_INFO): self._rooms_info,
                  ("GET", USERS_INFO): self._users_info, ("POST", IM_CREATE): self._im_create,
                  ("GET", ME): self._me, ("GET", PERMISSIONS): self._permissions_list,
                  ("GET", LIVECHAT_CONFIG): self._livechat_config}
        if (method, path) not in routes:
            return 404, {"success": False, "error": "Not found"}, {}
        queue = self._faults.get(path)
        if queue:
            fault = queue.pop(0)
            if fault.expire_token:
                self._valid_tokens.pop(headers.get("x-auth-token"), None)
            return fault.status, _error_body(path, fault.status), fault.headers
        if path == LOGIN:
            return self._login(body)
        if path == LIVECHAT_CONFIG:  # public: the widget asks it before anyone logs in
            status, answer = self._livechat_config(None, body)
            return status, answer, {}
        user = self._authenticated(headers)
        if user is None:
            return 401, _error_body(path, 401), {}
        limited, rate_headers = self._rate_limit(path, user)
        if limited:
            wait = max(0, round((float(rate_headers["X-RateLimit-Reset"]) / 1000 - time.time())))
            return 429, {"success": False, "error": "Error, too many requests. Please slow down. You must wait "
                         f"{wait} seconds before trying this endpoint again. [error-too-many-requests]"}, rate_headers
        if method == "POST" and not isinstance(body, dict):
            return 400, {"success": False, "error": "JSON body expected"}, rate_headers
        status, answer = routes[(method, path)](user, body)
        return status, answer, rate_headers

    def _authenticated(self, headers: Dict[str, str]) -> Optional[User]:
        user_id = self._valid_tokens.get(headers.get("x-auth-token", ""))
        if user_id is None or headers.get("x-user-id") != user_id:
            return None
        return self.users.get(user_id)

    def _has(self, user: User, permission: str) -> bool:
        return bool(set(user.roles) & set(self.permissions.get(permission, [])))

    def _rate_limit(self, path: str, user: User):
        """api.ts enforceRateLimit: a fixed window per route; bypassed with the permission."""
        if self._has(user, "api-bypass-rate-limit"):
            return False, {}
        now = time.time()
        start, count = self._windows.get(path, [now, 0])
        if now - start >= self.rate_limit_window:
            start, count = now, 0
        count += 1
        self._windows[path] = [start, count]
        reset_ms = int((start + self.rate_limit_window) * 1000)
        remaining = max(0, self.rate_limit_calls - count)
        headers = {"X-RateLimit-Limit": str(self.rate_limit_calls), "X-RateLimit-Remaining": str(remaining),
                   "X-RateLimit-Reset": str(reset_ms)}
        return count > self.rate_limit_calls, headers

    def _login(self, body: Any):
        body = body if isinstance(body, dict) else {}
        if body.get("user") != self.user or body.get("password") != self.password:
            return 401, _error_body(LOGIN, 401), {}
        token = f"token-{next(self._counter)}"
        self._valid_tokens[token] = self.bot_user_id
        data = {"authToken": token, "userId": self.bot_user_id, "me": {"username": self.user}}
        return 200, {"status": "success", "data": data}, {}

    def _post_message(self, user: User, body: Dict[str, Any]):
        has_room, has_channel = "roomId" in body, "channel" in body
        allowed = _POST_MESSAGE_ROOM_KEYS if has_room else _POST_MESSAGE_CHANNEL_KEYS
        if has_room == has_channel or set(body) - allowed:
            return 400, {"success": False, "error": "must match exactly one schema in oneOf [invalid-params]",
                         "errorType": "invalid-params"}
        room = body.get("roomId") or body.get("channel")
        target = self.rooms.get(room)
        if (target is not None and target.t == "l" and target.served_by != user._id
                and not self._has(user, "view-livechat-rooms")):
            return 400, {"success": False, "error": "error-not-allowed"}
        message = {"_id": f"msg-{next(self._counter)}", "rid": room, "msg": body.get("text", ""),
                   "u": {"_id": user._id, "username": user.username}}
        if "attachments" in body:
            message["attachments"] = body["attachments"]
        return 200, {"success": True, "channel": room, "message": message}

    def _room_forward(self, user: User, body: Dict[str, Any]):
        if not all(self._has(user, p) for p in ("view-l-room", "transfer-livechat-guest")):
            return 403, {"success": False, "error": FORBIDDEN}
        room = self.rooms.get(body.get("roomId"))
        if room is None or room.t != "l":
            return 400, {"success": False, "error": "error-invalid-room"}
        if not room.open:
            return 400, {"success": False, "error": "This_conversation_is_already_closed"}
        target = body.get("departmentId")
        if not target:
            return 400, {"success": False, "error": "error-transferring-inquiry-no-department"}
        if target == room.department_id:
            return 400, {"success": False, "error": "error-forwarding-chat-same-department"}
        department = self.departments.get(target)
        online = [a for a in (department.agents if department else []) if self.users[a].online]
        if not online:
            if department is not None and department.allow_receive_forward_offline:
                room.department_id, room.served_by = target, None  # queued for the department
                return 200, {"success": True}
            return 400, {"success": False, "error": "error-no-agents-online-in-department"}
        room.department_id, room.served_by = target, online[0]
        return 200, {"success": True}

    def _livechat_config(self, _user: Optional[User], query: Dict[str, Any]):
        department = self.departments.get(query.get("department"))
        agents = department.agents if department else [u._id for u in self.users.values()
                                                         if "livechat-agent" in u.roles and u._id != self.bot_user_id]
        online = self.accept_chats_with_no_agents or any(self.users[a].online for a in agents)
        return 200, {"success": True, "config": {"enabled": True, "online": online}}

    def _rooms_info(self, user: User, query: Dict[str, Any]):
        room = self.rooms.get(query.get("roomId"))
        if room is None:
            return 400, {"success": False, "error": "The required \"roomId\" or \"roomName\" param provided does "
                         "not match any channel [error-room-not-found]"}
        info = {"_id": room._id, "t": room.t, "usersCount": len(room.uids), "uids": room.uids}
        if room.t == "l":
            # createLivechatRoom sets open: true; closeRoomById unsets it and sets closedAt.
            info.update({"open": True} if room.open else {"closedAt": room.closed_at})
            info.update({"departmentId": room.department_id,
                         "servedBy": {"_id": room.served_by} if room.served_by else None})
        return 200, {"success": True, "room": info}

    def _users_info(self, user: User, query: Dict[str, Any]):
        found = self.users.get(query.get("userId"))
        if found is None:
            return 400, {"success": False, "error": "User not found."}
        return 200, {"success": True, "user": {"_id": found._id, "username": found.username}}

    def _im_create(self, user: User, body: Dict[str, Any]):
        other = next((u for u in self.users.values() if u.username == body.get("username")), None)
        if other is None or set(body) - {"username", "usernames", "excludeSelf"}:
            return 400, {"success": False, "error": "Invalid user [error-invalid-user]"}
        rid = "".join(sorted([user._id, other._id]))
        self.rooms.setdefault(rid, Room(rid, "d", sorted([user._id, other._id])))
        return 200, {"success": True, "room": {"_id": rid, "rid": rid, "t": "d", "usernames": [user.username,
                                                                                               other.username]}}

    def _me(self, user: User, _: Any):
        return 200, {"success": True, "_id": user._id, "username": user.username, "roles": list(user.roles)}

    def _permissions_list(self, user: User, _: Any):
        update = [{"_id": k, "roles": list(v), "_updatedAt": "2024-05-01T00:00:00.000Z"}
                  for k, v in self.permissions.items()]
        return 200, {"success": True, "update": update, "remove": []}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer, extra = fake._handle(self.command, self.path, headers, raw)
                payload = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout tests)

            do_POST = _serve
            do_GET = _serve

            def log_message(self, *_: Any) -> None:  # keep test output quiet
                pass

        return Handler


def _parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(text).items()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error_body(path: str, status: int) -> Dict[str, Any]:
    if status == 401:
        if path == LOGIN:
            return {"status": "error", "error": "Unauthorized", "message": "Unauthorized"}
        return {"success": False, "status": "error", "error": "You must be logged in to do this.",
                "message": "You must be logged in to do this."}
    if status == 403:
        return {"success": False, "error": FORBIDDEN}
    if status == 429:
        return {"success": False, "error": "Error, too many requests. Please slow down. [error-too-many-requests]"}
    return {"success": False, "error": f"fake error {status}"}
