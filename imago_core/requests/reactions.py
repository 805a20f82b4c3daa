"""What follows a change of a request's status, wherever the change came from
(`imago-requests set-status`, or the ticket backend's status read back).

Today: a completed deletion request erases the assistant's own copy of the
address's data (`imago_core.requests.erasure`). Add a reaction here, not in the
places that change statuses.
"""
from __future__ import annotations

from typing import Dict, Optional

from imago_core.requests.erasure import erase_if_deletion_completed


def after_status_change(request_id: int, actor: str = "assistant") -> Optional[Dict[str, int]]:
    """Called after a request's new status was stored (and committed)."""
    return erase_if_deletion_completed(request_id, actor=actor)
