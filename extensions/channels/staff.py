"""Staff console for escalated conversations, hosted inside the Rasa server.

Configured in credentials.yml as `extensions.channels.staff.StaffConsoleInput:`;
served at /webhooks/staff/. The page is static; its API needs
`Authorization: Bearer <token>` (401 without, 403 when wrong, 429 for a minute
after 10 failures from one client; when no token is configured everyone is
refused). Tokens come from STAFF_TOKENS (name:token,...; the name is the audit
actor) or STAFF_TOKEN; shorter than 32 characters and the server refuses to start. Living in the Rasa server gives it the
output channels, so a reply reaches the visitor's widget or RocketChat room, and
the tracker store, so it can resume the conversation: the Rasa HTTP API stays closed.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from extensions import peer_watch
from extensions.channels import staff_requests
from imago_core.handoff.escalations import (
    get_escalation,
    list_escalations,
    set_escalation_status,
    transcript_from_events,
)
from imago_core.identity.client_address import (
    clean_text,
    resolve_client,
    trusted_networks,
)
from imago_core.identity.staff_auth import FailureLimiter, staff_member, staff_tokens
from imago_core.language.texts import language_label, text
from imago_core.requests.notices import language_of as notice_language
from imago_core.requests.notices import texts
from imago_core.settings import get_settings
from imago_core.storage.models import EscalationStatus

logger = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parents[2] / "web" / "staff" / "index.html"
MAX_REPLY = 4000
MAX_FAILURES_PER_MINUTE = 10
# Told to the visitor, in their language, when staff hand the conversation back.
BACK_MESSAGE = text("en", "handoff.back")


class StaffAuth:
    """Token check and per-client failure limit for the console's API."""

    def __init__(self, tokens: Dict[str, str], limiter: Optional[FailureLimiter] = None):
        self.tokens = tokens
        self.limiter = limiter or FailureLimiter(limit=MAX_FAILURES_PER_MINUTE, window=60.0)

    def check(self, request: Request) -> Tuple[Optional[str], Optional[HTTPResponse]]:
        """(staff name, None) when allowed, else (None, the refusal)."""
        trusted = trusted_networks(get_settings().trusted_proxies)
        peer_watch.observe(request.ip, trusted)  # warns if every visitor is one untrusted proxy
        client = resolve_client(request.ip, request.headers.get("X-Forwarded-For"), trusted) or "unknown"
        if self.limiter.blocked(client):
            return None, response.json({"error": "too many failed attempts; wait a minute"}, status=429,
                                       headers={"Retry-After": "60"})
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.startswith("Bearer ") else ""
        if not given:
            self.limiter.fail(client)
            return None, response.json({"error": "staff token required"}, status=401)
        name = staff_member(self.tokens, given)
        if name is None:
            self.limiter.fail(client)
            return None, response.json({"error": "invalid staff token"}, status=403)
        return name, None


def _staff_only(handler):
    """Refuses requests without a staff token; passes the staff member's name on as
    `actor`; for routes with a <reference>, loads the escalation (404 if unknown) and
    passes it on as `row`."""

    @functools.wraps(handler)
    async def checked(self, request: Request, **params):
        actor, refused = self.auth.check(request)
        if refused:
            return refused
        if "reference" in params:
            row = await asyncio.to_thread(get_escalation, params.pop("reference"))
            if row is None:
                return response.json({"error": "no such escalation"}, status=404)
            params["row"] = row
        return await handler(self, request, actor=actor, **params)

    return checked


