"""Running one visitor message as a turn, again while a store or the action server is
briefly away (issue 21: nothing lost whatever fails).

A turn that fails before Rasa stored it (the tracker store's PostgreSQL restarting,
the lock store's Redis restarting, the action server unreachable: extensions/resend.py)
left nothing behind in the conversation, so it can simply be run again. The REST and
socket.io channels call `run_turn`, which retries such failures for up to
TURN_RETRY_SECONDS and then raises `TurnFailed`: the REST channel answers 503 (the
client sends the message again, with its message id) and the widget re-sends after
reconnecting. Before this, the REST channel returned whatever replies were collected
before the failure with a 200, although the turn was never stored: the visitor read
"Shall I file it?" and the next message met the conversation where it had been.

Errors that are not about availability (a bug) are not retried.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from extensions.resend import TurnAbandoned

logger = logging.getLogger(__name__)

TURN_RETRY_SECONDS = 40.0
FIRST_PAUSE, MAX_PAUSE = 0.5, 3.0


class TurnFailed(Exception):
    """The turn could not be run now; nothing of it was stored."""


def transient(exc: BaseException) -> bool:
    """Failures of availability: a store or a server that is restarting."""
    if isinstance(exc, (TurnAbandoned, ConnectionError, TimeoutError, asyncio.TimeoutError, OSError)):
        return True
    try:
        from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        if isinstance(exc, (OperationalError, DisconnectionError, PoolTimeout)):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
    except ImportError:  # pragma: no cover - SQLAlchemy comes with Rasa
        pass
    try:
        import redis

        if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            return True
    except ImportError:  # pragma: no cover - redis comes with Rasa
        pass
    from rasa.core.lock_store import LockError

    return isinstance(exc, LockError)


async def run_turn(run: Callable[[], Awaitable[Any]], budget: float = TURN_RETRY_SECONDS) -> Any:
    """Runs `run()` (one turn, with a fresh output channel each time) until it
    succeeds, retrying transient failures for up to `budget` seconds."""
    deadline = time.monotonic() + budget
    pause, attempt = FIRST_PAUSE, 0
    while True:
        attempt += 1
        try:
            return await run()
        except (Exception, TurnAbandoned) as exc:  # noqa: BLE001 - sorted below
            if not transient(exc):
                raise
            if time.monotonic() + pause > deadline:
                logger.error("turn failed after %d attempts: %s", attempt, type(exc).__name__)
                raise TurnFailed(type(exc).__name__) from exc
            logger.warning("turn attempt %d failed (%s); trying again in %.1f s", attempt,
                           type(exc).__name__, pause)
        await asyncio.sleep(pause)
        pause = min(MAX_PAUSE, pause * 2)
