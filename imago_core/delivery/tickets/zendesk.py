"""Zendesk Support through the Tickets API (`/api/v2/tickets.json`).

A ticket carries the reference as `external_id`, and the create call sends it as
`Idempotency-Key` too: a retry after a timeout returns the ticket made the first
time instead of a second one. Zendesk keeps a key for two hours and refuses the
same key with a different body (400 IdempotentRequestError); after the two hours
only `find_by_reference` (the external_id list) stands between a retry and a
duplicate, which is why the delivery loop looks up before every re-create and
keeps the body fixed (imago_core/delivery/outbox.py).

Authentication is an OAuth access token, or a deprecated API token
(imago_core/delivery/tickets/zendesk_auth.py); a 401 renews the token once and retries.

A 422 keeps its `details` (with the values sent blanked out) on the exception; a
suspended requester raises RequesterSuspendedError so the ticket can be filed
without one. A ticket that answers 404 raises TicketNotFoundError.

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
    BackendAuthError,
    PermanentBackendError,
    RequesterSuspendedError,
    RequestStatus,
    TicketBackend,
    TicketDraft,
    TicketNotFoundError,
    TicketRef,
    TransientBackendError,
    ticket_subject,
)
from .http import EMAIL_LIKE, HttpApi, safe_detail
from .zendesk_auth import ApiTokenAuth, ZendeskAuth

log = logging.getLogger(__name__)

# Zendesk's ticket statuses ("Tickets", https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/).
# On-hold means waiting on a third party, and end users see it as Open: "in progress",
# not "waiting for you". A deleted ticket has no status: it answers 404 (TicketNotFoundError).
STATUS_MAP = {
    "new": RequestStatus.RECEIVED,
    "open": RequestStatus.IN_PROGRESS,
    "pending": RequestStatus.WAITING_FOR_YOU,
    "hold": RequestStatus.IN_PROGRESS,
    "solved": RequestStatus.COMPLETED,
    "closed": RequestStatus.COMPLETED,
}
# Zendesk has no "rejected" status: staff solve the ticket and tag it.
REJECTED_TAG = "rejected"
# Updates from the desk. A ticket cannot be set back to "new", so a received request is "open".
STATUS_TO_ZENDESK = {
    RequestStatus.RECEIVED: "open",
    RequestStatus.IN_PROGRESS: "open",
    RequestStatus.WAITING_FOR_YOU: "pending",
    RequestStatus.COMPLETED: "solved",
    RequestStatus.REJECTED: "solved",
}
BASE_TAGS = ("privacy_request",)
# The fallback create (no requester) is a different body, so it gets its own key.
NO_REQUESTER_KEY_SUFFIX = "/no-requester"
MAX_DETAIL_ITEMS = 10

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


def _error_payload(response: requests.Response) -> Dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def safe_details(details: Any, sent: List[str]) -> Optional[Dict[str, List[Dict[str, str]]]]:
    """Zendesk's 422 `details` ({field: [{"error", "description"}]}) fit for the delivery record:
    every value we sent (address, body) and anything address-like blanked out, sizes bounded."""
    if not isinstance(details, dict):
        return None

    def clean(text: Any) -> str:
        text = str(text or "")
        for value in sent:
            if value and len(value) >= 3:
                text = text.replace(value, "<value sent>")
        return " ".join(EMAIL_LIKE.sub("<address>", text).split())[:200]

    result: Dict[str, List[Dict[str, str]]] = {}
    for field_name, items in list(details.items())[:MAX_DETAIL_ITEMS]:
        entries = items if isinstance(items, list) else [items]
        result[clean(field_name)[:64]] = [
            {"error": clean(item.get("error"))[:64], "description": clean(item.get("description"))}
            if isinstance(item, dict) else {"error": "", "description": clean(item)}
            for item in entries[:MAX_DETAIL_ITEMS]
        ]
    return result


def _details_summary(details: Optional[Dict[str, List[Dict[str, str]]]]) -> str:
    """`requester: UserSuspended; description: BlankValue` for an exception message."""
    if not details:
        return ""
    parts = [f"{name}: {', '.join(e['error'] or e['description'] for e in entries)}"
             for name, entries in details.items()]
    return " (" + "; ".join(parts)[:160] + ")"


def _requester_suspended(details: Any) -> bool:
    """details.requester says the user is suspended, in either shape Zendesk has used:
    `{"description": "Requester: <name> is suspended.", "error": "UserSuspended"}` (as
    quoted in mozilla/sumo issue 2670, 2025) or the older one without `error`,
    `{"description": "Requester: <name> is suspended."}` (zendesk/zendesk_api_client_rb
    issue 369, 2018; MTG/freesound issue 1463, 2020)."""
    if not isinstance(details, dict):
        return False
    items = details.get("requester")
    items = items if isinstance(items, list) else [items]
    return any(isinstance(item, dict) and (item.get("error") == "UserSuspended"
                                           or "is suspended" in str(item.get("description") or ""))
               for item in items)


_API = HttpApi(
    name="Zendesk",
    server_message=_server_message,
    credentials_hint="check the Zendesk credentials",
    url_hint="check the Zendesk URL",
    # Zendesk's answer to concurrent writes, e.g. the same Idempotency-Key still in flight.
    transient_statuses={409: "conflict"},
)


class ZendeskBackend(TicketBackend):
    name = "zendesk"

    def __init__(
        self,
        email: Optional[str] = None,
        api_token: Optional[str] = None,
        subdomain: Optional[str] = None,
        url: Optional[str] = None,
        timeout: float = 10,
        session: Optional[requests.Session] = None,
        auth: Optional[ZendeskAuth] = None,
    ):
        if not (subdomain or url):
            raise ValueError("Zendesk needs a subdomain or a url")
        if auth is None:
            # The deprecated API-token form; the factory logs the April 2027 warning.
            auth = ApiTokenAuth(email or "", api_token or "")
        self.base_url = (url or f"https://{subdomain}.zendesk.com").rstrip("/")
        self.timeout = timeout
        self.auth = auth
        self._session = session

    def __repr__(self) -> str:  # no secrets
        return f"ZendeskBackend({self.base_url!r}, auth={self.auth.mode})"

    # --- TicketBackend -------------------------------------------------------

    def create(self, draft: TicketDraft) -> TicketRef:
        """Files the draft. A draft without requester_email is filed without a requester
        (the fallback for a suspended one), under its own idempotency key."""
        ticket: Dict[str, Any] = {
            "subject": ticket_subject(draft),
            "comment": {"body": draft.body, "public": False},
            "tags": zendesk_tags(draft),
            "external_id": draft.reference,
            "type": "task",
        }
        key = draft.reference
        if draft.requester_email:
            ticket["requester"] = {"name": _requester_name(draft.requester_email), "email": draft.requester_email}
        else:
            key += NO_REQUESTER_KEY_SUFFIX
        if draft.due_at is not None:
            ticket["due_at"] = zendesk_time(draft.due_at)
        what = "create ticket"
        response = self._call("POST", "/api/v2/tickets.json", what, creating=True, passthrough=(400, 422),
                              json={"ticket": ticket}, headers={"Idempotency-Key": key})
        if response.status_code == 422:
            self._refused(response, draft)
        if response.status_code == 400:
            return self._idempotency_conflict(response, draft)
        body = self._json(response, what, creating=True)
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

    def _refused(self, response: requests.Response, draft: TicketDraft) -> None:
        """422 RecordInvalid: raise with Zendesk's details (values blanked out)."""
        payload = _error_payload(response)
        # The name we derived from the address is personal data too, and may be echoed back.
        name = _requester_name(draft.requester_email) if draft.requester_email else ""
        details = safe_details(payload.get("details"), [draft.requester_email, draft.body, name])
        title = str(payload.get("error") or "RecordInvalid")[:40]
        message = f"Zendesk create ticket for {draft.reference}: refused (HTTP 422 {title}){_details_summary(details)}"
        if _requester_suspended(payload.get("details")):
            raise RequesterSuspendedError(message, details=details)
        raise PermanentBackendError(message, details=details)

    def _idempotency_conflict(self, response: requests.Response, draft: TicketDraft) -> TicketRef:
        """400 IdempotentRequestError: this key already made a ticket from another body
        (the code that builds the body changed between attempts). That ticket is ours."""
        payload = _error_payload(response)
        if payload.get("error") != "IdempotentRequestError":
            _API.raise_for_status(response, "create ticket", creating=True)
        found = self.find_by_reference(draft.reference)
        if found is not None:
            log.warning("Zendesk key %s was used with another body; its ticket %s is the request's",
                        draft.reference, found.external_id)
            return found
        # Not visible to the lookup (archived, or outside this agent's view): the key
        # expires within two hours, and a later attempt looks again first.
        raise TransientBackendError(
            f"Zendesk create ticket for {draft.reference}: Idempotency-Key already used with another body "
            "(IdempotentRequestError) and no ticket found by external_id", retry_after=600, ambiguous=True)

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
        response = self._call("GET", f"/api/v2/tickets/{ticket_id}.json", what, passthrough=(404,))
        if response.status_code == 404:
            raise TicketNotFoundError(f"Zendesk {what}: not found (HTTP 404): deleted, or merged into another")
        body = self._json(response, what)
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

    def current_user(self) -> Dict[str, Any]:
        """GET /api/v2/users/me.json: the Zendesk user these credentials act as. Zendesk
        answers it for anonymous callers too (then `id` is null), so check `id`."""
        body = self._json(self._call("GET", "/api/v2/users/me.json", "read the current user"), "read the current user")
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise PermanentBackendError("Zendesk read the current user: answer without a user")
        return user

    def update(self, ref: TicketRef, due_at: Optional[datetime] = None,
               status: Optional[RequestStatus] = None) -> None:
        ticket_id = str(ref.external_id)
        if not ticket_id.isdigit():
            raise PermanentBackendError(f"Zendesk ticket id must be a number, got {ticket_id!r}")
        ticket: Dict[str, Any] = {"type": "task"}  # due_at is kept only on tasks
        if due_at is not None:
            ticket["due_at"] = zendesk_time(due_at)
        if status is not None and status in STATUS_TO_ZENDESK:
            ticket["status"] = STATUS_TO_ZENDESK[status]
            if status is RequestStatus.REJECTED:
                ticket["additional_tags"] = [REJECTED_TAG]  # how status() tells a refusal from a solve
        what = f"update ticket {ticket_id}"
        response = self._call("PUT", f"/api/v2/tickets/{ticket_id}.json", what, passthrough=(404,),
                              json={"ticket": ticket})
        if response.status_code == 404:
            raise TicketNotFoundError(f"Zendesk {what}: not found (HTTP 404): deleted, or merged into another")

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
        passthrough: tuple = (),
        **kwargs,
    ) -> requests.Response:
        """One request; a 401 renews the token once and retries (the refused call did nothing).
        Failures become Transient/PermanentBackendError, never with personal data or tokens."""
        session = self._http()
        for attempt in (1, 2):
            authorization, used = self.auth.header(session, self.base_url, self.timeout)
            all_headers = {"Accept": "application/json", "Authorization": authorization}
            all_headers.update(headers or {})
            response = _API.call(session, method, self.base_url + path, what, timeout=self.timeout,
                                 creating=creating, headers=all_headers, passthrough=(401, 403) + tuple(passthrough),
                                 **kwargs)
            if response.status_code == 401 and attempt == 1:
                if self.auth.renew_after_401(used, session, self.base_url, self.timeout):
                    log.info("Zendesk %s: access token refused (401); renewed it, trying again", what)
                    continue
            if response.status_code in (401, 403):
                detail = safe_detail(_server_message(response))
                raise BackendAuthError(
                    f"Zendesk {what}: not allowed (HTTP {response.status_code}){detail}; {self.auth.hint()}")
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: requests.Response, what: str, *, creating: bool = False) -> Any:
        return _API.json(response, what, creating=creating)
