"""How the Zendesk backend authenticates: OAuth access tokens, or (deprecated) an API token.

Zendesk retires API tokens ("Migrating from API tokens to OAuth access tokens",
https://developer.zendesk.com/documentation/api-basics/authentication/oauth-migration/):
since 28 July 2026 tokens unused for 30 days are deactivated, since 27 October 2026
no account can create one, and on 30 April 2027 every remaining token stops working.

- `OAuthClientCredentials`: a confidential OAuth client asks `POST /oauth/tokens`
  with `grant_type: client_credentials` for an access token of its own (no user
  in the loop); when it expires, it simply asks again.
- `OAuthTokenPair`: an access token + refresh token issued to the integration.
  `grant_type: refresh_token` returns a NEW pair and invalidates the old one
  ("OAuth Tokens for Grant Types",
  https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/),
  so the current pair is kept in a file (mode 0600) that survives restarts and
  is shared by the processes that deliver (action server, `imago-requests deliver`).
- `ApiTokenAuth`: `{email}/token:{api_token}` basic auth, kept only until the
  2027 switch-off; building it logs a warning naming the date.

Tokens are refreshed shortly before they expire and again whenever the API answers
401. Refresh tokens expire too (30 days by default, at least 7: "Announcing the required
expiration of global OAuth access and refresh tokens", support.zendesk.com article
10212201463962), so their expiry (`refresh_token_expires_in`) is kept with the pair and
`OAuthTokenPair.keep_alive` renews the pair before it lapses even when nothing is
delivered for weeks (imago_core/delivery/tickets/zendesk_health.py runs it daily). No token, secret or refresh token ever goes into a log line, an exception
message or a repr.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import requests

from imago_core.delivery.retry import retry_after_seconds

from .base import BackendAuthError, PermanentBackendError, TransientBackendError
from .http import safe_detail

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/tokens"
# Refresh this long before the token's expiry, so a call never races the clock.
REFRESH_MARGIN_SECONDS = 60.0
API_TOKEN_DEPRECATION = (
    "Zendesk API-token authentication (ZENDESK_EMAIL + ZENDESK_TOKEN) is deprecated: Zendesk "
    "switches every API token off on 30 April 2027, and since 27 October 2026 no new one can be "
    "created. Create an OAuth client (deploy/README.md, 'Zendesk') and set ZENDESK_CLIENT_ID and "
    "ZENDESK_CLIENT_SECRET instead."
)


class ZendeskAuth:
    """Supplies the Authorization header and renews it when Zendesk refuses it."""

    mode = "abstract"

    def header(self, session: requests.Session, base_url: str, timeout: float) -> Tuple[str, str]:
        """(Authorization header value, an opaque id of the credential used)."""
        raise NotImplementedError

    def renew_after_401(self, used: str, session: requests.Session, base_url: str, timeout: float) -> bool:
        """Called when a call made with credential `used` got 401: True if retrying may help."""
        return False

    def hint(self) -> str:
        """What to check when Zendesk keeps refusing (appended to 401/403 errors)."""
        raise NotImplementedError

    def __repr__(self) -> str:  # never a secret
        return f"{type(self).__name__}()"


class ApiTokenAuth(ZendeskAuth):
    mode = "api_token"

    def __init__(self, email: str, api_token: str):
        if not email or not api_token:
            raise ValueError("Zendesk API-token auth needs the agent's email and an API token")
        raw = f"{email}/token:{api_token}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")

    def header(self, session, base_url, timeout):
        return self._header, "api-token"

    def hint(self) -> str:
        return "check ZENDESK_EMAIL and ZENDESK_TOKEN (deprecated: move to OAuth before 30 April 2027)"


def _fingerprint(secret: Optional[str]) -> str:
    # Identifies a configured token without storing or logging it.
    return hashlib.sha256((secret or "").encode()).hexdigest()[:16]


class _OAuth(ZendeskAuth):
    """Shared by both OAuth modes: the current token, its expiry, one refresh at a time."""

    def __init__(self, client_id: Optional[str], client_secret: Optional[str], scope: str,
                 clock: Callable[[], float] = time.time):
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self._access: Optional[str] = None
        self._expires_at: Optional[float] = None
        self._refresh_expires_at: Optional[float] = None

    def header(self, session, base_url, timeout):
        with self._lock:
            if self._access is None or self._expiring():
                self._renew(session, base_url, timeout)
            return f"Bearer {self._access}", _fingerprint(self._access)

    def renew_after_401(self, used, session, base_url, timeout):
        with self._lock:
            if self._access is not None and _fingerprint(self._access) != used:
                return True  # another thread renewed it meanwhile
            self._renew(session, base_url, timeout)
            return True

    def _expiring(self) -> bool:
        return self._expires_at is not None and self._clock() >= self._expires_at - REFRESH_MARGIN_SECONDS

    def _renew(self, session, base_url, timeout) -> None:
        raise NotImplementedError

    def _accept(self, answer: Dict[str, Any]) -> None:
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentBackendError("Zendesk OAuth: token answer without an access_token")
        expires_in = answer.get("expires_in")
        refresh_expires_in = answer.get("refresh_token_expires_in")
        self._access = token
        self._expires_at = self._clock() + float(expires_in) if isinstance(expires_in, (int, float)) else None
        self._refresh_expires_at = (self._clock() + float(refresh_expires_in)
                                    if isinstance(refresh_expires_in, (int, float)) else None)
        log.info("Zendesk OAuth: new access token (%s, expires in %s s)", self.mode,
                 expires_in if expires_in is not None else "-")

    def _post_token(self, session: requests.Session, base_url: str, timeout: float,
                    body: Dict[str, Any]) -> Tuple[int, Dict[str, Any], requests.Response]:
        """POST /oauth/tokens (JSON, as Zendesk asks); transport failures and 5xx/429 are transient."""
        what = f"Zendesk OAuth ({body['grant_type']})"
        try:
            response = session.post(base_url + TOKEN_PATH, json=body, timeout=timeout, allow_redirects=False,
                                    headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            # Not ambiguous: no ticket was sent, only a token request.
            raise TransientBackendError(f"{what}: token request failed ({type(exc).__name__})") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientBackendError(f"{what}: token endpoint answered HTTP {response.status_code}",
                                        retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return response.status_code, answer if isinstance(answer, dict) else {}, response

    @staticmethod
    def _oauth_error(answer: Dict[str, Any]) -> str:
        # RFC 6749 section 5.2: {"error": "invalid_client", "error_description": "..."}
        parts = [str(answer.get("error") or ""), str(answer.get("error_description") or "")]
        return safe_detail(" - ".join(p for p in parts if p))


class OAuthClientCredentials(_OAuth):
    """Client-credentials grant: the integration's own token, asked for again when it expires."""

    mode = "client_credentials"

    def __init__(self, client_id: str, client_secret: str, scope: str, clock: Callable[[], float] = time.time):
        if not client_id or not client_secret:
            raise ValueError("the client-credentials grant needs ZENDESK_CLIENT_ID and ZENDESK_CLIENT_SECRET")
        super().__init__(client_id, client_secret, scope, clock)

    def _renew(self, session, base_url, timeout):
        body = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self._client_secret, "scope": self.scope}
        status, answer, _ = self._post_token(session, base_url, timeout, body)
        if status >= 400:
            raise BackendAuthError(
                f"Zendesk OAuth (client_credentials): token refused (HTTP {status}){self._oauth_error(answer)}; "
                f"{self.hint()}")
        self._accept(answer)

    def hint(self) -> str:
        return (f"check ZENDESK_CLIENT_ID / ZENDESK_CLIENT_SECRET, that the OAuth client is 'confidential', "
                f"and that it may grant the scopes '{self.scope}'")


