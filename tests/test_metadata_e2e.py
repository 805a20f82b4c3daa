"""Issue 23, finding 4 over the real Rasa server (trained model, real tracker store):
a message with huge metadata stores a bounded event."""
from __future__ import annotations

import json
import sqlite3
import time

import pytest
import requests

from tests.support.stack import Stack
from tests.support.widget_client import WidgetClient

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("metadata")).start()
    yield running
    running.stop()


def stored_metadata(stack, sender):
    with sqlite3.connect(stack.workdir / "tracker.db") as db:
        rows = db.execute("select data from events where sender_id = ? and type_name = 'user'", (sender,)).fetchall()
    return [json.loads(data).get("metadata") or {} for (data,) in rows]


def test_rest_and_socketio_metadata_are_stored_bounded(stack):
    body = {"sender": "meta1", "message": "hello", "metadata": {f"key{i}": "v" * 20 for i in range(1500)}}
    response = requests.post(f"{stack.url}/webhooks/rest/webhook", json=body, timeout=60)
    assert response.status_code == 200
    (rest_metadata,) = stored_metadata(stack, "rest:meta1")
    assert len(json.dumps(rest_metadata)) < 200

    client = WidgetClient(stack.url).connect()
    try:
        client.emit_message("hello", metadata={f"k{i}": "x" * 8 for i in range(1000)})
        conversation = "web:" + client.session_id.split(".")[0]
        deadline = time.monotonic() + 60
        while not stored_metadata(stack, conversation) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        client.close()
    (socket_metadata,) = stored_metadata(stack, conversation)
    assert len(json.dumps(socket_metadata)) < 200