def _summary(row) -> Dict[str, Any]:
    return {"reference": row.reference, "conversation_id": row.conversation_id, "channel": row.channel,
            "reason": row.reason, "status": row.status.value, "verified_email": row.verified_email,
            "language": row.language or "en", "language_label": language_label(row.language),
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


class StaffConsoleInput(InputChannel):
    def __init__(self, auth: StaffAuth) -> None:
        self.auth = auth

    @classmethod
    def name(cls) -> Text:
        return "staff"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "InputChannel":
        settings = get_settings()
        # A short token raises ConfigError here, so the Rasa server refuses to start.
        return cls(StaffAuth(staff_tokens(settings.staff_token, settings.staff_tokens)))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        staff = Blueprint("staff_console", __name__)

        @staff.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return response.html(PAGE.read_text(encoding="utf-8"), headers={
                "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                           "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            })

        staff_requests.add_routes(staff, self.auth)  # the request desk, same tokens

        @staff.route("/api/escalations", methods=["GET"])
        async def escalations(request: Request) -> HTTPResponse:
            return await self._escalations(request)

        @staff.route("/api/escalations/<reference>", methods=["GET"])
        async def escalation(request: Request, reference: str) -> HTTPResponse:
            return await self._escalation(request, reference=reference)

        @staff.route("/api/escalations/<reference>/reply", methods=["POST"])
        async def reply(request: Request, reference: str) -> HTTPResponse:
            return await self._reply(request, reference=reference)

        @staff.route("/api/escalations/<reference>/handback", methods=["POST"])
        async def handback(request: Request, reference: str) -> HTTPResponse:
            return await self._handback(request, reference=reference)

        return staff

    @_staff_only
    async def _escalations(self, request: Request, actor: str) -> HTTPResponse:
        include_closed = request.args.get("all") == "1"
        rows = await asyncio.to_thread(list_escalations, include_closed)
        return response.json({"escalations": [_summary(r) for r in rows]})

    @_staff_only
    async def _escalation(self, request: Request, actor: str, row) -> HTTPResponse:
        transcript = json.loads(row.transcript)
        tracker = await request.app.ctx.agent.tracker_store.retrieve_full_tracker(row.conversation_id)
        if tracker is not None:  # live, every session: includes what the visitor wrote while waiting
            transcript = transcript_from_events(e.as_dict() for e in tracker.events)
        return response.json({**_summary(row), "transcript": transcript,
                              "open_requests": json.loads(row.open_requests or "[]")})

    @_staff_only
    async def _reply(self, request: Request, actor: str, row) -> HTTPResponse:
        body = _json_body(request)
        text = body.get("text") if isinstance(body.get("text"), str) else ""
        text = clean_text(text).strip()
        staff_name = actor  # from the token: the body cannot claim to be someone else
        if not text or len(text) > MAX_REPLY:
            return response.json({"error": f"text must be 1-{MAX_REPLY} characters"}, status=400)
        # The visitor sees who answers: the privacy team, by name when the token has one.
        text = staff_label(staff_name) + text
        delivered = await self._deliver(request, row.channel, row.conversation_id, text,
                                        BotUttered(text, metadata={"staff": staff_name}))
        # A reply nobody saw does not make the console the room's handler: a FORWARDED room
        # stays FORWARDED, which is what lets a hand-back to the bot resume it (RocketChat).
        if delivered or row.status is not EscalationStatus.FORWARDED:
            await asyncio.to_thread(set_escalation_status, row.reference, EscalationStatus.WITH_STAFF,
                                    f"staff:{staff_name}")
        return response.json({"ok": True, "delivered_live": delivered})

    @_staff_only
    async def _handback(self, request: Request, actor: str, row) -> HTTPResponse:
        back = text(row.language or "en", "handoff.back")
        await self._deliver(request, row.channel, row.conversation_id, back,
                            # action_listen: the visitor's next message starts a normal turn,
                            # so the rules match again (messages typed while paused had none).
                            ConversationResumed(), BotUttered(back), ActionExecuted(ACTION_LISTEN_NAME))
        await asyncio.to_thread(set_escalation_status, row.reference, EscalationStatus.HANDED_BACK,
                                f"staff:{actor}")
        return response.json({"ok": True})

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
            # A channel that can tell whether the text arrived says so (RocketChat: after a
            # forward the bot has left the room and Rocket.Chat refuses the post); Rasa's
            # send_text_message returns nothing, so for the others no exception means pushed.
            push = getattr(output, "push_text", None)
            if callable(push):
                delivered = bool(await push(conversation_id, text))
            else:
                await output.send_text_message(conversation_id, text)
                delivered = True
        except Exception as exc:  # noqa: BLE001 - the reply is kept in the transcript either way
            logger.warning("staff reply not pushed to %s: %s", channel_name, type(exc).__name__)
            return False
        if not delivered:
            logger.warning("staff reply not delivered live to %s (the channel refused it)", channel_name)
        return delivered


def staff_label(staff_name: str, language: str = "en") -> str:
    """"**Maria, IMAGO privacy team:** " (bold in the widget and RocketChat); a shared
    token ("staff") has no name, so only the team is named."""
    words = texts(notice_language(language))
    if staff_name and staff_name != "staff":
        label = words["staff_reply_named"].format(name=staff_name[:1].upper() + staff_name[1:])
    else:
        label = words["staff_reply_team"]
    return f"**{label}:** "


def _json_body(request: Request) -> Dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _output_channel(request: Request, channel_name: str) -> Optional[OutputChannel]:
    for channel in getattr(request.app.ctx, "input_channels", []):
        if channel.name() == channel_name:
            return channel.get_output_channel()
    return None
