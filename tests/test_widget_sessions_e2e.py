"""Issue 23, finding 8 over the real Rasa and action servers: the turn that verifies
an address gives the widget a new session id for the same conversation, and a copy
of the id taken before (e.g. from localStorage) no longer opens that conversation."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.support.stack import Stack
from tests.support.widget_client import WidgetClient
from tests.test_conversation_rest import code_from

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server):
    running = Stack(tmp_path_factory.mktemp("sessions"), env_overrides=smtp_server.env()).start()
    yield running
    running.stop()


def test_verification_rotates_the_widget_session(stack, smtp):
    visitor = WidgetClient(stack.url).connect()
    try:
        address = f"rotate.{uuid.uuid4().hex[:6]}@example.org"
        visitor.say("what's the status of my request?", "6-digit code")  # the form asks for the address
        copied = visitor.session_id
        visitor.say(address, "sent a 6-digit code")
        visitor.say(code_from(smtp, address), "verified")
        deadline = time.monotonic() + 10
        while visitor.session_id == copied and time.monotonic() < deadline:
            time.sleep(0.1)
        rotated = visitor.session_id
        assert rotated != copied and rotated.split(".")[0] == copied.split(".")[0]

        thief = WidgetClient(stack.url).connect(copied)
        try:
            assert thief.session_id.split(".")[0] != copied.split(".")[0]  # a conversation of its own
            reply = thief.say("what's the status of my request?", "email")
            assert address not in reply and address[:1] + "***" not in reply
        finally:
            thief.close()
        again = WidgetClient(stack.url).connect(rotated)  # the visitor's own reload
        try:
            assert again.session_id == rotated
        finally:
            again.close()
    finally:
        visitor.close()
