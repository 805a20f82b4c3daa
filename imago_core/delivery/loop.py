"""The delivery loop inside the action server: one outbox pass, then sleep until the
next retry falls due or an action wakes it (a new request or escalation).

Started with the action server (`imago_core.service`, via rasa_sdk_plugins/); the
actions only wake it. `imago-requests deliver --loop` runs the same loop.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

from imago_core.delivery.outbox import deliver_pending, next_due
from imago_core.storage.models import utcnow

logger = logging.getLogger(__name__)

LOOP_INTERVAL_SECONDS = 30.0
MIN_WAIT_SECONDS = 0.5
_wake = threading.Event()


def run_forever(interval: float = LOOP_INTERVAL_SECONDS, stop: Optional[threading.Event] = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            deliver_pending()
        except Exception:  # noqa: BLE001 - the loop must survive anything; the rows stay pending
            logger.exception("delivery pass failed; items stay pending")
        _wake.wait(_seconds_until_next_due(interval))
        _wake.clear()


def _seconds_until_next_due(interval: float) -> float:
    """A retry falls due at its backoff time, not at the next fixed tick."""
    try:
        due = next_due()
    except Exception:  # noqa: BLE001 - the database may be down; try again at the next tick
        return interval
    if due is None:
        return interval
    return min(interval, max(MIN_WAIT_SECONDS, (due - utcnow()).total_seconds()))


def kick() -> None:
    """Called after a request or escalation is recorded: deliver it now, not at the next tick."""
    _wake.set()
