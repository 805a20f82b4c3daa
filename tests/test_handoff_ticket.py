"""The escalation ticket a hand-off files in the configured backend (here the fake Zendesk,
tests/support/fake_zendesk.py) through the delivery outbox; the conversation side is in
tests/test_handoff.py, the outage and retries in tests/test_background_jobs.py."""
from __future__ import annotations

import pytest

from imago_core.delivery.outbox import SUSPENDED_TAG, deliver_pending
from imago_core.handoff.escalations import create_escalation, get_escalation
from imago_core.storage.models import DeliveryState
from imago_core.settings import reset_settings_cache
from tests.support.fake_zendesk import fake_zendesk  # noqa: F401 - fixture

EMAIL = "suspended.person@example.org"
EVENTS = [{"event": "user", "text": "I want to talk to a person"}]


@pytest.fixture
def zendesk_backend(isolated_env, fake_zendesk, monkeypatch):
    """Tickets go to the fake Zendesk, authenticated with OAuth client credentials."""
    for name, value in {"TICKET_BACKEND": "zendesk", "ZENDESK_URL": fake_zendesk.url,
                        "ZENDESK_CLIENT_ID": fake_zendesk.client_id,
                        "ZENDESK_CLIENT_SECRET": fake_zendesk.client_secret}.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()


def test_escalation_for_a_suspended_requester_is_filed_without_requester(zendesk_backend, fake_zendesk):
    fake_zendesk.suspend_user(EMAIL)

    escalation = create_escalation("rc:ROOM1", "rocketchat", "asked for a person", EVENTS, verified_email=EMAIL)
    assert get_escalation(escalation.reference).delivery_state is DeliveryState.PENDING  # recorded first

    report = deliver_pending()  # one pass of the loop that runs in the action server
    assert report.delivered == 1 and report.pending == 0
    row = get_escalation(escalation.reference)
    assert row.delivery_state is DeliveryState.DELIVERED and row.external_id
    refused, accepted = fake_zendesk.creates()
    assert refused.body["ticket"]["requester"]["email"] == EMAIL  # the first try names the requester
    ticket = accepted.body["ticket"]
    assert "requester" not in ticket and SUSPENDED_TAG in ticket["tags"]
    assert EMAIL in ticket["comment"]["body"] and "suspended" in ticket["comment"]["body"]
    assert [t["id"] for t in fake_zendesk.tickets] == [int(row.external_id)]


def test_a_second_pass_files_nothing_again(zendesk_backend, fake_zendesk):
    """Delivered once: later passes (from any replica's loop) leave it alone."""
    escalation = create_escalation("rest:c1", "rest", "asked for a person", EVENTS, verified_email=None)
    assert deliver_pending().delivered == 1
    assert deliver_pending().delivered == 0
    (ticket,) = fake_zendesk.tickets
    assert ticket["external_id"] == escalation.reference
