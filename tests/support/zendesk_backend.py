"""Shared by the tests/test_ticket_zendesk_*.py files: the visitor's draft ticket and a
ZendeskBackend for the stand-in (tests/support/fake_zendesk.py) with the recommended
OAuth client-credentials setup."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from imago_core.delivery.tickets.base import TicketDraft
from imago_core.delivery.tickets.zendesk import ZendeskBackend
from imago_core.delivery.tickets.zendesk_auth import OAuthClientCredentials
from tests.support.fake_zendesk import FakeZendesk

EMAIL = "ann.visitor@example.org"
BODY = "Please delete my account data. Order numbers 1001 and 1002."
DUE = datetime(2026, 12, 29, 10, 0, tzinfo=timezone.utc)


def draft(reference: str = "PRV-7K3M9Q", **overrides) -> TicketDraft:
    fields = dict(reference=reference, request_type="deletion", requester_email=EMAIL, subject="Deletion request",
                  body=BODY, due_at=DUE, tags=["Verified", "web chat"])
    fields.update(overrides)
    return TicketDraft(**fields)


def backend_for(server: FakeZendesk, timeout: float = 5, secret: str = None, scope: str = None,
                clock=time.time) -> ZendeskBackend:
    """The recommended setup: a confidential OAuth client, client-credentials grant."""
    auth = OAuthClientCredentials(server.client_id, secret or server.client_secret, scope or server.scope, clock=clock)
    return ZendeskBackend(url=server.url, timeout=timeout, auth=auth)


def assert_no_personal_data(exc: BaseException) -> None:
    text = str(exc)
    assert EMAIL not in text and "ann.visitor" not in text
    assert "Order numbers" not in text
