"""Rasa's Redis lock store, made to ride out a Redis restart (issue 21).

Rasa's `RedisLockStore` (rasa/core/lock_store.py) gives up at the first Redis error:
while Redis restarts every turn fails with `LockError` and its message goes
unanswered (tests/test_lock_store_restart.py). Here:

- every Redis command is retried for up to `outage_seconds` (30), with short pauses,
  on connection errors and timeouts; redis-py reconnects on the next try;
- taking the lock waits for Redis asynchronously, so the replica's event loop keeps
  serving the other conversations (and socket.io's pings) meanwhile;
- releasing the lock never fails a turn that has already been stored: the ticket
  expires by itself after the lock's lifetime, and a restarted Redis has forgotten it.

Configured in endpoints.yml as
`lock_store: {type: extensions.lock_store.ResilientRedisLockStore, url, port, db, key_prefix}`
with the keys of Rasa's `redis` lock store, plus `outage_seconds`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Callable, Optional, Text, TypeVar

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

logger = logging.getLogger(__name__)
T = TypeVar("T")
OUTAGE_SECONDS = 30.0
# A stored Redis command is retried on these; anything else is a real error.
_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class ResilientRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: Any = None, outage_seconds: Optional[float] = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # built by Rasa from endpoints.yml
            kwargs = dict(endpoint_config.kwargs, **kwargs)
            kwargs.setdefault("host", endpoint_config.url or "localhost")
        self.outage_seconds = float(kwargs.pop("outage_seconds", None) or outage_seconds or OUTAGE_SECONDS)
        kwargs.setdefault("socket_timeout", 5)
        super().__init__(**kwargs)

    # -- every command: retried while Redis is away (blocking; used from threads) --
    def _retrying(self, command: Callable[[], T]) -> T:
        deadline, pause = time.monotonic() + self.outage_seconds, 0.2
        while True:
            try:
                return command()
            except _UNAVAILABLE as exc:
                # A refused password is a ConnectionError in redis-py too, but waiting cannot cure it.
                if isinstance(exc, redis.exceptions.AuthenticationError) or time.monotonic() + pause > deadline:
                    raise
                logger.warning("lock store: Redis unavailable (%s); retrying", type(exc).__name__)
                time.sleep(pause)
                pause = min(1.0, pause * 2)

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return self._retrying(lambda: super(ResilientRedisLockStore, self).get_lock(conversation_id))

    def delete_lock(self, conversation_id: Text) -> None:
        self._retrying(lambda: super(ResilientRedisLockStore, self).delete_lock(conversation_id))

    def save_lock(self, lock: TicketLock) -> None:
        self._retrying(lambda: super(ResilientRedisLockStore, self).save_lock(lock))

    # -- the turn's lock: waits for Redis off the event loop --
    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        ticket = await asyncio.to_thread(self.issue_ticket, conversation_id, lock_lifetime)
        try:
            yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            try:
                await asyncio.to_thread(self.cleanup, conversation_id, ticket)
            except (LockError, *_UNAVAILABLE) as exc:
                # The turn is done (and stored); the ticket expires after its lifetime.
                logger.warning("lock store: lock not released (%s); it expires by itself", type(exc).__name__)

    async def _acquire_lock(self, conversation_id: Text, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        while True:
            lock = await asyncio.to_thread(self.get_lock, conversation_id)
            if not lock or not lock.is_locked(ticket):
                # No lock any more: Redis restarted and forgot it, or it expired. Ours to take.
                return lock or self.create_lock(conversation_id)
            await asyncio.sleep(wait_time_in_seconds)
            await asyncio.to_thread(self.update_lock, conversation_id)
