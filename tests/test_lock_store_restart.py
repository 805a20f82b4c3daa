"""Issue 21 (d): the lock store survives a Redis restart.

A real Redis is SIGKILLed and started again on the same port. Rasa's own
RedisLockStore fails every turn that comes while Redis is down; the project's lock
store waits for Redis (off the event loop) and carries on."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
from rasa.core.lock_store import LockError, RedisLockStore

from extensions.lock_store import ResilientRedisLockStore
from tests.support.net import wait_until
from tests.support.services import RedisServer


@pytest.fixture
def redis_restartable():
    server = RedisServer().start()
    yield server
    server.stop()


def sigkill(server: RedisServer) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def restart(server: RedisServer) -> None:
    import redis
    import subprocess

    server.process = subprocess.Popen(
        [server.binary, "--port", str(server.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_until(lambda: redis.Redis(host="127.0.0.1", port=server.port).ping(), timeout=30, what="Redis")


async def take(store, conversation: str = "rest:c1") -> bool:
    async with store.lock(conversation):
        return True


def test_rasa_s_own_store_fails_the_turn_while_redis_restarts(redis_restartable):
    """What the project's store is for: with Rasa's, a turn that comes while Redis is
    restarting fails at once with LockError (so its message has no answer)."""
    store = RedisLockStore(host="127.0.0.1", port=redis_restartable.port, db=1)
    assert asyncio.run(take(store))
    sigkill(redis_restartable)
    timer = threading.Timer(2.0, restart, args=(redis_restartable,))
    timer.start()
    try:
        with pytest.raises(LockError):
            asyncio.run(take(store, "rest:c2"))
    finally:
        timer.join()


def test_the_lock_store_rides_out_a_redis_restart(redis_restartable):
    store = ResilientRedisLockStore(host="127.0.0.1", port=redis_restartable.port, db=1, outage_seconds=20)
    assert asyncio.run(take(store))
    sigkill(redis_restartable)
    restart(redis_restartable)
    assert asyncio.run(take(store))  # the first turn after the restart


def test_a_turn_during_the_outage_waits_for_redis(redis_restartable):
    store = ResilientRedisLockStore(host="127.0.0.1", port=redis_restartable.port, db=1, outage_seconds=20)
    assert asyncio.run(take(store))
    sigkill(redis_restartable)
    threading.Timer(2.0, restart, args=(redis_restartable,)).start()
    started = time.monotonic()
    assert asyncio.run(take(store, "rest:c2"))
    assert time.monotonic() - started >= 1.5  # it waited for Redis instead of failing


def test_the_turns_lock_still_serialises(redis_restartable):
    store = ResilientRedisLockStore(host="127.0.0.1", port=redis_restartable.port, db=1)
    order = []

    async def turn(name: str, hold: float) -> None:
        async with store.lock("rest:c3", wait_time_in_seconds=0.05):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    async def both() -> None:
        first = asyncio.create_task(turn("a", 0.3))
        await asyncio.sleep(0.05)
        await asyncio.gather(first, turn("b", 0))

    asyncio.run(both())
    assert order == ["a in", "a out", "b in", "b out"]


def test_built_by_rasa_from_endpoints(redis_restartable):
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig(url="127.0.0.1", type="extensions.lock_store.ResilientRedisLockStore",
                            port=redis_restartable.port, db=1, key_prefix="imago")
    store = LockStore.create(config)
    assert isinstance(store, ResilientRedisLockStore) and store.key_prefix == "imago:lock:"
    assert asyncio.run(take(store))
