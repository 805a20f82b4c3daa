"""Issue 23, finding 4: what a web or REST client sends as metadata is not stored as
it comes. Through the real channels and the real redacting tracker store
(tests/support/channel_server.py: the project's channels in front of the store, no model)."""
from __future__ import annotations

import json
import os
import sqlite3
import time

import pytest
import requests

from tests.support import channel_server as channel_server_process
from tests.support.net import wait_until
from tests.support.widget_client import WidgetClient


@pytest.fixture(scope="module")
def channel_server(tmp_path_factory):
    with channel_server_process.running(tmp_path_factory.mktemp("channels")) as (url, tracker, _project):
        yield url, tracker


def stored_user_events(db, sender=None):
    with sqlite3.connect(db) as connection:
        rows = connection.execute("select sender_id, data from events where type_name = 'user' order by id")
        return [json.loads(data) for (who, data) in rows if sender in (None, who)]


def wait_for_events(db, count, sender):
    wait_until(lambda: db.exists() and len(stored_user_events(db, sender)) >= count, timeout=30,
               what="stored events")
    return stored_user_events(db, sender)


def conversation(client: WidgetClient) -> str:
    return "web:" + client.session_id.split(".")[0]


def test_socketio_custom_data_is_not_stored_as_it_comes(channel_server):
    url, db = channel_server
    client = WidgetClient(url).connect()
    try:
        # Under the transport limit, but thousands of keys and a long value of a key.
        many = {f"k{i}": "x" * 8 for i in range(1000)}
        client.emit_message("hello there", metadata={**many, "room_kind": "y" * 5000,
                                                     "imago_client_address": "forged"})
        client.emit_message("second", metadata=json.dumps({"nested": {"deep": ["z" * 9000]}}))
        events = wait_for_events(db, 2, conversation(client))
    finally:
        client.close()
    for event in events:
        assert len(json.dumps(event["metadata"])) < 200, event["metadata"]
        assert set(event["metadata"]) <= {"imago_client_address"}
    assert events[0]["text"] == "hello there"


def test_socketio_refuses_a_megabyte_message_before_reading_it(channel_server):
    url, db = channel_server
    client = WidgetClient(url).connect()
    try:
        client.emit_message("big", metadata={"blob": "b" * 900_000})
        time.sleep(3)  # a refused packet has no event to wait for
        client.close()
        other = WidgetClient(url).connect()  # the server still answers others
        other.say("small", "stored")
        other.close()
    finally:
        client.close()
    texts = [e["text"] for e in stored_user_events(db)]
    assert "big" not in texts and "small" in texts
    assert os.path.getsize(db) < 500_000


def test_rest_metadata_is_not_stored_as_it_comes(channel_server):
    url, db = channel_server
    body = {"sender": "m1", "message": "hi", "metadata": {f"key{i}": "v" * 20 for i in range(1500)}}
    assert len(json.dumps(body)) < 64 * 1024  # accepted by the channel's body limit
    response = requests.post(f"{url}/webhooks/rest/webhook", json=body, timeout=30)
    assert response.status_code == 200, response.text
    (event,) = wait_for_events(db, 1, "rest:m1")
    assert len(json.dumps(event["metadata"])) < 200
