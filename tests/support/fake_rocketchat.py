"""A stand-in RocketChat REST server for tests, on 127.0.0.1 and a free port.

Implements the calls the connector makes:

- `POST /api/v1/login` (JSON or form `user`, `password`) → `{"status": "success",
  "data": {"authToken", "userId"}}`, 401 on wrong credentials;
- `POST /api/v1/chat.postMessage` (JSON, `X-Auth-Token`/`X-User-Id`) → `{"success": true,
  "message": {...}}`, 401 without a valid token, 400 without `roomId`/`channel`;
- `POST /api/v1/livechat/room.forward` (`roomId`, `departmentId`, `comment`?) →
  `{"success": true}`.

Every request is recorded (`requests`); faults are injected per endpoint and consumed
one request at a time (`fail_next_login`, `fail_next_post_messages`, `fail_next`,
`slow_next`).

It runs in a thread, so both blocking and asyncio clients can use it:

    with FakeRocketChat() as server:
        ...  # server.url, server.posted_messages(), server.login_count()
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs

LOGIN = "/api/v1/login"
POST_MESSAGE = "/api/v1/chat.postMessage"
ROOM_FORWARD = "/api/v1/livechat/room.forward"


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


class FakeRocketChat:
    def __init__(
        self,
        user: str = "privacy-bot",
        password: str = "bot-password",
        bot_user_id: str = "BOTUSERID",
    ) -> None:
        self.user = user
        self.password = password
        self.bot_user_id = bot_user_id
        self.requests: List[RecordedRequest] = []
        self._faults: Dict[str, List[_Fault]] = {}
        self._delays: Dict[str, List[float]] = {}
        self._valid_tokens: set = set()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> "FakeRocketChat":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-rocketchat",
            daemon=True,
        )
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

    # -- fault injection ------------------------------------------------------
    def fail_next(
        self,
        path: str,
        status: int,
        times: int = 1,
        headers: Optional[Dict[str, str]] = None,
        expire_token: bool = False,
    ) -> None:
        """The next `times` requests to `path` get `status` (and `headers`)."""
        with self._lock:
            queue = self._faults.setdefault(path, [])
            for _ in range(times):
                queue.append(_Fault(status, dict(headers or {}), expire_token))

    def fail_next_login(self, status: int = 401) -> None:
        self.fail_next(LOGIN, status)

    def fail_next_post_messages(
        self, times: int, status: int, retry_after: Optional[str] = None
    ) -> None:
        """401 also expires the token presented, like a real expired session."""
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        self.fail_next(POST_MESSAGE, status, times, headers, expire_token=status == 401)

    def slow_next(self, path: str, seconds: float, times: int = 1) -> None:
        """The next `times` requests to `path` are answered (normally) after `seconds`."""
        with self._lock:
            self._delays.setdefault(path, []).extend([seconds] * times)

    def expire_all_tokens(self) -> None:
        with self._lock:
            self._valid_tokens.clear()

    # -- what was received ----------------------------------------------------
    def calls(self, path: str) -> List[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for_calls(self, path: str, count: int, timeout: float = 5.0) -> List[RecordedRequest]:
        """Polls until `count` requests to `path` were answered, or fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while len(self.calls(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {len(self.calls(path))} calls, expected {count}")
            time.sleep(0.01)
        return self.calls(path)

    def login_count(self) -> int:
        return len(self.calls(LOGIN))

    def posted_messages(self) -> List[Dict[str, Any]]:
        """Bodies of the chat.postMessage calls that succeeded, in order."""
        return [r.body for r in self.calls(POST_MESSAGE) if r.status == 200]

    def forwards(self) -> List[Dict[str, Any]]:
        return [r.body for r in self.calls(ROOM_FORWARD) if r.status == 200]

    # -- request handling -----------------------------------------------------
    def _handle(self, method: str, path: str, headers: Dict[str, str], raw: bytes):
        body = _parse_body(headers.get("content-type", ""), raw)
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
        if method != "POST" or path not in (LOGIN, POST_MESSAGE, ROOM_FORWARD):
            return 404, {"success": False, "error": "Not found"}, {}

        queue = self._faults.get(path)
        if queue:
            fault = queue.pop(0)
            if fault.expire_token:
                self._valid_tokens.discard(headers.get("x-auth-token"))
            return fault.status, _error_body(path, fault.status), fault.headers

        if path == LOGIN:
            return self._login(body)
        if not self._authenticated(headers):
            return 401, _error_body(path, 401), {}
        if not isinstance(body, dict):
            return 400, {"success": False, "error": "JSON body expected"}, {}
        if path == POST_MESSAGE:
            return self._post_message(body)
        return self._room_forward(body)

    def _login(self, body: Any):
        body = body if isinstance(body, dict) else {}
        if body.get("user") != self.user or body.get("password") != self.password:
            return 401, _error_body(LOGIN, 401), {}
        token = f"token-{next(self._counter)}"
        self._valid_tokens.add(token)
        data = {"authToken": token, "userId": self.bot_user_id, "me": {"username": self.user}}
        return 200, {"status": "success", "data": data}, {}

    def _authenticated(self, headers: Dict[str, str]) -> bool:
        return (
            headers.get("x-auth-token") in self._valid_tokens
            and headers.get("x-user-id") == self.bot_user_id
        )

    def _post_message(self, body: Dict[str, Any]):
        room = body.get("roomId") or body.get("channel")
        if not room:
            return 400, {"success": False, "error": "[invalid-channel]"}, {}
        message = {
            "_id": f"msg-{next(self._counter)}",
            "rid": room,
            "msg": body.get("text", ""),
            "u": {"_id": self.bot_user_id, "username": self.user},
        }
        if "attachments" in body:
            message["attachments"] = body["attachments"]
        return 200, {"success": True, "channel": room, "message": message}, {}

    def _room_forward(self, body: Dict[str, Any]):
        if not body.get("roomId") or not body.get("departmentId"):
            return 400, {"success": False, "error": "error-invalid-room"}, {}
        return 200, {"success": True}, {}

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
        return {"status": "error", "message": "You must be logged in to do this."}
    if status == 429:
        return {"success": False, "error": "Error, too many requests. Please slow down."}
    return {"success": False, "error": f"fake error {status}"}
