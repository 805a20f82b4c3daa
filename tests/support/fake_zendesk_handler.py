"""The fake Zendesk's HTTP handler (tests/support/fake_zendesk.py): plumbing (faults,
request log, JSON answers), the OAuth token endpoint and credential checks, and the
ticket routes (create with Idempotency-Key and 422 details, list by external_id, show,
update). It works on the server's shared state (tests/support/fake_zendesk_state.py).
"""
from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_zendesk_state import (
    API_TOKEN_IDLE_LIMIT,
    IDEMPOTENCY_WINDOW_SECONDS,
    MAX_EXPIRES_IN,
    MAX_REFRESH_TTL,
    MIN_EXPIRES_IN,
    MIN_REFRESH_TTL,
    TICKET_PATH,
    SeenRequest,
    _now_iso,
    _State,
)


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
