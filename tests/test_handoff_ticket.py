"""The escalation ticket a hand-off files in the configured backend (here the fake Zendesk,
tests/support/fake_zendesk.py); the conversation side is in tests/test_handoff.py."""
from __future__ import annotations

import time

from imago_core.delivery import SUSPENDED_TAG
from imago_core.handoff import create_escalation, get_escalation
from imago_core.settings import reset_settings_cache
from tests.support.fake_zendesk import fake_zendesk  # noqa: F401 - fixture

EMAIL = "suspended.person@example.org"
EVENTS = [{"event": "user", "text": "I want to talk to a person"}]


def filed(reference: str, timeout: float = 10.0):
    """The escalation once its background ticket filing has finished (or None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = get_escalation(reference)
        if row.external_id:
            return row
        time.sleep(0.05)
    return None


def test_escalation_for_a_suspended_requester_is_filed_without_requester(isolated_env, fake_zendesk, monkeypatch):
    for name, value in {"TICKET_BACKEND": "zendesk", "ZENDESK_URL": fake_zendesk.url,
                        "ZENDESK_CLIENT_ID": fake_zendesk.client_id,
                        "ZENDESK_CLIENT_SECRET": fake_zendesk.client_secret}.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    fake_zendesk.suspend_user(EMAIL)

    escalation = create_escalation("rc:ROOM1", "rocketchat", "asked for a person", EVENTS, verified_email=EMAIL)

    row = filed(escalation.reference)
    assert row is not None, "the escalation ticket was not filed"
    refused, accepted = fake_zendesk.creates()
    assert refused.body["ticket"]["requester"]["email"] == EMAIL  # the first try names the requester
    ticket = accepted.body["ticket"]
    assert "requester" not in ticket and SUSPENDED_TAG in ticket["tags"]
    assert EMAIL in ticket["comment"]["body"] and "suspended" in ticket["comment"]["body"]
    assert [t["id"] for t in fake_zendesk.tickets] == [int(row.external_id)]
