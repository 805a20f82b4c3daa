"""socket.io across Rasa replicas: python-socketio's Redis manager.

Without it, a socket.io server only reaches the browsers connected to its own process,
so a staff reply sent through replica B never reaches a visitor whose socket is on
replica A. With `AsyncRedisManager` every emit is also published on a Redis channel;
each replica's listener re-emits it to the sockets (and rooms) it holds.

Configured by the channel's `redis_url` key in credentials.yml (or SOCKETIO_REDIS_URL
in the environment), e.g. `redis://redis:6379/2`; without one the channel keeps
python-socketio's in-process manager (one replica).
"""
from __future__ import annotations

import logging
import os
from typing import Optional

from socketio import AsyncRedisManager, AsyncServer

logger = logging.getLogger(__name__)
DEFAULT_REDIS_CHANNEL = "imago-socketio"


def configured_redis_url(credential: Optional[str]) -> Optional[str]:
    url = (credential or os.environ.get("SOCKETIO_REDIS_URL") or "").strip()
    return url or None


def share_through_redis(sio: AsyncServer, url: str, channel: str = DEFAULT_REDIS_CHANNEL) -> AsyncRedisManager:
    """Swaps the server's in-process manager for the Redis one. Called right after
    Rasa builds the server, before any socket connects (managers hold the rooms)."""
    manager = AsyncRedisManager(url, channel=channel)
    sio.manager = manager
    manager.set_server(sio)
    sio.manager_initialized = False  # python-socketio initialises it (starts the listener) on first use
    logger.info("socket.io events shared between replicas through Redis")
    return manager


async def start_listening(sio: AsyncServer) -> None:
    """Starts the Redis listener with the server rather than when the first browser
    connects (python-socketio's default), so the first emits after a socket joins
    are not missed while the subscription is still being set up."""
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()
