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

The state and its documented limits are in tests/support/fake_zendesk_state.py, the
HTTP handler with its routes in tests/support/fake_zendesk_handler.py; this module is
the server tests start and steer, and the `fake_zendesk` fixture.
"""
from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.support.fake_zendesk_handler import _Handler
from tests.support.fake_zendesk_state import (
    ACCESS_TOKEN_TTL,
    API_TOKEN_IDLE_LIMIT,
    IDEMPOTENCY_WINDOW_SECONDS,
    REFRESH_TOKEN_TTL,
    STATUSES,
    FakeClock,
    Fault,
    SeenRequest,
    _State,
)

__all__ = ["ACCESS_TOKEN_TTL", "API_TOKEN_IDLE_LIMIT", "IDEMPOTENCY_WINDOW_SECONDS", "FakeClock", "FakeZendesk",
           "Fault", "REFRESH_TOKEN_TTL", "SeenRequest", "fake_zendesk"]


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
