"""Hand-off to staff over the real stack: escalation, pause, staff console API
(token required), reply, hand back; transcripts mask one-time codes."""
from __future__ import annotations

import uuid

import pytest
import requests

from imago_core.handoff.escalations import transcript_from_events
from tests.support.stack import Stack, reply_text

pytestmark = pytest.mark.e2e
TOKEN = "staff-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server):
    running = Stack(tmp_path_factory.mktemp("handoff"), env_overrides=dict(smtp_server.env(), STAFF_TOKEN=TOKEN)).start()
    yield running
    running.stop()


def api(stack, method, path, token=TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(method, f"{stack.url}/webhooks/staff/api/escalations{path}", headers=headers,
                            timeout=30, **kwargs)


def test_console_refuses_requests_without_the_right_token(stack):
    assert api(stack, "GET", "", token=None).status_code == 401
    assert api(stack, "GET", "", token="wrong").status_code == 403
    assert api(stack, "POST", "/ESC-ANY/reply", token=None, json={"text": "x"}).status_code == 401
    assert api(stack, "POST", "/ESC-ANY/handback", token="wrong").status_code == 403
    page = requests.get(f"{stack.url}/webhooks/staff/", timeout=10)
    assert page.ok and "Staff token" in page.text and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_visitor_asks_for_a_person_staff_reply_and_hand_back(stack):
    sender = f"visitor-{uuid.uuid4().hex}"
    stack.say(sender, "do you sell my data?")
    replies = stack.say(sender, "i want to talk to a real person")
    told = reply_text(replies)
    assert "privacy team" in told and "ESC-" in told and "working day" in told
    reference = told.split("reference ", 1)[1].split(")", 1)[0]

    # Paused: the bot stays quiet, the message is kept for staff.
    assert stack.say(sender, "my account id is 77 and <b>please</b> hurry") == []

    listing = api(stack, "GET", "").json()["escalations"]
    mine = [e for e in listing if e["reference"] == reference]
    assert mine and mine[0]["conversation_id"] == "rest:" + sender and mine[0]["channel"] == "rest"
    detail = api(stack, "GET", f"/{reference}").json()
    lines = [line["text"] for line in detail["transcript"]]
    assert "do you sell my data?" in lines and "my account id is 77 and <b>please</b> hurry" in lines

    assert api(stack, "POST", f"/{reference}/reply", json={"text": ""}).status_code == 400
    sent = api(stack, "POST", f"/{reference}/reply", json={"text": "Hello, this is Maria from privacy."})
    assert sent.ok
    detail = api(stack, "GET", f"/{reference}").json()
    # Labelled as the privacy team's; the shared STAFF_TOKEN has no name to add.
    assert {"who": "staff", "text": "**IMAGO privacy team:** Hello, this is Maria from privacy.", "staff": "staff"}.items() \
        <= next(line for line in detail["transcript"] if line["who"] == "staff").items()
    assert detail["status"] == "with staff"

    assert api(stack, "POST", f"/{reference}/handback").ok
    replies = stack.say(sender, "how long do you keep my data?")
    assert "#retention" in reply_text(replies)
    assert reference not in [e["reference"] for e in api(stack, "GET", "").json()["escalations"]]


def test_urgent_report_offers_a_person(stack):
    replies = stack.say(f"visitor-{uuid.uuid4().hex}", "i think my data was leaked, someone logged into my account")
    assert "/request_human" in [b["payload"] for r in replies for b in r.get("buttons", [])]


def test_transcript_masks_codes():
    events = [
        {"event": "bot", "text": "What is your email address?"},
        {"event": "user", "text": "jane@example.org"},
        {"event": "slot", "name": "requested_slot", "value": "otp_code"},
        {"event": "user", "text": "my code is 482913"},
        {"event": "slot", "name": "requested_slot", "value": None},
        {"event": "user", "text": '/request_deletion{"email": "x@y.z"}'},
        {"event": "user", "text": "oh and 123 456 was the old one, order 2026 is fine"},
        {"event": "bot", "text": "Your reference is PRV-7K3M9Q, due 29 December 2026."},
    ]
    lines = transcript_from_events(events)
    assert [line["text"] for line in lines] == ["What is your email address?", "jane@example.org",
                                               "my code is ******", "/request_deletion",
                                               "oh and ****** was the old one, order 2026 is fine",
                                               "Your reference is PRV-7K3M9Q, due 29 December 2026."]
