"""Request Tracker 5 through its REST 2.0 API (`{RT_URL}/REST/2.0/`).

RT has no idempotency key, so the reference goes into the Subject in brackets
(`[PRV-7K3M9Q] Deletion request`) and `find_by_reference` searches for it: after an
ambiguous failure the delivery loop looks the reference up before creating again.

Nothing personal (the requester's address, the body) ever goes into an exception
message or a log line: RT's own error messages are passed on only with anything
address-like blanked out.

Two RT behaviours to know about:
- RT's stock scrips e-mail the Requestor an autoreply on create ("Autoreply To
  Requestors"), quoting the ticket's Content. Disable that scrip on the privacy
  queue if the assistant's own confirmation mail is enough.
- REST 2.0 searches never return deleted tickets, so a ticket deleted in RT is
  not found by reference (its status, read by id, maps to "rejected").
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Dict, Optional, Tuple

import requests

from .base import (
    PermanentBackendError,
    RequestStatus,
    TicketBackend,
    TicketDraft,
    TicketRef,
    TransientBackendError,
    ticket_subject,
)
from .http import EMAIL_LIKE, HttpApi

log = logging.getLogger(__name__)

RT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# RT's default lifecycle. A custom lifecycle's statuses fall back to "in progress".
STATUS_MAP = {
    "new": RequestStatus.RECEIVED,
    "open": RequestStatus.IN_PROGRESS,
    "stalled": RequestStatus.WAITING_FOR_YOU,
    "resolved": RequestStatus.COMPLETED,
    "rejected": RequestStatus.REJECTED,
    "deleted": RequestStatus.REJECTED,
}

# The other way, for updates: a request's status as RT's default lifecycle names it.
STATUS_TO_RT = {
    RequestStatus.RECEIVED: "new",
    RequestStatus.IN_PROGRESS: "open",
    RequestStatus.WAITING_FOR_YOU: "stalled",
    RequestStatus.COMPLETED: "resolved",
    RequestStatus.REJECTED: "rejected",
}


_RT_REFUSED = re.compile(r"^\s*(could ?n[o']t|permission denied|you (are not|aren't) allowed)|"
                         r"\b(isn't|is not|not) a valid\b|\binvalid\b", re.IGNORECASE)


def safe_message(text: str) -> str:
    """RT's words, shortened, with anything address-like blanked out (they go to logs)."""
    return EMAIL_LIKE.sub("<address>", text)[:120]


def rt_date(value: datetime) -> str:
    """RT's "YYYY-MM-DD HH:MM:SS", in UTC (RT reads this format as UTC on create)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(RT_DATE_FORMAT)


def ticketsql_string(value: str) -> str:
    """A quoted TicketSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _server_message(response: requests.Response) -> str:
    """RT's error message: the `message` of a JSON answer."""
    try:
        payload = response.json()
        message = payload.get("message", "") if isinstance(payload, dict) else ""
    except ValueError:
        message = ""
    return str(message)


_API = HttpApi(
    name="RT",
    server_message=_server_message,
    credentials_hint="check RT credentials and rights",
    url_hint="check RT_URL",
)


