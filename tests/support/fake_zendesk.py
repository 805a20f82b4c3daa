"""A stand-in for Zendesk Support on 127.0.0.1 that follows Zendesk's documentation.

Each behaviour names the page it follows. "verified" means the page (or the quoted
passage) was read while writing this; "not verified" means the page is named from
issue 14 or from memory and its exact wording was not checked.

    POST /oauth/tokens                   client_credentials and refresh_token grants (JSON body)
    POST /api/v2/tickets.json            201 {"ticket"}; Idempotency-Key for two hours; 422 details
    GET  /api/v2/tickets.json            ?external_id= ; archived tickets left out
    GET  /api/v2/tickets/{id}.json       {"ticket"}; 404 RecordNotFound once deleted
    PUT  /api/v2/tickets/{id}.json       staff-side update of status / tags
    GET  /api/v2/users/me.json           the user the credentials act as; anonymous without any

Time is a controllable clock (`FakeZendesk.clock.advance(seconds)`), shared with the
client under test when a test wants the client to see the same time; token expiry
and the two-hour idempotency window are measured on it.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

TICKET_PATH = re.compile(r"^/api/v2/tickets/(\d+)\.json$")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")

# "Idempotency" in the Support API introduction,
# https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
# (URL verified through zendesk/zendesk_api_client_rb issue 510, which links it; the page
# text was not in the reference corpus, so the two-hour lifetime, the 400
# IdempotentRequestError and the x-idempotency-lookup values are as issue 14 states
# them: not verified).
IDEMPOTENCY_WINDOW_SECONDS = 2 * 60 * 60

# OAuth: access tokens expire and come with a refresh token ("Working with OAuth refresh
# tokens", https://developer.zendesk.com/documentation/api-basics/authentication/refresh-token,
# verified). Default lifetimes 30 minutes and 30 days (refresh: at least 7, at most 90 days):
# "Announcing the required expiration of global OAuth access and refresh tokens",
# support.zendesk.com/hc/en-us/articles/10212201463962 (verified: its TTL table). The answer's
# `refresh_token_expires_in` and the request parameters `expires_in` / `refresh_token_expires_in`:
# support.zendesk.com article 9182123625370 (verified).
ACCESS_TOKEN_TTL = 30 * 60
REFRESH_TOKEN_TTL = 30 * 24 * 60 * 60
MIN_REFRESH_TTL, MAX_REFRESH_TTL = 7 * 24 * 60 * 60, 90 * 24 * 60 * 60
# "Migrating from API tokens to OAuth access tokens" (developer.zendesk.com/documentation/
# api-basics/authentication/oauth-migration/, verified): from 28 July 2026 "any API token that
# hasn't been used for 30 days is automatically deactivated". What a deactivated token gets is
# not stated; this fake answers it as any refused credential (401).
API_TOKEN_IDLE_LIMIT = 30 * 24 * 60 * 60
# "OAuth Tokens for Grant Types": expires_in must be > 300 and < 172800 (as mirrored by
# withone.ai's copy of the page; not verified on developer.zendesk.com itself).
MIN_EXPIRES_IN, MAX_EXPIRES_IN = 300, 172800


class FakeClock:
    """Wall-clock seconds that a test can move forward."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class Fault:
    kind: str  # "429" | "500" | "stall"
    retry_after: Optional[int] = None
    stall_seconds: float = 3.0
    text_body: bool = False  # a 429 answered as text/plain instead of JSON


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
class _Token:
    client_id: str
    scopes: Set[str]
    expires_at: float
    refresh_token: Optional[str] = None


