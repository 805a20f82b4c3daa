"""A socket.io client that speaks like the website widget (python-socketio's client,
installed with Rasa): session_request -> session_confirm, user_uttered -> bot_uttered."""
from __future__ import annotations

import threading
import time
from typing import List, Optional

import socketio


class WidgetClient:
    def __init__(self, url: str):
        self.url = url
        self.sio = socketio.Client(reconnection=False)
        self.session_id: Optional[str] = None
        self.replies: List[dict] = []
        self._confirmed = threading.Event()
        self._lock = threading.Lock()
        self.sio.on("session_confirm", self._on_confirm)
        self.sio.on("bot_uttered", self._on_bot)

    def _on_confirm(self, session_id):
        self.session_id = session_id
        self._confirmed.set()

    def _on_bot(self, data):
        with self._lock:
            self.replies.append(data)

    def connect(self, session_id: Optional[str] = None) -> "WidgetClient":
        self.sio.connect(self.url, transports=["polling"], socketio_path="/socket.io", wait_timeout=30)
        return self.request_session(session_id)

    def request_session(self, session_id: Optional[str]) -> "WidgetClient":
        self._confirmed.clear()
        self.sio.emit("session_request", {"session_id": session_id})
        if not self._confirmed.wait(30):
            raise TimeoutError("no session_confirm")
        return self

    def emit_message(self, text: str, session_id: Optional[str] = None, metadata: Optional[dict] = None) -> None:
        payload = {"message": text, "session_id": session_id or self.session_id}
        if metadata is not None:
            payload["metadata"] = metadata
        self.sio.emit("user_uttered", payload)

    def say(self, text: str, expect: str, timeout: float = 60) -> str:
        """Sends a message and waits for a reply containing `expect`; returns all new text."""
        start = len(self.replies)
        self.emit_message(text)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                new = "\n".join(str(r.get("text") or "") for r in self.replies[start:])
            if expect in new:
                return new
            time.sleep(0.1)
        raise AssertionError(f"no reply containing {expect!r}; got {new!r}")

    def settle(self, quiet: float = 1.5, timeout: float = 30) -> None:
        """Waits until no reply has arrived for `quiet` seconds: the turn's last messages
        (a reply may come in several bubbles) are in before a test counts replies."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.replies), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            with self._lock:
                count = len(self.replies)
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise AssertionError(f"replies kept arriving for {timeout} s")

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()
