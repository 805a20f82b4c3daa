"""A small stand-in for Zendesk's Tickets API, on 127.0.0.1, for tests.

Speaks the subset the backend uses, as Zendesk documents it:

    POST /api/v2/tickets.json            201 {"ticket": {...}}; honours Idempotency-Key
                                         (same key and body -> the same ticket, header
                                         x-idempotency-lookup: hit|miss; same key with
                                         another body -> 400 IdempotentRequestError)
    GET  /api/v2/tickets.json            {"tickets": [...], "count": n}; ?external_id= filters
    GET  /api/v2/tickets/{id}.json       {"ticket": {...}} or 404 RecordNotFound
    PUT  /api/v2/tickets/{id}.json       {"ticket": {"status", "tags"}} updates (staff side)

Basic auth `{email}/token:{api_token}` is checked (401 otherwise). Faults are queued
with `inject()`: the next N requests answer 429 with Retry-After, 500, or (for a
create) make the ticket and then stall past the client's timeout before answering.
"""
from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

TICKET_PATH = re.compile(r"^/api/v2/tickets/(\d+)\.json$")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


@dataclass
class Fault:
    kind: str  # "429" | "500" | "stall"
    retry_after: Optional[int] = None
    stall_seconds: float = 3.0


@dataclass
class SeenRequest:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: Any
    status: int = 0  # set when the answer is sent (a stalled one: only after the stall)
    response_headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class _State:
    email: str
    token: str
    tickets: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    idempotency: Dict[str, Tuple[str, int]] = field(default_factory=dict)  # key -> (body, ticket id)
    faults: List[Fault] = field(default_factory=list)
    requests: List[SeenRequest] = field(default_factory=list)
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeZendesk/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    # --- plumbing ------------------------------------------------------------

    def _send(self, status: int, payload: Any = None, headers: Optional[Dict[str, str]] = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self._seen.status = status
        self._seen.response_headers = {k.lower(): v for k, v in (headers or {}).items()}
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stall fault); nothing to tell it

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self._seen = SeenRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        with self.state.lock:
            self.state.requests.append(self._seen)
            fault = self.state.faults.pop(0) if self.state.faults else None

        if fault is not None and fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._send(429, {"error": "TooManyRequests", "description": "Rate limit exceeded"}, headers)
        if fault is not None and fault.kind == "500":
            return self._send(500, {"error": "InternalServerError", "description": "Something went wrong"})
        if not self._authorised():
            return self._send(401, {"error": "Couldn't authenticate you"})

        if parts.path == "/api/v2/tickets.json" and method == "POST":
            status, payload, headers = self._create(body)
            if fault is not None and fault.kind == "stall":
                # The ticket exists now; the answer comes too late for the client.
                self.state.release.wait(fault.stall_seconds)
            return self._send(status, payload, headers)
        if fault is not None and fault.kind == "stall":
            self.state.release.wait(fault.stall_seconds)
        if parts.path == "/api/v2/tickets.json" and method == "GET":
            return self._send(200, self._list(self._seen.query))
        match = TICKET_PATH.match(parts.path)
        if match and method in ("GET", "PUT"):
            with self.state.lock:
                ticket = self.state.tickets.get(int(match.group(1)))
                if ticket is not None and method == "PUT":
                    update = (body or {}).get("ticket", {}) if isinstance(body, dict) else {}
                    for key in ("status", "tags", "subject"):
                        if key in update:
                            ticket[key] = update[key]
                    ticket["updated_at"] = _now()
                snapshot = json.loads(json.dumps(ticket)) if ticket is not None else None
            if snapshot is None:
                return self._send(404, {"error": "RecordNotFound", "description": "Not found"})
            return self._send(200, {"ticket": snapshot})
        return self._send(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == f"{self.state.email}/token" and secret == self.state.token

    # --- the API ---------------------------------------------------------------

    def _create(self, body: Any) -> Tuple[int, Dict[str, Any], Dict[str, str]]:
        ticket_in = body.get("ticket") if isinstance(body, dict) else None
        errors = {}
        if not isinstance(ticket_in, dict):
            return 400, {"error": "InvalidValue", "description": "ticket is required"}, {}
        comment = ticket_in.get("comment")
        if not isinstance(comment, dict) or not str(comment.get("body", "")).strip():
            errors["description"] = [{"description": "Description: cannot be blank", "error": "BlankValue"}]
        requester = ticket_in.get("requester")
        if not isinstance(requester, dict) or "@" not in str(requester.get("email", "")):
            errors["requester"] = [{"description": "Requester: Email is invalid", "error": "InvalidValue"}]
        if ticket_in.get("due_at") and ticket_in.get("type") != "task":
            errors["due_at"] = [{"description": "Due date: only tasks have a due date", "error": "InvalidValue"}]
        if errors:
            return 422, {"error": "RecordInvalid", "description": "Record validation errors", "details": errors}, {}

        key = self.headers.get("Idempotency-Key")
        canonical = json.dumps(body, sort_keys=True)
        with self.state.lock:
            if key is not None and key in self.state.idempotency:
                seen_body, ticket_id = self.state.idempotency[key]
                if seen_body != canonical:
                    return 400, {
                        "error": "IdempotentRequestError",
                        "description": "Request parameters do not match the original request",
                    }, {"x-idempotency-lookup": "hit"}
                ticket = json.loads(json.dumps(self.state.tickets[ticket_id]))
                return 201, {"ticket": ticket}, {"x-idempotency-lookup": "hit", "Location": self._location(ticket_id)}
            ticket_id = self.state.next_id
            self.state.next_id += 1
            now = _now()
            ticket = {
                "id": ticket_id,
                "url": self._location(ticket_id),
                "external_id": ticket_in.get("external_id"),
                "type": ticket_in.get("type"),
                "subject": ticket_in.get("subject"),
                "description": comment["body"],
                "status": "new",
                "requester": dict(requester),
                "tags": list(ticket_in.get("tags") or []),
                "due_at": ticket_in.get("due_at"),
                "comments": [dict(comment)],
                "created_at": now,
                "updated_at": now,
            }
            self.state.tickets[ticket_id] = ticket
            if key is not None:
                self.state.idempotency[key] = (canonical, ticket_id)
            headers = {"Location": self._location(ticket_id)}
            if key is not None:
                headers["x-idempotency-lookup"] = "miss"
            return 201, {"ticket": json.loads(json.dumps(ticket))}, headers

    def _list(self, query: Dict[str, List[str]]) -> Dict[str, Any]:
        external_id = (query.get("external_id") or [None])[0]
        with self.state.lock:
            tickets = [
                json.loads(json.dumps(t))
                for _, t in sorted(self.state.tickets.items())
                if external_id is None or t.get("external_id") == external_id
            ]
        return {"tickets": tickets, "count": len(tickets), "next_page": None, "previous_page": None}

    def _location(self, ticket_id: int) -> str:
        host, port = self.server.server_address[:2]  # type: ignore[attr-defined]
        return f"http://{host}:{port}/api/v2/tickets/{ticket_id}.json"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")


class FakeZendesk:
    """The server, its state, and what tests need to steer and inspect it."""

    def __init__(self, email: str = "agent@imago.test", api_token: str = "zd-test-token"):
        self.email = email
        self.api_token = api_token
        self._state = _State(email=email, token=api_token)
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> "FakeZendesk":
        """Starts on `port` (0: a free one); a fixed port lets a test bring a "down" backend back."""
        server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        server.daemon_threads = True
        server.state = self._state  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-zendesk", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.release.set()  # end any stall at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    # --- steering ------------------------------------------------------------

    def inject(self, kind: str, times: int = 1, retry_after: Optional[int] = None, stall_seconds: float = 3.0) -> None:
        """Make the next `times` requests fail: "429" (with Retry-After), "500", or "stall"."""
        if kind not in ("429", "500", "stall"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._state.lock:
            self._state.faults.extend(Fault(kind, retry_after, stall_seconds) for _ in range(times))

    def set_status(self, ticket_id: int, status: str, tags: Optional[List[str]] = None) -> None:
        """Change a ticket as the privacy team would."""
        if status not in STATUSES:
            raise ValueError(f"unknown Zendesk status {status!r}")
        with self._state.lock:
            ticket = self._state.tickets[int(ticket_id)]
            ticket["status"] = status
            if tags is not None:
                ticket["tags"] = list(tags)

    # --- inspection ----------------------------------------------------------

    @property
    def tickets(self) -> List[Dict[str, Any]]:
        with self._state.lock:
            return [json.loads(json.dumps(t)) for _, t in sorted(self._state.tickets.items())]

    @property
    def requests(self) -> List[SeenRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def creates(self) -> List[SeenRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/v2/tickets.json"]


@pytest.fixture
def fake_zendesk():
    server = FakeZendesk().start()
    try:
        yield server
    finally:
        server.stop()
