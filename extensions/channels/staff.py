"""Staff console for escalated conversations, hosted inside the Rasa server.

Configured in credentials.yml as `extensions.channels.staff.StaffConsoleInput:`;
served at /webhooks/staff/. The page is static; its API needs
`Authorization: Bearer <STAFF_TOKEN>` (401 without, 403 when wrong; when
STAFF_TOKEN is unset everyone is refused). Living in the Rasa server gives it the
output channels, so a reply reaches the visitor's widget or RocketChat room, and
the tracker store, so it can resume the conversation: the Rasa HTTP API stays closed.
"""
from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.handoff import get_escalation, list_escalations, set_escalation_status, transcript_from_events
from actions.models import EscalationStatus
from actions.settings import get_settings

logger = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parents[2] / "web" / "staff" / "index.html"
MAX_REPLY = 4000
BACK_MESSAGE = "You're back with the IMAGO privacy assistant. Ask me anything about the privacy policy or your data."


def _check_token(request: Request) -> Optional[HTTPResponse]:
    expected = get_settings().staff_token
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        return response.json({"error": "staff token required"}, status=401)
    if not expected or not hmac.compare_digest(header[7:].strip().encode(), expected.encode()):
        return response.json({"error": "invalid staff token"}, status=403)
    return None


def _staff_only(handler):
    """Refuses requests without the staff token; for routes with a <reference>, loads
    the escalation (404 if unknown) and passes it on as `row`."""

    @functools.wraps(handler)
    async def checked(request: Request, **params):
        refused = _check_token(request)
        if refused:
            return refused
        if "reference" in params:
            row = await asyncio.to_thread(get_escalation, params.pop("reference"))
            if row is None:
                return response.json({"error": "no such escalation"}, status=404)
            params["row"] = row
        return await handler(request, **params)

    return checked


def _summary(row) -> Dict[str, Any]:
    return {"reference": row.reference, "conversation_id": row.conversation_id, "channel": row.channel,
            "reason": row.reason, "status": row.status.value, "verified_email": row.verified_email,
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


class StaffConsoleInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "staff"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "InputChannel":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        staff = Blueprint("staff_console", __name__)

        @staff.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return response.html(PAGE.read_text(encoding="utf-8"), headers={
                "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                           "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            })

        @staff.route("/api/escalations", methods=["GET"])
        @_staff_only
        async def escalations(request: Request) -> HTTPResponse:
            include_closed = request.args.get("all") == "1"
            rows = await asyncio.to_thread(list_escalations, include_closed)
            return response.json({"escalations": [_summary(r) for r in rows]})

        @staff.route("/api/escalations/<reference>", methods=["GET"])
        @_staff_only
        async def escalation(request: Request, row) -> HTTPResponse:
            transcript = json.loads(row.transcript)
            tracker = await request.app.ctx.agent.tracker_store.retrieve_full_tracker(row.conversation_id)
            if tracker is not None:  # live, every session: includes what the visitor wrote while waiting
                transcript = transcript_from_events(e.as_dict() for e in tracker.events)
            return response.json({**_summary(row), "transcript": transcript,
                                  "open_requests": json.loads(row.open_requests or "[]")})

        @staff.route("/api/escalations/<reference>/reply", methods=["POST"])
        @_staff_only
        async def reply(request: Request, row) -> HTTPResponse:
            body = request.json if isinstance(request.json, dict) else {}
            text = str(body.get("text") or "").strip()
            staff_name = str(body.get("staff") or "privacy team")[:64]
            if not text or len(text) > MAX_REPLY:
                return response.json({"error": f"text must be 1-{MAX_REPLY} characters"}, status=400)
            delivered = await self._deliver(request, row.channel, row.conversation_id, text,
                                            BotUttered(text, metadata={"staff": staff_name}))
            await asyncio.to_thread(set_escalation_status, row.reference, EscalationStatus.WITH_STAFF,
                                    f"staff:{staff_name}")
            return response.json({"ok": True, "delivered_live": delivered})

        @staff.route("/api/escalations/<reference>/handback", methods=["POST"])
        @_staff_only
        async def handback(request: Request, row) -> HTTPResponse:
            await self._deliver(request, row.channel, row.conversation_id, BACK_MESSAGE,
                                # action_listen: the visitor's next message starts a normal turn,
                                # so the rules match again (messages typed while paused had none).
                                ConversationResumed(), BotUttered(BACK_MESSAGE), ActionExecuted(ACTION_LISTEN_NAME))
            await asyncio.to_thread(set_escalation_status, row.reference, EscalationStatus.HANDED_BACK, "staff")
            return response.json({"ok": True})

        return staff

    @staticmethod
    async def _deliver(request: Request, channel_name: str, conversation_id: str, text: str, *events) -> bool:
        """Appends the events to the conversation and pushes the text to the visitor's
        channel when that channel can push (socket.io, RocketChat; REST cannot)."""
        agent = request.app.ctx.agent
        async with agent.lock_store.lock(conversation_id):
            tracker = await agent.tracker_store.get_or_create_tracker(conversation_id)
            for event in events:
                tracker.update(event)
            await agent.tracker_store.save(tracker)
        output = _output_channel(request, channel_name)
        if output is None:
            return False
        try:
            await output.send_text_message(conversation_id, text)
        except Exception as exc:  # noqa: BLE001 - the reply is kept in the transcript either way
            logger.warning("staff reply not pushed to %s: %s", channel_name, type(exc).__name__)
            return False
        return True


def _output_channel(request: Request, channel_name: str) -> Optional[OutputChannel]:
    for channel in getattr(request.app.ctx, "input_channels", []):
        if channel.name() == channel_name:
            return channel.get_output_channel()
    return None