class OAuthTokenPair(_OAuth):
    """A supplied access + refresh token; each refresh's new pair is kept in `token_file`."""

    mode = "token_pair"

    def __init__(self, access_token: str, refresh_token: Optional[str], client_id: Optional[str],
                 client_secret: Optional[str], scope: str, token_file: Optional[Path] = None,
                 clock: Callable[[], float] = time.time):
        if not access_token:
            raise ValueError("the token-pair mode needs ZENDESK_ACCESS_TOKEN")
        super().__init__(client_id, client_secret, scope, clock)
        self.token_file = Path(token_file) if token_file else None
        # The stored pair descends from this configured one; a new configured pair wins over it.
        self._seed = _fingerprint(refresh_token or access_token)
        self._access, self._refresh = access_token, refresh_token
        self._load_stored()

    def _load_stored(self) -> bool:
        """Takes the pair from the token file if it descends from the configured one."""
        if self.token_file is None or not self.token_file.exists():
            return False
        try:
            stored = json.loads(self.token_file.read_text())
        except (OSError, ValueError):
            log.warning("Zendesk OAuth: token file %s is unreadable; using the configured tokens", self.token_file)
            return False
        if stored.get("seed") != self._seed or not stored.get("access_token"):
            return False
        changed = stored.get("refresh_token") != self._refresh or stored["access_token"] != self._access
        self._access, self._refresh = stored["access_token"], stored.get("refresh_token")
        self._expires_at = stored.get("expires_at")
        self._refresh_expires_at = stored.get("refresh_expires_at")
        return changed

    def _store(self) -> None:
        if self.token_file is None:
            return
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        temp = self.token_file.with_name(self.token_file.name + f".{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"seed": self._seed, "access_token": self._access, "refresh_token": self._refresh,
                       "expires_at": self._expires_at, "refresh_expires_at": self._refresh_expires_at}, handle)
        os.replace(temp, self.token_file)

    @contextlib.contextmanager
    def _renewal_lock(self):
        """One renewal at a time across processes sharing the token file: Zendesk invalidates
        the old pair on refresh, so a second refresh with it would be refused."""
        if self.token_file is None:
            yield
            return
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.token_file}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the fd closes, also if we crash
            yield
        finally:
            os.close(fd)

    def _renew(self, session, base_url, timeout):
        with self._renewal_lock():
            # Another process (the CLI worker, another replica) may have refreshed already.
            if self._load_stored() and not self._expiring():
                return
            self._refresh_pair(session, base_url, timeout)

    @property
    def refresh_expires_at(self) -> Optional[float]:
        """When the refresh token lapses (epoch seconds); None while unknown."""
        return self._refresh_expires_at

    def keep_alive(self, session, base_url, timeout, renew_within: float) -> bool:
        """Renews the pair if the refresh token lapses within `renew_within` seconds, or its
        expiry is unknown (a pair as configured, never refreshed here). True if renewed.

        A refresh token that lapses unused ends every delivery with "credentials refused"
        and needs a person to issue a new pair; renewing early costs one token request.
        """
        with self._lock, self._renewal_lock():
            self._load_stored()  # another process may have renewed already
            if not self._refresh:
                return False
            known = self._refresh_expires_at
            if known is not None and self._clock() < known - renew_within:
                return False
            self._refresh_pair(session, base_url, timeout)
            return True

    def _refresh_pair(self, session, base_url, timeout):
        if not self._refresh:
            raise BackendAuthError(
                "Zendesk OAuth (token_pair): the access token expired and there is no refresh token; "
                "issue a new pair and set ZENDESK_ACCESS_TOKEN and ZENDESK_REFRESH_TOKEN")
        body = {"grant_type": "refresh_token", "refresh_token": self._refresh, "client_id": self.client_id}
        if self._client_secret:
            body["client_secret"] = self._client_secret
        status, answer, _ = self._post_token(session, base_url, timeout, body)
        if status >= 400:
            if self._load_stored():  # a process without the lock (an older release) refreshed meanwhile
                return
            raise BackendAuthError(
                f"Zendesk OAuth (refresh_token): refresh refused (HTTP {status}){self._oauth_error(answer)}; "
                f"{self.hint()}")
        self._accept(answer)
        self._refresh = answer.get("refresh_token") or self._refresh
        self._store()

    def hint(self) -> str:
        where = f" and delete {self.token_file}" if self.token_file else ""
        return ("the refresh token is no longer valid: issue a new token pair, set ZENDESK_ACCESS_TOKEN and "
                f"ZENDESK_REFRESH_TOKEN{where} (or switch to the client-credentials grant)")


def auth_from_settings(zendesk, clock: Callable[[], float] = time.time) -> ZendeskAuth:
    """The ZendeskAuth a ZendeskSettings describes (the caller has checked nothing is missing)."""
    mode = zendesk.auth_mode
    if mode == "client_credentials":
        return OAuthClientCredentials(zendesk.client_id, zendesk.client_secret, zendesk.scope, clock=clock)
    if mode == "token_pair":
        return OAuthTokenPair(zendesk.access_token, zendesk.refresh_token, zendesk.client_id,
                              zendesk.client_secret, zendesk.scope, zendesk.token_file, clock=clock)
    log.warning(API_TOKEN_DEPRECATION)
    return ApiTokenAuth(zendesk.email, zendesk.api_token)
