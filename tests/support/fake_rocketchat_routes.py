"""The REST routes of the fake Rocket.Chat and its HTTP handler
(tests/support/fake_rocketchat.py explains the contracts): faults and delays, auth by
token, rate limits, login, chat.postMessage, livechat/room.forward and config,
rooms.info, users.info, im.create, me, permissions.listAll. A mixin of FakeRocketChat,
which holds the state.
"""
from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, urlsplit


from tests.support.fake_rocketchat_state import (
    FORBIDDEN,
    IM_CREATE,
    LIVECHAT_CONFIG,
    LOGIN,
    ME,
    PERMISSIONS,
    POST_MESSAGE,
    _POST_MESSAGE_CHANNEL_KEYS,
    _POST_MESSAGE_ROOM_KEYS,
    ROOMS_INFO,
    ROOM_FORWARD,
    USERS_INFO,
    RecordedRequest,
    Room,
    User,
    _error_body,
    _parse_body,
)


class _RestRoutes:
    """Answers the REST API from the fake's state, and the handler class that serves it."""

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