@dataclass
class _State:
    email: str
    api_token: Optional[str]
    clients: Dict[str, Tuple[str, Set[str]]]  # client id -> (secret, allowed scopes)
    clock: FakeClock
    access_ttl: int = ACCESS_TOKEN_TTL
    refresh_ttl: int = REFRESH_TOKEN_TTL
    api_token_last_used: float = 0.0  # set when the server starts: a token issued then
    api_token_deactivated: bool = False
    user: Dict[str, Any] = field(default_factory=dict)  # whom every credential acts as
    suspended_shape: str = "current"  # "older": details.requester without `error`
    access: Dict[str, _Token] = field(default_factory=dict)
    refresh: Dict[str, _Token] = field(default_factory=dict)
    tickets: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    archived: Set[int] = field(default_factory=set)
    suspended: Set[str] = field(default_factory=set)
    idempotency: Dict[str, Tuple[str, int, float]] = field(default_factory=dict)  # key -> (body, id, at)
    faults: List[Fault] = field(default_factory=list)
    requests: List[SeenRequest] = field(default_factory=list)
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    def issue(self, client_id: str, scopes: Set[str], with_refresh: bool, expires_in: Optional[int] = None,
              refresh_expires_in: Optional[int] = None) -> Dict[str, Any]:
        now = self.clock()
        ttl = expires_in or self.access_ttl
        refresh_ttl = refresh_expires_in or self.refresh_ttl
        access = "zat_" + secrets.token_urlsafe(16)
        refresh = "zrt_" + secrets.token_urlsafe(16) if with_refresh else None
        self.access[access] = _Token(client_id, scopes, now + ttl, refresh)
        answer = {"access_token": access, "token_type": "bearer", "scope": " ".join(sorted(scopes)),
                  "expires_in": ttl}
        if refresh:
            self.refresh[refresh] = _Token(client_id, scopes, now + refresh_ttl, access)
            answer["refresh_token"], answer["refresh_token_expires_in"] = refresh, refresh_ttl
        return answer


