"""HTTP plumbing shared by the ticket backends that talk to a REST API (rt.py, zendesk.py).

`HttpApi.call` makes one `requests` call and turns every failure into a
TransientBackendError or PermanentBackendError; `HttpApi.json` reads an answer's
JSON body the same way. Each backend keeps its own reading of its error payload
(`server_message`); what comes out of it is shortened and has anything
address-like blanked out before it goes into an exception message, so nothing
personal ever ends up there.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

import requests

from imago_core.delivery.retry import retry_after_seconds

from .base import PermanentBackendError, TransientBackendError

EMAIL_LIKE = re.compile(r"[^\s'\"<>(),;:]+@[^\s'\"<>(),;:]+")
MAX_SERVER_MESSAGE = 160


def safe_detail(message: str) -> str:
    """`: message` for an exception text: addresses blanked out, whitespace collapsed,
    shortened; empty when there is no message."""
    message = EMAIL_LIKE.sub("<address>", message)
    message = " ".join(message.split())[:MAX_SERVER_MESSAGE]
    return f": {message}" if message else ""


def never_reached_server(exc: requests.ConnectionError) -> bool:
    """True when the connection itself failed (refused, no route, DNS), so no request was sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    try:
        from urllib3.exceptions import NewConnectionError
    except ImportError:  # pragma: no cover - urllib3 always comes with requests
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


@dataclass(frozen=True)
class HttpApi:
    """How one backend's API reports errors, and what to tell the operator."""

    name: str  # leads every exception message: "RT", "Zendesk"
    server_message: Callable[[requests.Response], str]  # the error text in a failed answer, or ""
    credentials_hint: str  # appended to 401/403 messages
    url_hint: str  # appended to redirect and not-JSON messages
    # Further statuses worth retrying, with their label: {409: "conflict"}.
    transient_statuses: Mapping[int, str] = field(default_factory=dict)

    def call(
        self,
        session: requests.Session,
        method: str,
        url: str,
        what: str,
        *,
        timeout: float,
        creating: bool = False,
        passthrough: Collection[int] = (),
        **kwargs: Any,
    ) -> requests.Response:
        """One request; failures become Transient/PermanentBackendError, never with personal data.

        `creating` marks a call that creates something: when it fails after the
        request may have reached the server, the error is `ambiguous`. Answers with
        a status in `passthrough` are returned for the caller to read (a backend's
        own error handling), and it can still call `raise_for_status` on them.
        """
        try:
            response = session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
        except requests.ConnectTimeout as exc:
            raise TransientBackendError(f"{self.name} {what}: connection timed out") from exc
        except requests.Timeout as exc:
            # The request went out; the server may have acted on it before we gave up.
            raise TransientBackendError(
                f"{self.name} {what}: no answer within {timeout}s", ambiguous=creating
            ) from exc
        except requests.ConnectionError as exc:
            reached = not never_reached_server(exc)
            raise TransientBackendError(
                f"{self.name} {what}: connection failed ({type(exc).__name__})", ambiguous=creating and reached
            ) from exc
        except requests.RequestException as exc:
            raise PermanentBackendError(f"{self.name} {what}: request failed ({type(exc).__name__})") from exc

        if response.ok or response.status_code in passthrough:
            return response
        self.raise_for_status(response, what, creating=creating)
        return response  # pragma: no cover - raise_for_status always raises for a failed answer

    def raise_for_status(self, response: requests.Response, what: str, *, creating: bool = False) -> None:
        """Raises the Transient/PermanentBackendError a failed answer means."""
        if response.ok:
            return
        code = response.status_code
        detail = safe_detail(self.server_message(response))
        if code == 429:
            raise TransientBackendError(
                f"{self.name} {what}: rate limited (HTTP 429)",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if code >= 500:
            raise TransientBackendError(
                f"{self.name} {what}: server error HTTP {code}{detail}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                ambiguous=creating,
            )
        if code in self.transient_statuses:
            raise TransientBackendError(
                f"{self.name} {what}: {self.transient_statuses[code]} (HTTP {code}){detail}", ambiguous=creating
            )
        if code == 408:
            raise TransientBackendError(f"{self.name} {what}: HTTP 408 request timeout", ambiguous=creating)
        if code in (401, 403):
            raise PermanentBackendError(
                f"{self.name} {what}: not allowed (HTTP {code}){detail}; {self.credentials_hint}"
            )
        if 300 <= code < 400:
            raise PermanentBackendError(f"{self.name} {what}: redirected (HTTP {code}); {self.url_hint}")
        raise PermanentBackendError(f"{self.name} {what}: HTTP {code}{detail}")

    def json(self, response: requests.Response, what: str, *, creating: bool = False) -> Any:
        """The answer's JSON body. An unreadable answer to a create is ambiguous."""
        try:
            return response.json()
        except ValueError:
            if creating:
                raise TransientBackendError(f"{self.name} {what}: answer is not JSON", ambiguous=True) from None
            raise PermanentBackendError(
                f"{self.name} {what}: answer is not JSON (HTTP {response.status_code}); {self.url_hint}"
            ) from None
