"""A re-sent message is not a second turn: it gets the reply it had (issue 21).

A client that heard no answer sends its message again once the server is back (the
widget after reconnecting, a REST caller after a timeout or a 503). Each such message
carries a client message id (`message_id`, 1-64 of `[A-Za-z0-9_-]`); the channels
(extensions/channels/rest.py, socketio.py) pass it to Rasa as the `UserMessage`'s
`message_id` with the prefix `client-`, so it is stored on the turn's `user` event in
the tracker store.

- `MessageProcessor.handle_message` runs inside the conversation's lock (Rasa's
  `Agent.handle_message`). Patched here, it first looks for a `user` event with the
  same id in the stored tracker: if the turn was already stored, it is not run again;
  the bot messages that followed that event are sent instead (the stored reply).
  The reply lives in the same row as the turn, so there is no window in which a turn
  is stored without its reply (a separate reply table would have one).
- A turn whose custom action could not be run because the action server was
  unreachable (killed, restarting: connection refused or dropped, 502/503/504) is
  abandoned whole rather than stored half-done: `TurnAbandoned` is raised, so the
  tracker is not saved and the channel tries the turn again (extensions/channels/turns.py).
  Rasa's own behaviour, logging the error and carrying on without the action's
  events, would store a turn with no answer, and a re-send would then get that
  empty reply. Only turns from clients that re-send (a client message id) are
  abandoned; for the others Rasa's behaviour is kept.

The actions are written so that running a turn again does no harm: filing is one
transaction and a repeat answers with what was filed (imago_core/requests/filing.py),
an accepted code is accepted again (imago_core/identity/codes.py).
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Dict, List, Optional, Text

logger = logging.getLogger(__name__)

CLIENT_PREFIX = "client-"
_CLIENT_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
# Bot-message fields an output channel's send_response understands.
_MESSAGE_FIELDS = ("elements", "quick_replies", "buttons", "attachment", "image", "custom")
UNAVAILABLE_STATUSES = {502, 503, 504}


class TurnAbandoned(BaseException):
    """The turn cannot be completed now (the action server is unreachable); it is not
    stored and should be tried again.

    A BaseException on purpose: Rasa's `MessageProcessor._run_action` catches every
    `Exception` an action raises, logs it and stores the turn without the action's
    events; this one has to pass through it to the channel."""


def client_message_id(value: Any) -> Optional[str]:
    """The `UserMessage.message_id` for a client's id, or None when it sent none (or
    an unusable one: then the message is simply not de-duplicated)."""
    if isinstance(value, str) and _CLIENT_ID.match(value):
        return CLIENT_PREFIX + value
    return None


def is_client_id(message_id: Optional[str]) -> bool:
    return isinstance(message_id, str) and message_id.startswith(CLIENT_PREFIX)


def stored_reply(events: List[Any], message_id: str) -> Optional[List[Dict[Text, Any]]]:
    """The bot messages that followed the `user` event with `message_id` (up to the next
    `user` event), as send_response dicts; None when no such turn is stored.

    `events` are Rasa `Event` objects (a tracker's `events`)."""
    from rasa.shared.core.events import BotUttered, UserUttered

    found = False
    reply: List[Dict[Text, Any]] = []
    for event in events:
        if isinstance(event, UserUttered):
            if found:
                break
            found = event.message_id == message_id
            continue
        if found and isinstance(event, BotUttered):
            message: Dict[Text, Any] = {"text": event.text} if event.text else {}
            for key in _MESSAGE_FIELDS:
                if (event.data or {}).get(key):
                    message[key] = event.data[key]
            if message:
                reply.append(message)
    return reply if found else None


def _action_server_unreachable(exc: BaseException) -> bool:
    import aiohttp

    cause = exc.__cause__ or exc.__context__
    for error in (exc, cause):
        if isinstance(error, (aiohttp.ClientConnectionError, asyncio.TimeoutError)):
            return True
        # rasa.utils.endpoints.ClientResponseError (not aiohttp's) carries the status.
        if getattr(error, "status", None) in UNAVAILABLE_STATUSES:
            return True
    # RemoteAction raises a RasaException `from None` for connection errors (no cause).
    return "Couldn't connect to the server" in str(exc)


def install() -> None:
    """Called once from extensions/startup.py."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.processor import MessageProcessor

    original_handle = MessageProcessor.handle_message
    original_run = RemoteAction.run

    async def handle_message(self, message):
        if is_client_id(message.message_id):
            tracker = await self.tracker_store.retrieve(message.sender_id)
            reply = stored_reply(list(tracker.events), message.message_id) if tracker is not None else None
            if reply is not None:
                logger.info("re-sent message answered with its stored reply (%d messages)", len(reply))
                for item in reply:
                    await message.output_channel.send_response(message.sender_id, dict(item))
                if isinstance(message.output_channel, CollectingOutputChannel):
                    return message.output_channel.messages
                return None
        return await original_handle(self, message)

    async def run(self, output_channel, nlg, tracker, domain):
        try:
            return await original_run(self, output_channel, nlg, tracker, domain)
        except Exception as exc:  # noqa: BLE001 - re-raised unless it means "try the turn again"
            latest = getattr(tracker, "latest_message", None)
            if is_client_id(getattr(latest, "message_id", None)) and _action_server_unreachable(exc):
                logger.warning("action %s: action server unreachable; turn abandoned, to be tried again",
                               self.name())
                raise TurnAbandoned(self.name()) from exc
            raise

    MessageProcessor.handle_message = handle_message
    RemoteAction.run = run