class RequestTrackerBackend(TicketBackend):
    name = "rt"

    def __init__(
        self,
        url: str,
        queue: str,
        token: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        timeout: float = 10,
        session: Optional[requests.Session] = None,
    ):
        if not url:
            raise ValueError("RT url is required")
        if not queue:
            raise ValueError("RT queue is required")
        if not token and not (user and password):
            raise ValueError("RT needs a token, or a user and a password")
        base = url.rstrip("/")
        if base.endswith("/REST/2.0"):
            base = base[: -len("/REST/2.0")]
        self.base_url = base
        self.api_url = base + "/REST/2.0/"
        self.queue = queue
        self.timeout = timeout
        self._token = token
        self._basic = None if token else (user, password)
        self._session = session

    def __repr__(self) -> str:  # no secrets
        auth = "token" if self._token else "basic"
        return f"RequestTrackerBackend({self.base_url!r}, queue={self.queue!r}, auth={auth})"

    # --- TicketBackend -------------------------------------------------------

    def create(self, draft: TicketDraft) -> TicketRef:
        payload: Dict[str, Any] = {
            "Queue": self.queue,
            "Subject": ticket_subject(draft),
            "Requestor": draft.requester_email,
            "Content": draft.body,
            "ContentType": "text/plain",
        }
        if draft.due_at is not None:
            payload["Due"] = rt_date(draft.due_at)
        response = self._call("POST", "ticket", "create ticket", json=payload, creating=True)
        body = self._json(response, "create ticket", creating=True)
        ticket_id = str(body.get("id") or "").strip() if isinstance(body, dict) else ""
        if not ticket_id:
            # RT said "created" but gave no id: the ticket probably exists.
            raise TransientBackendError(
                f"RT create ticket for {draft.reference}: answer without a ticket id", ambiguous=True
            )
        log.info("RT ticket %s created for %s", ticket_id, draft.reference)
        return self._ref(ticket_id)

    def find_by_reference(self, reference: str) -> Optional[TicketRef]:
        tag = f"[{reference}]"
        query = f"Subject LIKE {ticketsql_string(tag)} AND Queue = {ticketsql_string(self.queue)}"
        params = {
            "query": query,
            "fields": "Subject,Status",
            "orderby": "id",
            "order": "ASC",
            "per_page": "50",
        }
        response = self._call("GET", "tickets", "search tickets", params=params)
        body = self._json(response, "search tickets")
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise PermanentBackendError("RT search tickets: unexpected answer (no items)")
        # LIKE matches substrings; keep tickets whose subject really carries the tag.
        matches = [
            str(item["id"])
            for item in items
            if isinstance(item, dict) and item.get("id") and tag in str(item.get("Subject", ""))
        ]
        if not matches:
            return None
        matches.sort(key=lambda value: int(value) if value.isdigit() else 0)
        if len(matches) > 1:
            log.warning("RT has %d tickets for %s; using the first, %s", len(matches), reference, matches[0])
        return self._ref(matches[0])

    def status(self, ref: TicketRef) -> RequestStatus:
        ticket_id = str(ref.external_id)
        if not ticket_id.isdigit():
            raise PermanentBackendError(f"RT ticket id must be a number, got {ticket_id!r}")
        response = self._call("GET", f"ticket/{ticket_id}", f"read ticket {ticket_id}")
        body = self._json(response, f"read ticket {ticket_id}")
        rt_status = str(body.get("Status", "")).lower() if isinstance(body, dict) else ""
        if not rt_status:
            raise PermanentBackendError(f"RT read ticket {ticket_id}: answer without a Status")
        mapped = STATUS_MAP.get(rt_status)
        if mapped is None:
            log.warning("RT ticket %s has status %r outside RT's default lifecycle", ticket_id, rt_status)
            return RequestStatus.IN_PROGRESS
        return mapped

    def update(self, ref: TicketRef, due_at: Optional[datetime] = None,
               status: Optional[RequestStatus] = None) -> None:
        ticket_id = str(ref.external_id)
        if not ticket_id.isdigit():
            raise PermanentBackendError(f"RT ticket id must be a number, got {ticket_id!r}")
        payload: Dict[str, Any] = {}
        if due_at is not None:
            payload["Due"] = rt_date(due_at)
        if status is not None and status in STATUS_TO_RT:
            payload["Status"] = STATUS_TO_RT[status]
        if not payload:
            return
        response = self._call("PUT", f"ticket/{ticket_id}", f"update ticket {ticket_id}", json=payload)
        body = self._json(response, f"update ticket {ticket_id}")
        # RT answers 200 with one message per field, and reports a refused change (an
        # unknown status in a custom lifecycle, no right to modify) only in those words.
        # ("Due changed from Not set to ..." is a success.)
        for message in body if isinstance(body, list) else []:
            if _RT_REFUSED.search(str(message)):
                raise PermanentBackendError(f"RT update ticket {ticket_id}: {safe_message(str(message))}")

    # --- HTTP ----------------------------------------------------------------

    def _ref(self, ticket_id: str) -> TicketRef:
        return TicketRef(
            backend=self.name,
            external_id=ticket_id,
            url=f"{self.base_url}/Ticket/Display.html?id={ticket_id}",
        )

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _auth(self) -> Tuple[Dict[str, str], Optional[Tuple[str, str]]]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"token {self._token}"
        return headers, self._basic

    def _call(self, method: str, path: str, what: str, *, creating: bool = False, **kwargs) -> requests.Response:
        """One request; failures become Transient/PermanentBackendError, never with personal data."""
        headers, auth = self._auth()
        return _API.call(
            self._http(),
            method,
            self.api_url + path,
            what,
            timeout=self.timeout,
            creating=creating,
            headers=headers,
            auth=auth,
            **kwargs,
        )

    def _json(self, response: requests.Response, what: str, *, creating: bool = False) -> Any:
        return _API.json(response, what, creating=creating)
