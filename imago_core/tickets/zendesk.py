"""Zendesk Support through the Tickets API (`/api/v2/tickets.json`).

A ticket carries the reference as `external_id`, and the create call sends it as
`Idempotency-Key` too: a retry after a timeout returns the ticket made the first
time instead of a second one (Zendesk keeps keys for about two hours; after that
`find_by_reference` still finds the ticket by external_id).

Nothing personal (the requester's address, the body) ever goes into an exception
message or a log line.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import requests

from .base import (
    PermanentBackendError,
    TicketBackend,
    TicketDraft,
    TicketRef,
    TransientBackendError,
    RequestStatus,
    ticket_subject,
)
from .http import HttpApi

log = logging.getLogger(__name__)

STATUS_MAP = {
    "new": RequestStatus.RECEIVED,
    "open": RequestStatus.IN_PROGRESS,
    "pending": RequestStatus.WAITING_FOR_YOU,
    "hold": RequestStatus.WAITING_FOR_YOU,
    "solved": RequestStatus.COMPLETED,
    "closed": RequestStatus.COMPLETED,
    "deleted": RequestStatus.REJECTED,
}
# Zendesk has no "rejected" status: staff solve the ticket and tag it.
REJECTED_TAG = "rejected"
BASE_TAGS = ("privacy_request",)

_TAG_UNSAFE = re.compile(r"[^a-z0-9_/:-]+")


def zendesk_time(value: datetime) -> str:
    """ISO 8601 in UTC, as Zendesk writes it: 2026-12-29T10:00:00Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def zendesk_tags(draft: TicketDraft) -> List[str]:
    """Zendesk tags are lower case without spaces; keep order, drop duplicates."""
    raw = list(BASE_TAGS) + [draft.request_type] + list(draft.tags)
    tags: List[str] = []
    for tag in raw:
        clean = _TAG_UNSAFE.sub("_", str(tag).strip().lower()).strip("_")
        if clean and clean not in tags:
            tags.append(clean)
    return tags


def _requester_name(email: str) -> str:
    # Zendesk needs a name to create an end user; the mailbox name is what it
    # would use itself, and it adds nothing the address does not already say.
    local = email.split("@", 1)[0].strip()
    return local or "Requester"


def _server_message(response: requests.Response) -> str:
    """Zendesk's error title and description.

    `details` is left out on purpose: validation details quote the values sent.
    """
    try:
        payload = response.json()
    except ValueError:
        return ""
    parts: List[str] = []
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            parts += [str(error.get("title", "")), str(error.get("message", ""))]
        elif error:
            parts.append(str(error))
        if payload.get("description"):
            parts.append(str(payload["description"]))
    return " - ".join(part for part in parts if part)


_API = HttpApi(
    name="Zendesk",
    server_message=_server_message,
    credentials_hint="check ZENDESK_EMAIL and ZENDESK_TOKEN",
    url_hint="check the Zendesk URL",
    # Zendesk's answer to concurrent writes, e.g. the same Idempotency-Key still in flight.
    transient_statuses={409: "conflict"},
)


