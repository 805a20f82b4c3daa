"""The visitors of the chaos run, each filing verified requests one conversation after
another: over REST (to the other replica when its own is down) or over socket.io as the
widget speaks (reconnecting, asking for its session again); a message unanswered is
sent again with the same client message id. `Tally` is what they count."""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import requests

from .common import ASKS_CODE, ASKS_EMAIL, REFERENCE, STEP_DEADLINE, log
from .processes import Server
from .stack import Stack


@dataclass
class Wait:
    started: float
    answered: float
    channel: str = ""
    sends: int = 1


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: int = 0
    told: Dict[str, str] = field(default_factory=dict)  # reference -> conversation
    lost_places: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    gave_up: int = 0
    waits: List[Wait] = field(default_factory=list)
    resent: int = 0

    def take(self, limit: int) -> bool:
        with self.lock:
            if self.started >= limit:
                return False
            self.started += 1
            return True


class Unanswered(Exception):
    pass


STEPS = [  # (what the visitor says, what the answer must contain)
    ("I want a copy of all my data", "email address"),
    (None, "6-digit code"),  # the address
    (None, "Shall I file it?"),  # the code
    ("yes", "PRV-"),
]


class Visitor:
    def __init__(self, index: int, stack: Stack, tally: Tally, limit: int):
        self.index, self.stack, self.tally, self.limit = index, stack, tally, limit
        self.client = f"10.{index}.{random.randrange(256)}.{random.randrange(1, 255)}"
        self.home = index % 2

    def replica(self) -> Server:
        live = self.stack.live_rasa() or self.stack.rasa
        preferred = self.stack.rasa[self.home]
        return preferred if preferred in live else live[0]

    def run(self) -> None:
        while self.tally.take(self.limit):
            try:
                self.conversation()
            except Unanswered as exc:
                with self.tally.lock:
                    self.tally.gave_up += 1
                log(f"visitor {self.index}: gave up a conversation: {exc}")
            except Exception as exc:  # noqa: BLE001 - counted, never expected
                with self.tally.lock:
                    self.tally.unexpected.append(f"{type(exc).__name__}: {exc}"[:200])
                log(f"visitor {self.index}: {type(exc).__name__}: {exc}")

    def conversation(self) -> None:
        self.begin()
        address = f"chaos.{uuid.uuid4().hex[:12]}@example.org"
        verified_email = accepted_code = False
        try:
            for step, (text, expect) in enumerate(STEPS):
                if step == 1:
                    text = address
                    mails_before = len(self.stack.smtp.messages)
                if step == 2:
                    text = self.stack.code_for(address, mails_before)
                    if text is None:
                        raise Unanswered("no code mailed")
                said = self.say(text)
                if (verified_email and ASKS_EMAIL in said) or (accepted_code and any(a in said for a in ASKS_CODE)):
                    with self.tally.lock:
                        self.tally.lost_places.append(f"step {step}: {said[:120]!r}")
                    log(f"visitor {self.index} ({self.conversation_id}): lost its place at step {step}: {said[:160]!r}")
                    return
                if expect not in said:
                    with self.tally.lock:
                        self.tally.unexpected.append(f"step {step}: {said[:160]!r}")
                    log(f"visitor {self.index} ({self.conversation_id}): unexpected at step {step}: {said[:160]!r}")
                    return
                if step == 1:
                    verified_email = True  # the address was taken: asking for it again loses the place
                if step == 2:
                    accepted_code = True
                if step == 3:
                    found = REFERENCE.findall(said)
                    with self.tally.lock:
                        for reference in found:
                            self.tally.told[reference] = self.conversation_id
        finally:
            self.end()

    def answered(self, started: float, sends: int = 1) -> None:
        with self.tally.lock:
            self.tally.waits.append(Wait(started, time.monotonic(), type(self).__name__, sends))

    # overridden per channel
    def begin(self) -> None: ...
    def end(self) -> None: ...
    def say(self, text: str) -> str: ...


