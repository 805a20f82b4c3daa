"""Locust profile: widget sessions over socket.io (what the website's chat widget does):
connect, ask for a session, then ask policy questions and wait for each answer. The
time of a question is from `user_uttered` to the first `bot_uttered`.
"""
import queue
import random
import time
import uuid

import socketio
from locust import User, events, task

from locustfile_policy import QUESTIONS

ANSWER_TIMEOUT = 60


class WidgetVisitor(User):
    wait_time = staticmethod(lambda: 0)

    def on_start(self):
        self.answers: "queue.Queue" = queue.Queue()
        self.session_id = uuid.uuid4().hex
        self.client = socketio.Client(reconnection=False)
        self.client.on("bot_uttered", lambda data: self.answers.put(data))
        confirmed = queue.Queue()
        self.client.on("session_confirm", lambda sid: confirmed.put(sid))
        started = time.perf_counter()
        try:
            self.client.connect(self.host, socketio_path="/socket.io", transports=["websocket"])
            self.client.emit("session_request", {"session_id": self.session_id})
            # The server may issue its own (signed) id; a socket may speak only as that one.
            self.session_id = confirmed.get(timeout=ANSWER_TIMEOUT)
            self._report("connect + session", started)
        except Exception as exc:  # noqa: BLE001 - reported to Locust as a failure
            self._report("connect + session", started, exc)
            raise

    def on_stop(self):
        self.client.disconnect()

    @task
    def ask(self):
        started = time.perf_counter()
        self.client.emit("user_uttered", {"message": random.choice(QUESTIONS), "session_id": self.session_id})
        try:
            self.answers.get(timeout=ANSWER_TIMEOUT)
            time.sleep(0.05)  # the rest of the answer's messages
            while not self.answers.empty():
                self.answers.get_nowait()
            self._report("policy question", started)
        except queue.Empty as exc:
            self._report("policy question", started, exc)

    def _report(self, name, started, exc=None):
        events.request.fire(request_type="socket.io", name=name, response_time=1000 * (time.perf_counter() - started),
                            response_length=0, exception=exc, context={})
