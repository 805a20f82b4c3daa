"""What the outbox carries: kinds of item, registered by the domains that own them.

The outbox knows how to deliver a row to a ticket backend (claim it, look the
reference up after an ambiguous failure, create the ticket, retry, give up with a
reason); it does not know what a privacy request or an escalation is. Each domain
describes its rows as an `OutboxKind` and registers it: `imago_core.requests.tickets`
(requests) and `imago_core.handoff.tickets` (escalations) do, and
`imago_core.service` imports both so that every entry point delivers both.

A kind's table carries the outbox columns (`storage.models.OutboxColumns`):
delivery_state, backend, next_attempt_at, delivery_attempts, external_id, last_error.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional

from imago_core.delivery.tickets.base import (
    RequesterSuspendedError,
    TicketBackend,
    TicketDraft,
)

Row = Any  # a row of the kind's table, attached to the session the hook is called in
Session = Any


def _nothing(*_args) -> None:
    return None


@dataclass(frozen=True)
class OutboxKind:
    """One kind of outbox item: its table, its ticket, and what it records on the way.

    Hooks that take a row are called inside the delivery's own session, so what they
    change on the row is stored with the outcome."""

    name: str  # in logs: "request #12 delivered"
    model: type
    # The ticket for a row. May complete the row first (a body fixed at recording time).
    draft: Callable[[Row], TicketDraft]
    # The audit entry for an outbox event ("delivery_retry_scheduled", "delivered", ...).
    audit: Callable[[str, Row, Session, Dict[str, Any]], None]
    # The backend refused the requester as suspended: the draft to file instead.
    # Called outside any session, with the row's id.
    without_requester: Callable[[TicketBackend, int, TicketDraft, RequesterSuspendedError], TicketDraft]
    # The audit event of a successful delivery.
    delivered_event: str = "delivered"
    # After a successful delivery; may add to the audit detail.
    on_delivered: Callable[[Row, TicketDraft, Dict[str, Any]], None] = _nothing
    # A permanent refusal; may add to the audit detail. Returns a hint for the log, if any.
    on_failed: Callable[[Row, Exception, Dict[str, Any]], Optional[str]] = _nothing
    # The backend refused the credentials (the row itself is fine): (row, backend name, retry in).
    on_credentials_refused: Callable[[Row, str, timedelta], None] = _nothing


_KINDS: Dict[str, OutboxKind] = {}


def register(kind: OutboxKind) -> OutboxKind:
    """Adds a kind (again is harmless: a module imported twice registers once)."""
    _KINDS[kind.name] = kind
    return kind


def registered() -> List[OutboxKind]:
    if not _KINDS:
        # Delivering nothing without a word would leave every request pending forever.
        raise RuntimeError("no outbox kinds are registered: import imago_core.service (it registers "
                           "requests and escalations) before delivering")
    return list(_KINDS.values())
