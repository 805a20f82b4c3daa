"""The fake Zendesk's state (tests/support/fake_zendesk.py): the documented limits it
enforces (idempotency window, token lifetimes, expires_in bounds), its controllable
clock, the faults a test can inject, the requests it saw, and the tickets, tokens and
users it holds. Each limit names the Zendesk page it follows.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set, Tuple


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
