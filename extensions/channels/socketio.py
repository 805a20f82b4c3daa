"""Rasa's socket.io channel with two fixes for persistent sessions.

1. Rasa 3.6.21 calls `sio.enter_room(...)` without `await`; with python-socketio 5.x
   that is a coroutine, so the browser never joins its session's room and never
   receives a reply (RasaHQ/rasa#13027). Here the call is awaited.
2. With several replicas, emits go through Redis (extensions/channels/socketio_redis.py;
   key `redis_url`), so a push from any replica reaches a visitor on any other.
3. The session id comes from the browser and *is* the conversation id (so it also
   carries the conversation's verification). A short or guessable id is replaced by
   a fresh random one instead of being trusted.

Configured in credentials.yml as `extensions.channels.socketio.PersistentSocketIOInput:`
with the keys of Rasa's `socketio:` channel; the channel name stays "socketio".
"""
from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from extensions.channels.socketio_redis import configured_redis_url, share_through_redis, start_listening

logger = logging.getLogger(__name__)
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def acceptable_session_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


class PersistentSocketIOInput(SocketIOInput):
    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "PersistentSocketIOInput":
        credentials = dict(credentials or {})
        redis_url = configured_redis_url(credentials.pop("redis_url", None))
        channel = super().from_credentials(credentials)
        channel.redis_url = redis_url
        return channel

    redis_url: Optional[str] = None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        if self.redis_url:
            share_through_redis(sio, self.redis_url)

            @blueprint.listener("after_server_start")
            async def _listen_to_other_replicas(_app, _loop) -> None:
                await start_listening(sio)

        # Registering the event again replaces Rasa's handler for it.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not acceptable_session_id(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        return blueprint
