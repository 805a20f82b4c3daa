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

The pieces: tests/support/fake_rocketchat_state.py (routes, permissions, records),
fake_rocketchat_routes.py (the REST API and the HTTP handler) and
fake_rocketchat_webhooks.py (the webhooks it sends); this module is the server tests
start, shape and inspect.
"""
from __future__ import annotations

import itertools
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any, Dict, List, Optional

from tests.support.fake_rocketchat_state import (
    API,
    DEFAULT_PERMISSIONS,
    FORBIDDEN,
    IM_CREATE,
    LIVECHAT_CONFIG,
    LOGIN,
    ME,
    PERMISSIONS,
    POST_MESSAGE,
    ROOMS_INFO,
    ROOM_FORWARD,
    USERS_INFO,
    Delivery,
    Department,
    _Fault,
    RecordedRequest,
    Room,
    User,
)
from tests.support.fake_rocketchat_routes import _RestRoutes
from tests.support.fake_rocketchat_webhooks import _WebhookSender

__all__ = ["API", "DEFAULT_PERMISSIONS", "Delivery", "Department", "FORBIDDEN", "FakeRocketChat", "IM_CREATE",
           "LIVECHAT_CONFIG", "LOGIN", "ME", "PERMISSIONS", "POST_MESSAGE", "ROOMS_INFO", "ROOM_FORWARD",
           "RecordedRequest", "Room", "USERS_INFO", "User"]


class FakeRocketChat(_RestRoutes, _WebhookSender):
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
