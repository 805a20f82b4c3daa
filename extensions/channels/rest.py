"""The REST channel, hardened (issue 9).

Same route and answer as Rasa's `rest` channel (POST /webhooks/rest/webhook with
`{"sender", "message"}` -> list of bot messages), but:

- when REST_TOKEN is set, calls need `Authorization: Bearer $REST_TOKEN`, and a
  token under 32 characters stops the server at startup
  (deploy/credentials.production.yml does not open REST at all);
- the conversation id is `rest:<sender>`, so a REST caller can never speak in a
  widget or RocketChat conversation, whatever id it sends;
- a malformed body gets 400 with a message, never 500;
- messages over 2,000 characters get a polite reply and are not processed or stored;
  NUL bytes are stripped;
- the client address (for the send limits) comes from the connection, not the body;
- of the body's `metadata` only the keys the assistant reads are kept, bounded
  (imago_core/identity/message_metadata.py): the tracker stores it and every turn loads it;
- nothing the visitor typed is written to the log;
- a client message id (`"message_id"`, extensions/resend.py) makes a re-sent message
  get the reply it had instead of a second turn; a turn that cannot be run while a
  store or the action server restarts is retried, then answered 503 with nothing
  stored (extensions/channels/turns.py), never with a partial reply.
"""
from __future__ import annotations

import hmac
import json
import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from extensions import peer_watch
from extensions.channels.turns import TurnFailed, run_turn
from extensions.resend import client_message_id
from imago_core.identity.client_address import (
    MAX_MESSAGE_CHARS,
    TOO_LONG_REPLY,
    clean_text,
    resolve_client,
    trusted_networks,
)
from imago_core.identity.message_metadata import from_client, with_client_address
from imago_core.settings import ConfigError, get_settings

logger = logging.getLogger(__name__)
PREFIX = "rest:"
MAX_SENDER_CHARS = 128
MAX_BODY_BYTES = 64 * 1024
MIN_TOKEN_CHARS = 32  # as for the staff and action-server tokens


class BadRequest(ValueError):
    """The body is not what the channel accepts; the message says why."""


def message_id_of(raw: bytes) -> Optional[str]:
    """The client's message id in a body `parse_body` accepted (None if it sent none)."""
    try:
        return client_message_id(json.loads(raw.decode("utf-8")).get("message_id"))
    except (UnicodeDecodeError, ValueError, AttributeError):
        return None


def parse_body(raw: bytes) -> Tuple[str, str, Dict[str, Any]]:
    """(sender, message, metadata) from a request body, or BadRequest."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object like {"sender": "...", "message": "..."}')
    sender, message = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f'"sender" must be a non-empty string of at most {MAX_SENDER_CHARS} characters')
    if not isinstance(message, str):
        raise BadRequest('"message" must be a string')
    return clean_text(sender), clean_text(message), from_client(body.get("metadata"))


class HardenedRestInput(InputChannel):
    def __init__(self, token: Optional[str] = None) -> None:
        self.token = token

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        token = (credentials or {}).get("token") or get_settings().rest_token
        if token and len(token) < MIN_TOKEN_CHARS:
            # Checked when Rasa builds the channels, so a guessable token stops the start.
            raise ConfigError(f"REST_TOKEN must be at least {MIN_TOKEN_CHARS} characters (it is a bearer "
                              "token on the open internet); generate one like OTP_SECRET in .env.example")
        return cls(token)

    def _refused(self, request: Request) -> Optional[HTTPResponse]:
        if not self.token:
            return None
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.startswith("Bearer ") else ""
        if not given:
            return response.json({"error": "REST token required (Authorization: Bearer ...)"}, status=401)
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return response.json({"error": "invalid REST token"}, status=403)
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest = Blueprint("hardened_rest_webhook", __name__)

        @rest.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            # Every call counts, refused ones too: the watch is about who connects.
            peer_watch.observe(request.ip, trusted_networks(get_settings().trusted_proxies))
            refused = self._refused(request)
            if refused:
                return refused
            try:
                sender, text, metadata = parse_body(request.body or b"")
            except BadRequest as exc:
                return response.json({"error": str(exc)}, status=400)
            if len(text) > MAX_MESSAGE_CHARS:
                return response.json([{"recipient_id": sender, "text": TOO_LONG_REPLY}])
            metadata = with_client_address(metadata, resolve_client(
                request.ip, request.headers.get("X-Forwarded-For"),
                trusted_networks(get_settings().trusted_proxies)))
            message_id = message_id_of(request.body or b"")
            collector = CollectingOutputChannel()

            async def turn() -> None:
                collector.messages.clear()  # only the attempt that was stored speaks
                await on_new_message(UserMessage(text, collector, PREFIX + sender, input_channel=self.name(),
                                                 message_id=message_id, metadata=metadata))

            try:
                await run_turn(turn)
            except CancelledError:
                logger.error("REST message timed out")
            except TurnFailed as exc:
                logger.error("REST message not taken now: %s", exc)
                return response.json({"error": "try again", "retry": True}, status=503)
            except Exception as exc:  # noqa: BLE001 - Rasa's own handler would log the text
                logger.error("REST message failed: %s", type(exc).__name__)
            for message in collector.messages:  # the caller knows its sender without the prefix
                message["recipient_id"] = sender
            return response.json(collector.messages)

        return rest
