"""Issue 23, finding 1, against the real Rasa and action servers: guesses spread over
many conversations and client networks (X-Forwarded-For, believed from the trusted
proxy 127.0.0.1) at one address, then the right code, which must not verify. The
visitor is told plainly that the address is locked, and its owner gets one mail."""
from __future__ import annotations

import uuid

import pytest

from tests.support.stack import Stack
from tests.test_address_budget import network
from tests.test_conversation_rest import code_from

pytestmark = pytest.mark.e2e
LOCKED_WORDS = "too many wrong codes"  # domain.yml: utter_address_locked


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server):
    running = Stack(tmp_path_factory.mktemp("budget"), env_overrides=dict(
        smtp_server.env(), TRUSTED_PROXIES="127.0.0.1")).start()
    yield running
    running.stop()


def start_request(stack: Stack, sender: str, address: str, client: str) -> str:
    stack_reply = stack.say(sender, "I want a copy of my data", client=client)
    assert stack_reply, "no reply to the request"
    return "\n".join(r.get("text") or "" for r in stack.say(sender, address, client=client))


def text(replies) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def test_guesses_from_many_networks_cannot_verify_the_right_code(stack, smtp):
    victim = f"victim.{uuid.uuid4().hex[:8]}@example.org"
    lucky = f"lucky-{uuid.uuid4().hex}"
    assert "6-digit code" in start_request(stack, lucky, victim, "203.0.113.77")
    code = code_from(smtp, victim)  # the code the last guess will hit
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    # Ten conversations, ten networks (IPv6 /64s and IPv4 /24s), one wrong code each.
    for n in range(10):
        sender = f"guess-{n}-{uuid.uuid4().hex}"
        assert "6-digit code" in start_request(stack, sender, victim, network(n))
        reply = text(stack.say(sender, wrong, client=network(n)))
        assert "verified" not in reply.lower()

    reply = text(stack.say(lucky, code, client="203.0.113.77"))
    assert "verified" not in reply.lower(), f"a stranger verified as the owner: {reply!r}"
    assert LOCKED_WORDS in reply.lower() and "isn't right" not in reply, reply

    # A new visitor naming the address is told at once; no code is mailed.
    before = len(smtp.code_mails_to(victim))
    fresh = f"fresh-{uuid.uuid4().hex}"
    assert LOCKED_WORDS in start_request(stack, fresh, victim, "2001:db8:feed::1").lower()
    assert len(smtp.code_mails_to(victim)) == before

    # The owner got one mail saying so, with no code in it.
    with smtp.lock:
        notices = [m for m in smtp.messages if victim in m.recipients and "locked" in m.message["Subject"].lower()]
    assert len(notices) == 1
    assert code not in notices[0].message.get_content()
