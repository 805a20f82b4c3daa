"""ZendeskBackend against tests/support/fake_zendesk.py, a stand-in that follows Zendesk's docs:
OAuth tokens that expire, two-hour idempotency keys, 422 details, 429 Retry-After.
This file: errors: 429 and 500 as transient (and when a create is ambiguous), 422
validation details without the values sent, suspended requesters, the server down.
"""
from __future__ import annotations

import json

import pytest

from imago_core.delivery.tickets.base import (
    PermanentBackendError,
    RequesterSuspendedError,
    TransientBackendError,
)
from imago_core.delivery.tickets.zendesk import ZendeskBackend
from imago_core.delivery.tickets.zendesk_auth import OAuthClientCredentials
from tests.support.fake_zendesk import FakeZendesk
from tests.support.fake_zendesk import fake_zendesk  # noqa: F401 - fixture
from tests.support.net import free_port
from tests.support.zendesk_backend import BODY, EMAIL, assert_no_personal_data, backend_for, draft


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("text_body", [False, True], ids=["json", "text"])
def test_429_is_transient_with_retry_after(fake_zendesk, text_body):
    backend = backend_for(fake_zendesk)
    backend.find_by_reference("PRV-WARMUP")
    fake_zendesk.inject("429", retry_after=7, text_body=text_body)

    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())

    assert caught.value.retry_after == 7
    assert caught.value.ambiguous is False  # a 429 was not processed
    assert "429" in str(caught.value)
    assert_no_personal_data(caught.value)
    assert fake_zendesk.tickets == []
    assert backend.create(draft()).external_id == "1"


def test_429_on_status_read_is_transient(fake_zendesk):
    backend = backend_for(fake_zendesk)
    ref = backend.create(draft())
    fake_zendesk.inject("429", retry_after=30)
    with pytest.raises(TransientBackendError) as caught:
        backend.status(ref)
    assert caught.value.retry_after == 30


def test_429_on_the_token_endpoint_is_transient(fake_zendesk):
    fake_zendesk.inject("429", retry_after=5)
    with pytest.raises(TransientBackendError) as caught:
        backend_for(fake_zendesk).create(draft())
    assert caught.value.retry_after == 5 and caught.value.ambiguous is False


def test_500_on_create_is_transient_and_ambiguous(fake_zendesk):
    backend = backend_for(fake_zendesk)
    backend.find_by_reference("PRV-WARMUP")
    fake_zendesk.inject("500")
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())
    assert caught.value.ambiguous is True
    assert "500" in str(caught.value)
    assert_no_personal_data(caught.value)


def test_500_on_a_read_is_transient_but_not_ambiguous(fake_zendesk):
    backend = backend_for(fake_zendesk)
    backend.find_by_reference("PRV-WARMUP")
    fake_zendesk.inject("500")
    with pytest.raises(TransientBackendError) as caught:
        backend.find_by_reference("PRV-7K3M9Q")
    assert caught.value.ambiguous is False


def test_validation_error_keeps_its_details_without_the_values_sent(fake_zendesk):
    backend = backend_for(fake_zendesk)
    with pytest.raises(PermanentBackendError) as caught:
        backend.create(draft(requester_email="not-an-address"))
    error = caught.value
    assert not isinstance(error, RequesterSuspendedError)
    assert "422" in str(error) and "requester: InvalidValue" in str(error)
    assert error.details == {"requester": [{"error": "InvalidValue",
                                            "description": "Requester: Email <value sent> is invalid"}]}
    assert "not-an-address" not in str(error) + json.dumps(error.details)


def test_suspended_requester_is_reported_with_details(fake_zendesk):
    fake_zendesk.suspend_user(EMAIL)
    backend = backend_for(fake_zendesk)
    with pytest.raises(RequesterSuspendedError) as caught:
        backend.create(draft())
    assert caught.value.details["requester"][0]["error"] == "UserSuspended"
    # Neither the address nor the name derived from it ("ann.visitor") is kept.
    assert caught.value.details["requester"][0]["description"] == "Requester: <value sent> is suspended."
    assert EMAIL not in json.dumps(caught.value.details) and "ann.visitor" not in json.dumps(caught.value.details)
    assert_no_personal_data(caught.value)
    assert fake_zendesk.tickets == []


def test_a_draft_without_requester_is_filed_under_its_own_key(fake_zendesk):
    backend = backend_for(fake_zendesk)
    ref = backend.create(draft(requester_email="", body=f"Reply to {EMAIL} directly.\n\n{BODY}"))
    (ticket,) = fake_zendesk.tickets
    assert ref.external_id == str(ticket["id"]) and ticket["external_id"] == "PRV-7K3M9Q"
    assert ticket["requester"] == {"email": fake_zendesk.email}  # Zendesk makes the caller the requester
    assert EMAIL in ticket["description"]
    assert fake_zendesk.creates()[0].headers["idempotency-key"] == "PRV-7K3M9Q/no-requester"


def test_server_down_is_transient_and_not_ambiguous():
    server = FakeZendesk()  # never started: its port is free
    backend = ZendeskBackend(url=f"http://127.0.0.1:{free_port()}", timeout=2,
                             auth=OAuthClientCredentials(server.client_id, server.client_secret, server.scope))
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())
    assert caught.value.ambiguous is False
    assert_no_personal_data(caught.value)
