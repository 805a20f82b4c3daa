"""Rasa's socket.io channel with fixes for persistent sessions and for borrowed ones.

1. Rasa 3.6.21 calls `sio.enter_room(...)` without `await`; with python-socketio 5.x
   that is a coroutine, so the browser never joins its session's room and never
   receives a reply (RasaHQ/rasa#13027). Here the call is awaited.
2. The session id is a credential: the conversation (and its verification) belongs
   to whoever holds it. The server issues it, signed and dated, and only a signed,
   unexpired id issued after the conversation's latest verification is confirmed
   again after a reload; anything else gets a fresh one. The turn that verifies an
   address gets the socket a new id for the same conversation (extensions/channels/
   widget_session.py). The conversation id is `web:<id>`, so the id that appears in
   tickets and in the staff console cannot be turned back into the session.
3. A socket may speak only as the session confirmed to it; a `user_uttered` with
   any other session id is dropped (and logged without the id). Rasa's handler
   accepts whatever session id the message names.
4. Messages over 2,000 characters get a polite reply and are not processed; NUL
   bytes are stripped; the client address for the send limits is taken from the
   connection (X-Forwarded-For only from TRUSTED_PROXIES). Of the client's
   `customData` only the keys the assistant reads are kept, bounded, and engine.io
   refuses a packet over 32 KB (imago_core/identity/message_metadata.py): the tracker, which
   every turn loads, stores the metadata.
5. With several replicas, emits go through Redis (extensions/channels/socketio_redis.py;
   key `redis_url`), so a push from any replica reaches a visitor on any other.

6. A re-sent message is not a second turn (issue 21): the widget gives each message a
   `message_id` and sends it again after reconnecting; a repeat gets the reply it had
   (extensions/resend.py). A turn's replies are emitted once the turn is stored, each
   with `in_reply_to` (the client's id), then `reply_done {message_id}`, so no reply is
   seen from a turn that a crash then loses; a turn that cannot be run while a store or the action server restarts
   is retried (extensions/channels/turns.py), then answered `message_not_taken`.

Configured in credentials.yml as `extensions.channels.socketio.PersistentSocketIOInput:`
with the keys of Rasa's `socketio:` channel; the channel name stays "socketio".
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from extensions import peer_watch
from extensions.channels import widget_session
from extensions.channels.socketio_redis import (
    configured_redis_url,
    share_through_redis,
    start_listening,
)
from extensions.channels.turns import TurnFailed, run_turn
from extensions.channels.widget_session import (
    acceptable_session_id,
    conversation_id,
    new_session_id,
)
from extensions.resend import CLIENT_PREFIX, client_message_id
from imago_core.identity.client_address import (
    MAX_MESSAGE_CHARS,
    TOO_LONG_REPLY,
    clean_text,
    resolve_client,
    trusted_networks,
)
from imago_core.identity.message_metadata import (
    MAX_SOCKETIO_PAYLOAD_BYTES,
    from_client,
    with_client_address,
)
from imago_core.settings import get_settings

logger = logging.getLogger(__name__)
SESSION_KEY = "imago_session_id"  # in python-socketio's per-socket session


PREVIOUS_KEY = "imago_previous_session_id"  # the id a rotation replaced, on this socket only


def _client_address(environ: Dict[str, Any]) -> Optional[str]:
    request = environ.get("sanic.request")
    peer = getattr(request, "ip", None) or environ.get("REMOTE_ADDR")
    trusted = trusted_networks(get_settings().trusted_proxies)
    peer_watch.observe(peer, trusted)  # warns if every visitor is one untrusted proxy (extensions/peer_watch.py)
    return resolve_client(peer, environ.get("HTTP_X_FORWARDED_FOR"), trusted)


class PersistentSocketIOInput(SocketIOInput):
    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "PersistentSocketIOInput":
        credentials = dict(credentials or {})
        redis_url = configured_redis_url(credentials.pop("redis_url", None))
        widget_session.signing_key()  # no key, no start (not a failure at the first visitor)
        channel = super().from_credentials(credentials)
        channel.redis_url = redis_url
        return channel

    redis_url: Optional[str] = None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        # engine.io's default accepts ~1 MB per packet; no widget message needs more than 32 KB.
        sio.eio.max_http_buffer_size = MAX_SOCKETIO_PAYLOAD_BYTES
        if self.redis_url:
            share_through_redis(sio, self.redis_url)

            @blueprint.listener("after_server_start")
            async def _listen_to_other_replicas(_app, _loop) -> None:
                await start_listening(sio)

        # Registering an event again replaces Rasa's handler for it.
        self.sio.on("session_request", self._session_request, namespace=self.namespace)

        # `data=None`: python-socketio passes no argument at all for an event without one.
        async def user_uttered(sid: Text, data: Any = None) -> None:
            await self._handle_message(sid, data, on_new_message)

        self.sio.on(self.user_message_evt, user_uttered, namespace=self.namespace)
        return blueprint

    async def _session_request(self, sid: Text, data: Optional[Dict] = None) -> None:
        sio = self.sio
        data = data if isinstance(data, dict) else {}
        session_id = data.get("session_id")
        # In a thread: it reads the conversation's latest verification from the database.
        if not await asyncio.to_thread(acceptable_session_id, session_id):
            session_id = new_session_id()
        async with sio.session(sid, namespace=self.namespace) as session:
            previous = session.get(SESSION_KEY)
            session[SESSION_KEY] = session_id
            session.pop(PREVIOUS_KEY, None)
        if previous and previous != session_id:
            await sio.leave_room(sid, conversation_id(previous), namespace=self.namespace)
        await sio.enter_room(sid, conversation_id(session_id), namespace=self.namespace)
        await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

    async def _handle_message(self, sid: Text, data: Any,
                              on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        sio = self.sio
        session = await sio.get_session(sid, namespace=self.namespace)
        confirmed = session.get(SESSION_KEY)
        claimed = data.get("session_id") if isinstance(data, dict) else None
        # Bytes: compare_digest refuses non-ASCII str, and clients send anything. The id a
        # rotation replaced still counts on this socket: a message may cross the new id.
        if not confirmed or not isinstance(claimed, str) or not any(
                known and hmac.compare_digest(claimed.encode(), known.encode())
                for known in (confirmed, session.get(PREVIOUS_KEY))):
            logger.warning("socket.io message dropped: not the session confirmed to this socket")
            return
        text = data.get("message")
        if not isinstance(text, str):
            logger.warning("socket.io message dropped: no text")
            return
        text = clean_text(text)
        output = SocketIOOutput(sio, self.bot_message_evt)
        if len(text) > MAX_MESSAGE_CHARS:
            await sio.emit(self.bot_message_evt, {"text": TOO_LONG_REPLY}, room=sid, namespace=self.namespace)
            return
        metadata = data.get(self.metadata_key)
        if isinstance(metadata, str) and len(metadata) <= MAX_SOCKETIO_PAYLOAD_BYTES:
            try:
                metadata = json.loads(metadata)
            except ValueError:
                metadata = None
        metadata = with_client_address(from_client(metadata),
                                       _client_address(sio.get_environ(sid, namespace=self.namespace) or {}))
        message_id = client_message_id(data.get("message_id"))
        collector = CollectingOutputChannel()

        async def turn() -> None:
            collector.messages.clear()  # only the attempt that was stored speaks
            await on_new_message(UserMessage(text, collector, conversation_id(confirmed), input_channel=self.name(),
                                             message_id=message_id, metadata=metadata))

        try:
            await run_turn(turn)
        except TurnFailed as exc:
            logger.error("socket.io message not taken now: %s", exc)
            if message_id:
                await sio.emit("message_not_taken", {"message_id": message_id[len(CLIENT_PREFIX):]},
                               room=sid, namespace=self.namespace)
            return
        replying = _Replying(output, message_id[len(CLIENT_PREFIX):] if message_id else None)
        for message in collector.messages:
            message = dict(message)
            await replying.send_response(message.pop("recipient_id", conversation_id(confirmed)), message)
        if message_id:  # the turn's last bubble is out: the client stops waiting (and re-sending)
            await sio.emit("reply_done", {"message_id": message_id[len(CLIENT_PREFIX):]},
                           room=conversation_id(confirmed), namespace=self.namespace)
        await self._rotate_if_verified(sid, confirmed)

    async def _rotate_if_verified(self, sid: Text, confirmed: str) -> None:
        """After a turn that verified an address, this socket gets a new id for the same
        conversation; ids issued before the verification are refused from now on."""
        fresh = await asyncio.to_thread(widget_session.rotated, confirmed)
        if fresh is None:
            return
        async with self.sio.session(sid, namespace=self.namespace) as session:
            if session.get(SESSION_KEY) != confirmed:
                return  # the socket asked for another session meanwhile
            session[SESSION_KEY], session[PREVIOUS_KEY] = fresh, confirmed
        await self.sio.emit("session_confirm", fresh, room=sid, namespace=self.namespace)


class _Replying(SocketIOOutput):
    """Rasa's socket.io output, each bot message tagged with the message it answers."""

    def __init__(self, output: SocketIOOutput, in_reply_to: Optional[str]) -> None:
        super().__init__(output.sio, output.bot_message_evt)
        self.in_reply_to = in_reply_to

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        if self.in_reply_to and isinstance(response, dict):
            response = dict(response, in_reply_to=self.in_reply_to)
        await super()._send_message(socket_id, response)