def _now_iso(clock: FakeClock) -> str:
    return datetime.fromtimestamp(clock(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeZendesk/2.0"
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    # --- plumbing ------------------------------------------------------------

    def _send(self, status: int, payload: Any = None, headers: Optional[Dict[str, str]] = None,
              text: Optional[str] = None) -> None:
        if text is not None:
            body, content_type = text.encode(), "text/plain; charset=utf-8"
        else:
            body, content_type = (b"" if payload is None else json.dumps(payload).encode()), "application/json; charset=utf-8"
        self._seen.status = status
        self._seen.response_headers = {k.lower(): v for k, v in (headers or {}).items()}
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
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
        self._seen = SeenRequest(method=method, path=parts.path, query=parse_qs(parts.query),
                                 headers={k.lower(): v for k, v in self.headers.items()}, body=body)
        with self.state.lock:
            self.state.requests.append(self._seen)
            fault = self.state.faults.pop(0) if self.state.faults else None

        # "Rate limits", https://developer.zendesk.com/api-reference/introduction/rate-limits (verified):
        # "the API responds with a 429 Too Many Requests status code. The response also has a
        # Retry-After header that tells you how many seconds to wait". Some 429s come as
        # text/plain (Zendesk community post 4600766234138, headers quoted there: verified).
        if fault is not None and fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.text_body:
                return self._send(429, headers=headers, text="Number of allowed API requests per minute exceeded")
            return self._send(429, {"error": "TooManyRequests", "description": "Rate limit exceeded"}, headers)
        if fault is not None and fault.kind == "500":
            return self._send(500, {"error": "InternalServerError", "description": "Something went wrong"})

        if parts.path == "/oauth/tokens" and method == "POST":
            return self._send(*self._token(body))
        if parts.path == "/api/v2/users/me.json" and method == "GET" and "Authorization" not in self.headers:
            # Show Self is "allowed for anonymous users" (withone.ai's copy of the Users API
            # page; not verified on Zendesk's): no credentials, no 401, an anonymous user.
            return self._send(200, {"user": {"id": None, "name": "Anonymous user", "role": "end-user"}})

        scopes = self._authorised()
        if scopes is None:
            # Error envelope {"error", "description", "details"}: see the 422 note below.
            return self._send(401, {"error": "Couldn't authenticate you"})
        needed = {"GET": ("read", "tickets:read")}.get(method, ("write", "tickets:write"))
        if not scopes & set(needed):
            return self._send(403, {"error": "Forbidden", "description": "You do not have access to this page"})

        if parts.path == "/api/v2/users/me.json" and method == "GET":
            # The user the credentials act as. A client-credentials token acts as the OAuth
            # client's `user_id`, "the id of the admin who created the client" (OAuth Clients
            # API page, verified); that it is this user for the grant is not stated there,
            # which is why deploy/README.md has the admin check it with this call.
            with self.state.lock:
                return self._send(200, {"user": dict(self.state.user)})
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
            return self._show_or_update(int(match.group(1)), method, body)
        return self._send(404, {"error": "InvalidEndpoint", "description": "Not found"})

    # --- OAuth -----------------------------------------------------------------

    def _token(self, body: Any) -> Tuple[int, Dict[str, Any]]:
        """POST /oauth/tokens, parameters as JSON.

        "OAuth Tokens for Grant Types",
        https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/ (verified:
        the endpoint, JSON parameters, and that the refresh_token grant "returns a new access token
        and refresh token while invalidating the previous access and refresh tokens").
        The client_credentials grant: "pass a valid client_secret with grant_type:
        client_credentials to the /oauth/tokens endpoint", confidential clients only (Zendesk
        announcement of 4 March 2025, support.zendesk.com article 8983332483226: verified). Whether
        that grant also returns a refresh token is not stated there; this fake returns none, and the
        client does not need one (it asks again). Error bodies follow RFC 6749 section 5.2
        ({"error": "invalid_client" | "invalid_grant" | "invalid_scope", "error_description"}).
        """
        if not isinstance(body, dict):
            return 400, {"error": "invalid_request", "error_description": "parameters must be JSON"}
        grant = body.get("grant_type")
        client = self.state.clients.get(str(body.get("client_id")))
        expires_in = body.get("expires_in")
        if expires_in is not None and not (isinstance(expires_in, int) and MIN_EXPIRES_IN < expires_in < MAX_EXPIRES_IN):
            return 400, {"error": "invalid_request", "error_description": "expires_in out of range"}
        refresh_expires_in = body.get("refresh_token_expires_in")
        if refresh_expires_in is not None and not (isinstance(refresh_expires_in, int)
                                                   and MIN_REFRESH_TTL <= refresh_expires_in <= MAX_REFRESH_TTL):
            return 400, {"error": "invalid_request", "error_description": "refresh_token_expires_in out of range"}
        with self.state.lock:
            if grant == "client_credentials":
                if client is None or body.get("client_secret") != client[0]:
                    return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
                requested = set(str(body.get("scope") or "read").split())
                if not requested <= client[1]:
                    return 400, {"error": "invalid_scope", "error_description": "The requested scope is invalid"}
                return 200, self.state.issue(str(body["client_id"]), requested, with_refresh=False,
                                             expires_in=expires_in)
            if grant == "refresh_token":
                old = self.state.refresh.get(str(body.get("refresh_token")))
                if old is None or old.expires_at <= self.state.clock() or old.client_id != body.get("client_id"):
                    return 400, {"error": "invalid_grant", "error_description": "The refresh token is invalid"}
                # The old pair stops working.
                del self.state.refresh[str(body["refresh_token"])]
                self.state.access.pop(old.refresh_token or "", None)
                return 200, self.state.issue(old.client_id, old.scopes, with_refresh=True, expires_in=expires_in,
                                             refresh_expires_in=refresh_expires_in)
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}

    def _authorised(self) -> Optional[Set[str]]:
        """The scopes the request's credentials carry, or None (401).

        Bearer: an OAuth access token until it expires ("Creating and using OAuth access tokens
        with the API", https://developer.zendesk.com/documentation/authentication/creating-and-using-oauth-tokens-with-the-api;
        the page's opening was verified, the `Authorization: Bearer <token>` form is as quoted in
        Zendesk community post 4409515267866). Scopes: "read"/"write", or per resource such as
        "tickets:read" (scope list as mirrored by withone.ai from "OAuth Tokens for Grant Types";
        not verified on the Zendesk page). Basic `{email}/token:{api_token}`: API tokens, full access, until Zendesk
        switches them off ("Migrating from API tokens to OAuth access tokens",
        https://developer.zendesk.com/documentation/api-basics/authentication/oauth-migration/, verified).
        """
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            with self.state.lock:
                token = self.state.access.get(header[7:])
                if token is None or token.expires_at <= self.state.clock():
                    return None
                return set(token.scopes)
        if header.startswith("Basic ") and self.state.api_token:
            try:
                user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            if user == f"{self.state.email}/token" and secret == self.state.api_token:
                with self.state.lock:
                    now = self.state.clock()
                    if now - self.state.api_token_last_used >= API_TOKEN_IDLE_LIMIT:
                        self.state.api_token_deactivated = True  # unused 30 days: gone for good
                    if self.state.api_token_deactivated:
                        return None
                    self.state.api_token_last_used = now
                return {"read", "write"}
        return None

    # --- Tickets ---------------------------------------------------------------

    def _create(self, body: Any) -> Tuple[int, Dict[str, Any], Dict[str, str]]:
        """Create Ticket ("Tickets", https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/,
        verified: "By default, the requester of a ticket is the submitter", the user who created it, so
        a ticket created without a requester belongs to the authenticated user)."""
        ticket_in = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(ticket_in, dict):
            return 400, {"error": "InvalidValue", "description": "ticket is required"}, {}
        errors: Dict[str, List[Dict[str, str]]] = {}
        comment = ticket_in.get("comment")
        if not isinstance(comment, dict) or not str(comment.get("body", "")).strip():
            errors["description"] = [{"description": "Description: cannot be blank", "error": "BlankValue"}]
        requester = ticket_in.get("requester")
        if requester is not None:
            email = str(requester.get("email", "")) if isinstance(requester, dict) else ""
            if "@" not in email:
                errors["requester"] = [{"description": f"Requester: Email {email} is invalid", "error": "InvalidValue"}]
            elif email.lower() in self.state.suspended:
                # A suspended user cannot be a ticket's requester: 422 RecordInvalid with
                # details.requester = UserSuspended (shape as issue 14 states it; wording not verified).
                # The older shape has no `error` (zendesk/zendesk_api_client_rb issue 369, 2018:
                # {"requester"=>[{"description"=>"Requester: Contact Form is suspended."}]});
                # the current one adds "error": "UserSuspended" (mozilla/sumo issue 2670, 2025).
                name = requester.get("name") or email
                item = {"description": f"Requester: {name} is suspended."}
                if self.state.suspended_shape != "older":
                    item["error"] = "UserSuspended"
                errors["requester"] = [item]
        if ticket_in.get("due_at") and ticket_in.get("type") != "task":
            errors["due_at"] = [{"description": "Due date: only tasks have a due date", "error": "InvalidValue"}]
        if errors:
            # The 422 envelope {"error": "RecordInvalid", "description": "Record validation errors",
            # "details": {field: [{"description", "error"}]}} is quoted verbatim in Zendesk community
            # post 4409515267866 (verified).
            return 422, {"error": "RecordInvalid", "description": "Record validation errors", "details": errors}, {}

        key = self.headers.get("Idempotency-Key")
        canonical = json.dumps(body, sort_keys=True)
        with self.state.lock:
            now = self.state.clock()
            seen = self.state.idempotency.get(key) if key is not None else None
            if seen is not None and now - seen[2] >= IDEMPOTENCY_WINDOW_SECONDS:
                del self.state.idempotency[key]  # the key has expired: the request is new again
                seen = None
            if seen is not None:
                if seen[0] != canonical:
                    return 400, {
                        "error": "IdempotentRequestError",
                        "description": "Request parameters do not match the original request",
                    }, {"x-idempotency-lookup": "hit"}
                ticket = json.loads(json.dumps(self.state.tickets[seen[1]]))
                return 201, {"ticket": ticket}, {"x-idempotency-lookup": "hit", "Location": self._location(seen[1])}
            ticket_id = self.state.next_id
            self.state.next_id += 1
            stamp = _now_iso(self.state.clock)
            ticket = {
                "id": ticket_id,
                "url": self._location(ticket_id),
                "external_id": ticket_in.get("external_id"),
                "type": ticket_in.get("type"),
                "subject": ticket_in.get("subject"),
                "description": comment["body"],
                "status": "new",
                "requester": dict(requester) if requester is not None else {"email": self.state.email},
                "tags": list(ticket_in.get("tags") or []),
                "due_at": ticket_in.get("due_at"),
                "comments": [dict(comment)],
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.state.tickets[ticket_id] = ticket
            headers = {"Location": self._location(ticket_id)}
            if key is not None:
                # Only a request that succeeded is remembered here (whether Zendesk also keeps
                # failed ones is not verified; the client uses a separate key for its fallback).
                self.state.idempotency[key] = (canonical, ticket_id, now)
                headers["x-idempotency-lookup"] = "miss"
            return 201, {"ticket": json.loads(json.dumps(ticket))}, headers

    def _list(self, query: Dict[str, List[str]]) -> Dict[str, Any]:
        """List Tickets, `?external_id=` ("Lists tickets by external id. External ids don't have to be
        unique for each ticket": Tickets API, as mirrored by withone.ai, verified there).
        Archived tickets are not listed (classmethod.jp "Check the tickets using Zendesk API": "Archived
        tickets are not displayed"; verified there, not on the Zendesk page itself)."""
        external_id = (query.get("external_id") or [None])[0]
        with self.state.lock:
            tickets = [
                json.loads(json.dumps(t))
                for ticket_id, t in sorted(self.state.tickets.items())
                if ticket_id not in self.state.archived and (external_id is None or t.get("external_id") == external_id)
            ]
        return {"tickets": tickets, "count": len(tickets), "next_page": None, "previous_page": None}

    def _show_or_update(self, ticket_id: int, method: str, body: Any) -> None:
        """Show Ticket / Update Ticket; a deleted ticket answers 404 RecordNotFound (Tickets API page;
        the error name as used across the Support API, not verified for this endpoint)."""
        with self.state.lock:
            ticket = self.state.tickets.get(ticket_id)
            if ticket is not None and method == "PUT":
                update = (body or {}).get("ticket", {}) if isinstance(body, dict) else {}
                for key in ("status", "tags", "subject", "due_at", "type"):
                    if key in update:
                        ticket[key] = update[key]
                # Zendesk's additional_tags adds to the ticket's tags instead of replacing them.
                ticket["tags"] = list(dict.fromkeys(list(ticket.get("tags") or []) + list(update.get("additional_tags") or [])))
                ticket["updated_at"] = _now_iso(self.state.clock)
            snapshot = json.loads(json.dumps(ticket)) if ticket is not None else None
        if snapshot is None:
            return self._send(404, {"error": "RecordNotFound", "description": "Not found"})
        return self._send(200, {"ticket": snapshot})

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
    """The server, its state, and what tests need to steer and inspect it.

    One confidential OAuth client (`client_id` / `client_secret`, allowed scopes
    `tickets:read tickets:write`) and, for the deprecated path, one agent API token.
    """

    def __init__(self, email: str = "agent@imago.test", api_token: Optional[str] = "zd-test-token",
                 client_id: str = "imago_privacy_assistant", client_secret: str = "zd-client-secret",
                 scopes: str = "tickets:read tickets:write", access_ttl: int = ACCESS_TOKEN_TTL,
                 clock: Optional[FakeClock] = None, refresh_ttl: int = REFRESH_TOKEN_TTL,
                 user_role: str = "admin"):
        self.email = email
        self.api_token = api_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scopes
        self.clock = clock or FakeClock()
        self._state = _State(email=email, api_token=api_token, clients={client_id: (client_secret, set(scopes.split()))},
                             clock=self.clock, access_ttl=access_ttl, refresh_ttl=refresh_ttl,
                             api_token_last_used=self.clock(),
                             user={"id": 90001, "name": "Privacy Integration", "email": email, "role": user_role})
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

    def inject(self, kind: str, times: int = 1, retry_after: Optional[int] = None, stall_seconds: float = 3.0,
               text_body: bool = False) -> None:
        """Make the next `times` requests fail: "429" (with Retry-After; JSON or text), "500", or "stall"."""
        if kind not in ("429", "500", "stall"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._state.lock:
            self._state.faults.extend(Fault(kind, retry_after, stall_seconds, text_body) for _ in range(times))

    def issue_token_pair(self, scopes: Optional[str] = None) -> Tuple[str, str]:
        """An access + refresh token for the OAuth client, as an admin would obtain one."""
        with self._state.lock:
            answer = self._state.issue(self.client_id, set((scopes or self.scope).split()), with_refresh=True,
                                       refresh_expires_in=self._state.refresh_ttl)
        return answer["access_token"], answer["refresh_token"]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working now (refresh tokens still do)."""
        with self._state.lock:
            for token in self._state.access.values():
                token.expires_at = min(token.expires_at, self.clock() - 1)

    def use_older_suspended_shape(self) -> None:
        """422 details.requester without `error`, as Zendesk answered before UserSuspended."""
        with self._state.lock:
            self._state.suspended_shape = "older"

    def set_user_role(self, role: str) -> None:
        with self._state.lock:
            self._state.user["role"] = role

    @property
    def api_token_deactivated(self) -> bool:
        with self._state.lock:
            return self._state.api_token_deactivated

    def suspend_user(self, email: str) -> None:
        with self._state.lock:
            self._state.suspended.add(email.lower())

    def archive(self, ticket_id: int) -> None:
        """Archive a ticket: it leaves the list endpoints but can still be shown by id."""
        with self._state.lock:
            self._state.archived.add(int(ticket_id))

    def delete(self, ticket_id: int) -> None:
        with self._state.lock:
            self._state.tickets.pop(int(ticket_id))

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

    def token_requests(self) -> List[SeenRequest]:
        return [r for r in self.requests if r.path == "/oauth/tokens"]


@pytest.fixture
def fake_zendesk():
    server = FakeZendesk().start()
    try:
        yield server
    finally:
        server.stop()