class RestVisitor(Visitor):
    def begin(self) -> None:
        self.sender = f"chaos-{self.index}-{uuid.uuid4().hex[:10]}"
        self.conversation_id = "rest:" + self.sender

    def say(self, text: str) -> str:
        message_id, started = uuid.uuid4().hex, time.monotonic()
        attempt = 0
        while time.monotonic() - started < STEP_DEADLINE:
            attempt += 1
            replica = self.replica()
            try:
                answer = requests.post(f"{replica.url}/webhooks/rest/webhook", timeout=90,
                                       headers={"X-Forwarded-For": self.client},
                                       json={"sender": self.sender, "message": text, "message_id": message_id})
                if answer.status_code == 200 and answer.json():
                    self.answered(started, attempt)
                    if attempt > 1:
                        with self.tally.lock:
                            self.tally.resent += 1
                    return "\n".join(m.get("text") or "" for m in answer.json())
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1.0)  # then the same message again, with the same id
        raise Unanswered(f"REST message unanswered for {STEP_DEADLINE:.0f} s")


class SocketVisitor(Visitor):
    """Speaks as the widget does: signed session from the server, each message with an
    id, replies matched by `in_reply_to`, re-sent after reconnecting."""

    def begin(self) -> None:
        self.session_id: Optional[str] = None
        self.replies: Dict[str, List[str]] = defaultdict(list)
        self.not_taken: set = set()
        self.done: set = set()
        self.confirmed = threading.Event()
        self.sio = None
        self.connect()
        self.conversation_id = "web:" + self.session_id.split(".", 1)[0]

    def connect(self) -> None:
        import socketio

        deadline = time.monotonic() + STEP_DEADLINE
        while time.monotonic() < deadline:
            self.close()
            sio = socketio.Client(reconnection=False)
            sio.on("session_confirm", self._on_confirm)
            sio.on("bot_uttered", self._on_bot)
            sio.on("message_not_taken", lambda data: self.not_taken.add((data or {}).get("message_id")))
            sio.on("reply_done", lambda data: self.done.add((data or {}).get("message_id")))
            self.confirmed.clear()
            try:
                sio.connect(self.replica().url, transports=["polling"], socketio_path="/socket.io", wait_timeout=10)
                self.sio = sio
                sio.emit("session_request", {"session_id": self.session_id})
                if self.confirmed.wait(15):
                    return
            except Exception:  # noqa: BLE001 - the replica is down: try again, maybe the other one
                pass
            time.sleep(1.0)
        raise Unanswered("could not connect")

    def _on_confirm(self, session_id) -> None:
        self.session_id = session_id
        self.confirmed.set()

    def _on_bot(self, data) -> None:
        if isinstance(data, dict) and data.get("in_reply_to"):
            self.replies[data["in_reply_to"]].append(str(data.get("text") or ""))

    def say(self, text: str) -> str:
        message_id, started = uuid.uuid4().hex, time.monotonic()
        sent_at, attempts = 0.0, 0
        while time.monotonic() - started < STEP_DEADLINE:
            if self.sio is None or not self.sio.connected:
                self.connect()  # the widget reconnects, asks for its session again ...
                sent_at = 0.0  # ... and sends what was not answered
            if message_id in self.not_taken or time.monotonic() - sent_at > 30:
                self.not_taken.discard(message_id)
                try:
                    self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id,
                                                   "message_id": message_id})
                    attempts += 1
                    sent_at = time.monotonic()
                except Exception:  # noqa: BLE001 - disconnected meanwhile
                    self.sio = None
                    continue
            if message_id in self.done:  # every bubble of the turn is in
                self.answered(started, attempts)
                if attempts > 1:
                    with self.tally.lock:
                        self.tally.resent += 1
                return "\n".join(self.replies.pop(message_id))
            time.sleep(0.1)
        raise Unanswered(f"socket.io message unanswered for {STEP_DEADLINE:.0f} s")

    def close(self) -> None:
        if self.sio is not None:
            try:
                self.sio.disconnect()
            except Exception:  # noqa: BLE001
                pass
            self.sio = None

    def end(self) -> None:
        self.close()

