"""The append-only audit log. Callers pass hashed address keys, never codes."""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent


def record(event: str, *, conversation_id: Optional[str] = None, address_key: Optional[str] = None,
           request_id: Optional[int] = None, actor: str = "assistant",
           detail: Optional[Mapping[str, Any]] = None, session=None) -> None:
    row = AuditEvent(event=event, conversation_id=conversation_id, address_key=address_key,
                     request_id=request_id, actor=actor,
                     detail=json.dumps(dict(detail), default=str, sort_keys=True) if detail else None)
    if session is not None:  # part of the caller's transaction
        session.add(row)
        return
    with session_scope() as own:
        own.add(row)
