"""A stand-in for Rasa's socket.io channel, for the widget's browser tests.

    python tests/browser/fake_rasa.py --port 5005

Speaks the protocol of `rasa/core/channels/socketio.py` with
`session_persistence: true` (see shared/RASA-FACTS.md):

* `session_request {session_id}` -> joins the room `session_id` (a fresh hex id
  when none is given) and answers `session_confirm` with the bare id;
* `user_uttered {message, session_id}` -> `bot_uttered` events sent to the room
  `session_id`: `{text}` (text split on blank lines, as Rasa does) or
  `{text, quick_replies: [{content_type, title, payload}]}`.

Like Rasa it creates the server with `cors_allowed_origins=[]`, so browsers on
another origin must use the websocket transport.

The bot's answers are scripted by the message text (see `reply_for`). Every
event received is recorded; `GET /_events` returns them as JSON so a test can
check what the widget sent, and `GET /_health` answers "ok" once listening.
"""
from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any, Dict, List, Optional

import socketio
from aiohttp import web

GREETING = "Hello! I can answer questions about the IMAGO privacy policy."
LINK_REPLY = (
    "You can read the full [privacy policy](/policy) or write to "
    "[our data protection officer](mailto:privacy@imago.example).\n"
    "**Good to know:**\n"
    "- We never sell personal data.\n"
    "- Chat transcripts are kept for 30 days.\n"
    "Unsafe links stay plain text: [click me](javascript:alert(1))."
)
TRICKY_LINKS = (
    "[protocol-relative](//evil.example/x) [data](data:text/html,hi) "
    "[spaced]( javascript:alert(1)) [mixed case](JaVaScRiPt:alert(1)) "
    "[vbscript](vbscript:msgbox) [parens](https://imago.example/a_(b)) [anchor](/policy#sharing)\n"
    "Bare: https://imago.example/privacy. Mail dpo@imago.example please."
)
OPTIONS_TEXT = "What would you like to know?"
OPTIONS = [
    {"content_type": "text", "title": "Data retention", "payload": "/ask_retention"},
    {"content_type": "text", "title": "Delete my data", "payload": "/request_erasure"},
]
RETENTION_REPLY = "We keep chat transcripts for 30 days and account data while your contract runs."
ERASURE_REPLY = "I can file an erasure request for you. What is your e-mail address?"
# A Traditional Chinese answer quoting the English policy, as the assistant answers.
CHINESE_REPLY = ('我們不會把你的個人資料出售給外間機構。政策原文："We will never, ever provide or sell personal data"。'
                 "\n\n出處：[出售個人資料](/policy#data-sale)")


def reply_for(message: str) -> List[Dict[str, Any]]:
    """The scripted bot: returns the bot_uttered payloads for one user message."""
    text = message.strip()
    lowered = text.lower()
    if lowered in ("hi", "hello", "/greet"):
        return split_text(GREETING)
    if lowered == "link":
        return split_text(LINK_REPLY)
    if lowered == "tricky links":
        return split_text(TRICKY_LINKS)
    if lowered in ("options", "help", "what can i ask?"):
        return [{"text": OPTIONS_TEXT, "quick_replies": OPTIONS}]
    if text == "/ask_retention":
        return split_text(RETENTION_REPLY)
    if text == "/request_erasure":
        return split_text(ERASURE_REPLY)
    if text == "你哋會唔會賣我嘅資料？":
        return split_text(CHINESE_REPLY)
    if lowered == "split":
        return split_text("First part.\n\nSecond part.")
    return split_text(f"You said: {text}")


def split_text(text: str) -> List[Dict[str, Any]]:
    # Rasa's SocketIOOutput.send_text_message sends one event per paragraph.
    return [{"text": part} for part in text.strip().split("\n\n")]


class FakeRasa:
    def __init__(self, reply_delay: float = 0.0) -> None:
        self.reply_delay = reply_delay
        self.events: List[Dict[str, Any]] = []
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[])
        self.app = web.Application()
        self.sio.attach(self.app, socketio_path="/socket.io")
        self.app.router.add_get("/_events", self.get_events)
        self.app.router.add_get("/_health", self.get_health)
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("session_request", self.on_session_request)
        self.sio.on("user_uttered", self.on_user_uttered)

    def record(self, kind: str, sid: str, data: Any = None) -> None:
        self.events.append({"event": kind, "sid": sid, "data": data, "time": time.time()})

    async def on_connect(self, sid: str, environ: Dict, auth: Optional[Dict] = None) -> bool:
        self.record("connect", sid, {"transport": environ.get("QUERY_STRING", "")})
        return True

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        self.record("disconnect", sid)

    async def on_session_request(self, sid: str, data: Optional[Dict]) -> None:
        data = dict(data or {})
        self.record("session_request", sid, dict(data))
        if not data.get("session_id"):
            data["session_id"] = uuid.uuid4().hex
        # Rasa 3.6.21 forgets to await this coroutine with python-socketio 5.x
        # (RasaHQ/rasa#13027); the fake behaves as the fixed channel does.
        await self.sio.enter_room(sid, data["session_id"])
        await self.sio.emit("session_confirm", data["session_id"], room=sid)

    async def on_user_uttered(self, sid: str, data: Dict) -> None:
        self.record("user_uttered", sid, data)
        session_id = (data or {}).get("session_id")
        if not session_id:
            return  # Rasa ignores messages without a session id when persistence is on
        message = str(data.get("message", ""))
        delay = 1.5 if message.strip().lower() == "slow" else self.reply_delay
        if delay:
            await asyncio.sleep(delay)
        message_id = data.get("message_id")
        for payload in reply_for(message):
            if message_id and isinstance(payload, dict):
                payload = dict(payload, in_reply_to=message_id)
            await self.sio.emit("bot_uttered", payload, room=session_id)
        if message_id:  # as the real channel does after a turn (extensions/channels/socketio.py)
            await self.sio.emit("reply_done", {"message_id": message_id}, room=session_id)

    async def get_events(self, request: web.Request) -> web.Response:
        return web.json_response(self.events)

    async def get_health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Rasa socket.io server for browser tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--reply-delay", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeRasa(reply_delay=args.reply_delay)
    web.run_app(fake.app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
