"""What follows a change of a request's status or clock, wherever the change came from
(the desk, `imago-requests`, or the ticket backend's status read back).

- A completed deletion request erases the assistant's own copy of the address's data
  (`imago_core.requests.erasure`).
- The visitor is mailed what the law says they must hear (`notices`).
- The ticket's Due and status follow the clock (`ticket_sync`).
Each is tried at once and, if the mail server or the backend is down, left marked on
the row for the action server's job to retry. Add a reaction here, not in the places
that change statuses.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

from imago_core.requests import notices, ticket_sync
from imago_core.requests.erasure import erase_if_deletion_completed

logger = logging.getLogger(__name__)


def after_clock_change(request_id: int) -> None:
    """Called after a request's clock was stored (and committed): mails and ticket."""
    for name, react in (("notices", notices.send_pending), ("ticket update", ticket_sync.push)):
        try:
            react(request_id)
        except Exception:  # noqa: BLE001 - the row stays marked; the background job retries
            logger.exception("request #%s: %s failed; the background job retries", request_id, name)


def after_status_change(request_id: int, actor: str = "assistant") -> Optional[Dict[str, int]]:
    """Called after a request's new status was stored (and committed)."""
    erased = erase_if_deletion_completed(request_id, actor=actor)
    after_clock_change(request_id)
    return erased