class ZendeskBackend(TicketBackend):
    name = "zendesk"

    def __init__(
        self,
        email: str,
        api_token: str,
        subdomain: Optional[str] = None,
        url: Optional[str] = None,
        timeout: float = 10,
        session: Optional[requests.Session] = None,
    ):
        if not (subdomain or url):
            raise ValueError("Zendesk needs a subdomain or a url")
        if not email or not api_token:
            raise ValueError("Zendesk needs the agent's email and an API token")
        self.base_url = (url or f"https://{subdomain}.zendesk.com").rstrip("/")
        self.timeout = timeout
        self._auth = (f"{email}/token", api_token)
        self._session = session

    def __repr__(self) -> str:  # no secrets
        return f"ZendeskBackend({self.base_url!r})"

    # --- TicketBackend -------------------------------------------------------

    def create(self, draft: TicketDraft) -> TicketRef:
        ticket: Dict[str, Any] = {
            "subject": ticket_subject(draft),
            "comment": {"body": draft.body, "public": False},
            "requester": {"name": _requester_name(draft.requester_email), "email": draft.requester_email},
            "tags": zendesk_tags(draft),
            "external_id": draft.reference,
            "type": "task",
        }
        if draft.due_at is not None:
            ticket["due_at"] = zendesk_time(draft.due_at)
        response = self._call(
            "POST",
            "/api/v2/tickets.json",
            "create ticket",
            creating=True,
            json={"ticket": ticket},
            headers={"Idempotency-Key": draft.reference},
        )
        body = self._json(response, "create ticket", creating=True)
        ticket_id = ""
        if isinstance(body, dict) and isinstance(body.get("ticket"), dict):
            ticket_id = str(body["ticket"].get("id") or "").strip()
        if not ticket_id:
            raise TransientBackendError(
                f"Zendesk create ticket for {draft.reference}: answer without a ticket id", ambiguous=True
            )
        lookup = response.headers.get("x-idempotency-lookup", "")
        if lookup == "hit":
            log.info("Zendesk ticket %s already existed for %s (idempotent retry)", ticket_id, draft.reference)
        else:
            log.info("Zendesk ticket %s created for %s", ticket_id, draft.reference)
        return self._ref(ticket_id)

    def find_by_reference(self, reference: str) -> Optional[TicketRef]:
        response = self._call(
            "GET", "/api/v2/tickets.json", "search tickets", params={"external_id": reference}
        )
        body = self._json(response, "search tickets")
        tickets = body.get("tickets") if isinstance(body, dict) else None
        if not isinstance(tickets, list):
            raise PermanentBackendError("Zendesk search tickets: unexpected answer (no tickets)")
        ids = sorted(
            int(t["id"])
            for t in tickets
            if isinstance(t, dict) and t.get("external_id") == reference and str(t.get("id", "")).isdigit()
        )
        if not ids:
            return None
        if len(ids) > 1:
            log.warning("Zendesk has %d tickets for %s; using the first, %s", len(ids), reference, ids[0])
        return self._ref(str(ids[0]))

    def status(self, ref: TicketRef) -> RequestStatus:
        ticket_id = str(ref.external_id)
        if not ticket_id.isdigit():
            raise PermanentBackendError(f"Zendesk ticket id must be a number, got {ticket_id!r}")
        what = f"read ticket {ticket_id}"
        body = self._json(self._call("GET", f"/api/v2/tickets/{ticket_id}.json", what), what)
        ticket = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(ticket, dict) or not ticket.get("status"):
            raise PermanentBackendError(f"Zendesk {what}: answer without a status")
        zd_status = str(ticket["status"]).lower()
        tags = [str(tag).lower() for tag in ticket.get("tags") or []]
        if zd_status in ("solved", "closed") and REJECTED_TAG in tags:
            return RequestStatus.REJECTED
        mapped = STATUS_MAP.get(zd_status)
        if mapped is None:
            log.warning("Zendesk ticket %s has unknown status %r", ticket_id, zd_status)
            return RequestStatus.IN_PROGRESS
        return mapped

    # --- HTTP ----------------------------------------------------------------

    def _ref(self, ticket_id: str) -> TicketRef:
        return TicketRef(backend=self.name, external_id=ticket_id, url=f"{self.base_url}/agent/tickets/{ticket_id}")

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        creating: bool = False,
        headers: Optional[Dict[str, str]] = None,
        **kwargs,
    ) -> requests.Response:
        """One request; failures become Transient/PermanentBackendError, never with personal data."""
        all_headers = {"Accept": "application/json"}
        all_headers.update(headers or {})
        return _API.call(
            self._http(),
            method,
            self.base_url + path,
            what,
            timeout=self.timeout,
            creating=creating,
            headers=all_headers,
            auth=self._auth,
            **kwargs,
        )

    def _json(self, response: requests.Response, what: str, *, creating: bool = False) -> Any:
        return _API.json(response, what, creating=creating)
