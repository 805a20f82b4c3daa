"""Serves the RocketChat connector from a real Sanic server, registered with Rasa's own
`register()` (so the route is exactly /webhooks/rocketchat/webhook), with a recording
bot in place of the Rasa agent whose replies go through the connector's output
channel to the fake Rocket.Chat."""
from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional

import aiohttp
from rasa.core.channels.channel import InputChannel, UserMessage, register
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ConversationPaused, UserUttered
from sanic import Sanic

from extensions.channels.rocketchat import LIVECHAT_TOKEN_HEADER, RocketChatClient, RocketChatInput
from tests.support.fake_rocketchat import FakeRocketChat

BOT_USER = "privacy-bot"
BOT_PASSWORD = "bot-password"
WEBHOOK_TOKEN = "outgoing-secret"
LIVECHAT_TOKEN = "livechat-secret"
DEPARTMENT = "privacy-team-dept"


class RecordingBot:
    """Stands in for the Rasa agent: records each UserMessage and replies to it.

    It keeps real (in-memory) tracker and lock stores, as Rasa's Agent does, and like
    Rasa it logs the message but does not answer while the tracker is paused
    (rasa/core/processor.py, `_should_handle_message`). `pause_after_reply` plays
    action_handoff, which ends with ConversationPaused.
    """

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []
        self.reply: Callable[[UserMessage], Dict[str, Any]] = lambda m: {"text": f"echo: {m.text}"}
        self.delay = 0.0  # a slow turn (seconds), as a real NLU + action round trip can be
        self.pause_after_reply = False
        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.lock_store = InMemoryLockStore()

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        async with self.lock_store.lock(message.sender_id):
            tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
            tracker.update(UserUttered(message.text))
            paused = tracker.is_paused()
            if not paused and self.pause_after_reply:
                tracker.update(ConversationPaused())
            await self.tracker_store.save(tracker)
        if paused:
            return
        if self.delay:
            await asyncio.sleep(self.delay)
        await message.output_channel.send_response(message.sender_id, self.reply(message))


@dataclass
class Harness:
    url: str
    http: aiohttp.ClientSession
    channel: RocketChatInput
    bot: RecordingBot
    fake: FakeRocketChat
    delays: List[float] = field(default_factory=list)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/rocketchat/webhook"

    async def post(self, payload: Any, headers: Optional[Dict[str, str]] = None, settle: bool = True):
        async with self.http.post(self.webhook_url, json=payload, headers=headers or {}) as resp:
            result = resp.status, await resp.json(content_type=None)
        if settle:
            await self.channel.wait_for_turns()
        return result

    async def post_livechat(self, payload: Dict[str, Any], token: Optional[str] = LIVECHAT_TOKEN,
                            settle: bool = True):
        headers = {LIVECHAT_TOKEN_HEADER: token} if token is not None else {}
        return await self.post(payload, headers, settle)


def make_client(fake: FakeRocketChat, delays: List[float], timeout: float = 5, real_sleep: bool = False,
                **kwargs: Any) -> RocketChatClient:
    """A client whose retry waits are recorded in `delays` (and slept only if asked)."""

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)
        if real_sleep:
            await asyncio.sleep(seconds)

    return RocketChatClient(BOT_USER, BOT_PASSWORD, fake.url, timeout=timeout, sleep=record_sleep, **kwargs)


class SanicServers:
    """Starts apps serving a channel each; `close()` stops them all."""

    def __init__(self) -> None:
        self._started: List[Any] = []

    async def start(self, fake: FakeRocketChat, client: Optional[RocketChatClient] = None,
                    delays: Optional[List[float]] = None, extra_channels: Optional[List[InputChannel]] = None,
                    **channel_config: Any) -> Harness:
        delays = delays if delays is not None else []
        config = dict(webhook_token=WEBHOOK_TOKEN, livechat_token=LIVECHAT_TOKEN, handoff_department_id=DEPARTMENT)
        config.update(channel_config)
        channel = RocketChatInput(BOT_USER, BOT_PASSWORD, fake.url, client=client or make_client(fake, delays),
                                  **config)
        bot = RecordingBot()
        app = Sanic(f"rocketchat_test_{uuid.uuid4().hex}", configure_logging=False)
        app.ctx.agent = SimpleNamespace(handle_message=bot.handle_message, tracker_store=bot.tracker_store,
                                        lock_store=bot.lock_store)
        channels = [channel, *(extra_channels or [])]
        app.ctx.input_channels = channels  # as rasa.core.run does: the staff console finds outputs here
        register(channels, app, route="/webhooks/")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()
        await server.before_start()
        await server.after_start()
        startup_check = getattr(channel, "_startup_check", None)
        if startup_check is not None:  # deterministic tests: the check's calls come first
            await startup_check
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._started.append((server, http))
        return Harness(f"http://127.0.0.1:{port}", http, channel, bot, fake, delays)

    async def close(self) -> None:
        for server, http in self._started:
            await http.close()
            await server.before_stop()
            await server.close()
            await server.after_stop()
        self._started.clear()
