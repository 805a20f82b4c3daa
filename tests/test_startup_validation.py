"""The cached action-response validation (extensions/startup.py) rejects what Rasa's
own check rejects. A stub action server on loopback answers Rasa's RemoteAction."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest

import extensions.tracker_store  # noqa: F401 - importing the store installs the patch, as at Rasa's startup
from extensions import startup
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

VALID = {"events": [{"event": "slot", "name": "email", "value": None}], "responses": [{"text": "hi"}]}
INVALID_EVENTS = [
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"events": [{"name": "email"}]},  # no event type at all
    {"events": {"event": "slot", "name": "x"}},  # not a list
    {"events": [], "responses": "hello"},  # responses not a list
    ["not", "an", "object"],
]


class _StubActionServer(BaseHTTPRequestHandler):
    answer: object = None

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def action_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubActionServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def _run_remote_action(server, answer):
    _StubActionServer.answer = answer
    domain = Domain.from_yaml("version: '3.1'\nslots:\n  email:\n    type: any\n    mappings: []\nresponses: {}\n")
    action = RemoteAction("action_stub", EndpointConfig(f"http://127.0.0.1:{server.server_port}/webhook"))
    tracker = DialogueStateTracker("stub-conversation", domain.slots)
    return await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                            tracker, domain)


def test_rasa_uses_the_cached_validation_once_the_store_is_loaded():
    assert RemoteAction._validate_action_result.__module__ == "extensions.startup"


async def test_a_valid_response_is_accepted(action_server):
    events = await _run_remote_action(action_server, VALID)
    assert SlotSet("email", None) in events


@pytest.mark.parametrize("answer", INVALID_EVENTS)
async def test_an_invalid_response_is_rejected_as_rasa_rejects_it(action_server, answer):
    with pytest.raises(jsonschema.ValidationError) as raised:
        await _run_remote_action(action_server, answer)
    # The same error as jsonschema.validate() gives, with Rasa's hint appended.
    with pytest.raises(jsonschema.ValidationError) as reference:
        jsonschema.validate(answer, RemoteAction.action_response_format_spec())
    assert raised.value.message.startswith(reference.value.message)
    assert "Failed to validate Action server response" in raised.value.message


def test_one_validator_is_compiled_per_schema():
    first = startup.compiled_validator(RemoteAction.action_response_format_spec)
    assert startup.compiled_validator(RemoteAction.action_response_format_spec) is first


def test_install_twice_changes_nothing():
    patched = RemoteAction._validate_action_result
    startup.install()
    assert RemoteAction._validate_action_result is patched
