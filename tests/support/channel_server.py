"""A Sanic server with the project's real socket.io and REST channels in front of the
real redacting tracker store, without a trained model: each message is stored as
Rasa's agent would store it (a UserUttered with the channel's metadata) and answered
with one bot message. For tests of what the channels let through into storage.

    python -m tests.support.channel_server PORT TRACKER_DB
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Tuple

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from extensions.channels.rest import HardenedRestInput
from extensions.channels.socketio import PersistentSocketIOInput
from extensions.tracker_store import RedactingSQLTrackerStore


def build(tracker_db: str) -> Sanic:
    app = Sanic("channel_test_server")
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=tracker_db)

    async def on_new_message(message: UserMessage) -> None:
        tracker = await store.retrieve(message.sender_id) or DialogueStateTracker(message.sender_id, [])
        tracker.update(UserUttered(message.text, metadata=message.metadata, input_channel=message.input_channel))
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, "stored")

    for channel in (PersistentSocketIOInput.from_credentials({"user_message_evt": "user_uttered",
                                                              "bot_message_evt": "bot_uttered",
                                                              "session_persistence": True}),
                    HardenedRestInput.from_credentials({})):
        app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/" + channel.url_prefix())

    @app.get("/ready")
    async def ready(_request):
        from sanic import response

        return response.text("ok")

    return app


@contextlib.contextmanager
def running(workdir: Path, **env_overrides: str) -> Iterator[Tuple[str, Path, Path]]:
    """Starts the server in a process of its own; yields (base URL, tracker db, project db)."""
    import requests

    from tests.support.net import free_port, wait_until
    from tests.support.stack import ROOT

    port, tracker, project = free_port(), workdir / "tracker.db", workdir / "imago.db"
    env = dict(os.environ, IMAGO_DOTENV="off", OTP_SECRET="channel-test-secret-0123456789abcdef",
               WIDGET_SESSION_SECRET="channel-test-widget-secret-0123456789abcdef",
               DATABASE_URL=f"sqlite:///{project}", SQLALCHEMY_SILENCE_UBER_WARNING="1", PYTHONWARNINGS="ignore")
    env.pop("REST_TOKEN", None)
    env.update(env_overrides)
    log = open(workdir / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "tests.support.channel_server", str(port), str(tracker)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).ok, timeout=90,
                   what="the channel server")
        yield f"http://127.0.0.1:{port}", tracker, project
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    port, db = int(sys.argv[1]), sys.argv[2]
    build(db).run(host="127.0.0.1", port=port, access_log=False, workers=1)
