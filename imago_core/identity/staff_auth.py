"""Who may use the staff console, and how often a client may guess.

STAFF_TOKENS=name:token,... gives each staff member their own token, so the audit
log records who acted (the name comes from the token, never from the request).
STAFF_TOKEN alone is one shared token acting as "staff". Every token must be at
least 32 characters: the Rasa server refuses to start otherwise.
"""
from __future__ import annotations

import hmac
import re
import threading
import time
from collections import defaultdict, deque
from typing import Callable, Deque, Dict, Optional

from imago_core.settings import ConfigError

MIN_TOKEN_LENGTH = 32
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def staff_tokens(staff_token: Optional[str], staff_tokens_setting: Optional[str]) -> Dict[str, str]:
    """{token: staff name}; empty when the console is not configured (it then refuses everyone)."""
    tokens: Dict[str, str] = {}
    if staff_token:
        tokens[staff_token] = "staff"
    for entry in (staff_tokens_setting or "").split(","):
        if not entry.strip():
            continue
        name, separator, token = entry.strip().partition(":")
        if not separator or not _NAME.match(name):
            raise ConfigError("STAFF_TOKENS must look like name:token,name:token (names: letters, digits, . _ -)")
        tokens[token] = name
    for token, name in tokens.items():
        if len(token) < MIN_TOKEN_LENGTH:
            which = "STAFF_TOKEN" if name == "staff" and token == staff_token else f"the STAFF_TOKENS entry of {name}"
            raise ConfigError(f"{which} is shorter than {MIN_TOKEN_LENGTH} characters; generate one with "
                              "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
    return tokens


def staff_member(tokens: Dict[str, str], given: str) -> Optional[str]:
    """The name whose token this is, compared in constant time against every token."""
    found = None
    for token, name in tokens.items():
        if hmac.compare_digest(given.encode(), token.encode()):
            found = name
    return found


class FailureLimiter:
    """At most `limit` failures per client in a sliding `window` seconds; a client over
    the limit is refused outright (even with a right token) until old failures age out.
    Per process: each replica counts its own clients."""

    def __init__(self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: Dict[str, Deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str) -> Deque[float]:
        failures, horizon = self._failures[client], self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]  # keeps the table small
            return deque()
        return failures

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client)) >= self.limit

    def fail(self, client: str) -> None:
        with self._lock:
            self._recent(client)
            self._failures[client].append(self.clock())
