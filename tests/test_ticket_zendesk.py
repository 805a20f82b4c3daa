"""ZendeskBackend against a local fake of the Tickets API (tests/support/fake_zendesk.py)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from imago_core.settings import ConfigError
from imago_core.tickets.base import (
    PermanentBackendError,
    TicketDraft,
    TicketRef,
    TransientBackendError,
    RequestStatus,
)
from imago_core.tickets.factory import create_backend, describe_backend
from imago_core.tickets.zendesk import ZendeskBackend
from tests.support.fake_zendesk import fake_zendesk  # noqa: F401 - fixture
from tests.support.rt_server import free_port

EMAIL = "ann.visitor@example.org"
BODY = "Please delete my account data. Order numbers 1001 and 1002."
DUE = datetime(2026, 12, 29, 10, 0, tzinfo=timezone.utc)


def draft(reference: str = "PRV-7K3M9Q", **overrides) -> TicketDraft:
    fields = dict(
        reference=reference,
        request_type="deletion",
        requester_email=EMAIL,
        subject="Deletion request",
        body=BODY,
        due_at=DUE,
        tags=["Verified", "web chat"],
    )
    fields.update(overrides)
    return TicketDraft(**fields)


def backend_for(server, timeout: float = 5, **overrides) -> ZendeskBackend:
    options = dict(email=server.email, api_token=server.api_token, url=server.url, timeout=timeout)
    options.update(overrides)
    return ZendeskBackend(**options)


def assert_no_personal_data(exc: BaseException) -> None:
    text = str(exc)
    assert EMAIL not in text and "ann.visitor" not in text
    assert "Order numbers" not in text


def test_create_files_one_private_task_with_the_reference(fake_zendesk):
    backend = backend_for(fake_zendesk)

    ref = backend.create(draft())

    assert ref.backend == "zendesk"
    tickets = fake_zendesk.tickets
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ref.external_id == str(ticket["id"])
    assert ref.url == f"{fake_zendesk.url}/agent/tickets/{ticket['id']}"
    assert ticket["subject"] == "[PRV-7K3M9Q] Deletion request"
    assert ticket["external_id"] == "PRV-7K3M9Q"
    assert ticket["type"] == "task"
    assert ticket["due_at"] == "2026-12-29T10:00:00Z"
    assert ticket["requester"] == {"name": "ann.visitor", "email": EMAIL}
    assert ticket["comments"] == [{"body": BODY, "public": False}]
    assert ticket["tags"] == ["privacy_request", "deletion", "verified", "web_chat"]

    (create,) = fake_zendesk.creates()
    assert create.headers["idempotency-key"] == "PRV-7K3M9Q"
    assert create.headers["content-type"].startswith("application/json")


def test_naive_due_date_is_taken_as_utc(fake_zendesk):
    backend_for(fake_zendesk).create(draft(due_at=datetime(2027, 1, 2, 3, 4, 5)))
    assert fake_zendesk.tickets[0]["due_at"] == "2027-01-02T03:04:05Z"


def test_due_date_in_another_zone_is_converted_to_utc(fake_zendesk):
    cet = timezone(timedelta(hours=1))
    backend_for(fake_zendesk).create(draft(due_at=datetime(2027, 1, 2, 3, 0, tzinfo=cet)))
    assert fake_zendesk.tickets[0]["due_at"] == "2027-01-02T02:00:00Z"


def test_find_by_reference(fake_zendesk):
    backend = backend_for(fake_zendesk)
    first = backend.create(draft("PRV-AAAAAA"))
    second = backend.create(draft("PRV-BBBBBB"))

    assert backend.find_by_reference("PRV-AAAAAA") == first
    assert backend.find_by_reference("PRV-BBBBBB") == second
    assert backend.find_by_reference("PRV-NOSUCH") is None
    searches = [r for r in fake_zendesk.requests if r.method == "GET" and r.path == "/api/v2/tickets.json"]
    assert searches[-1].query == {"external_id": ["PRV-NOSUCH"]}


def test_retry_after_a_create_that_timed_out_gives_no_duplicate(fake_zendesk):
    backend = backend_for(fake_zendesk, timeout=0.5)
    fake_zendesk.inject("stall", stall_seconds=3)

    started = time.monotonic()
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())
    assert time.monotonic() - started < 2.5, "the client timeout was not applied"
    assert caught.value.ambiguous is True
    assert_no_personal_data(caught.value)
    assert len(fake_zendesk.tickets) == 1  # the server did create it

    # What the delivery loop does after an ambiguous failure: look, then retry.
    found = backend.find_by_reference("PRV-7K3M9Q")
    again = backend.create(draft())

    assert found is not None and again == found
    assert len(fake_zendesk.tickets) == 1
    creates = fake_zendesk.creates()
    assert [c.headers["idempotency-key"] for c in creates] == ["PRV-7K3M9Q", "PRV-7K3M9Q"]
    # The second create was answered from the first one's result.
    assert creates[1].status == 201
    assert creates[1].response_headers["x-idempotency-lookup"] == "hit"


def test_idempotent_replay_is_reported_as_hit(fake_zendesk):
    import requests

    backend = backend_for(fake_zendesk)
    backend.create(draft())
    payload = fake_zendesk.creates()[0].body
    response = requests.post(
        fake_zendesk.url + "/api/v2/tickets.json",
        json=payload,
        headers={"Idempotency-Key": "PRV-7K3M9Q"},
        auth=(f"{fake_zendesk.email}/token", fake_zendesk.api_token),
        timeout=5,
    )
    assert response.status_code == 201
    assert response.headers["x-idempotency-lookup"] == "hit"
    assert len(fake_zendesk.tickets) == 1


def test_429_is_transient_with_retry_after(fake_zendesk):
    backend = backend_for(fake_zendesk)
    fake_zendesk.inject("429", retry_after=7)

    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())

    assert caught.value.retry_after == 7
    assert caught.value.ambiguous is False  # a 429 was not processed
    assert "429" in str(caught.value)
    assert_no_personal_data(caught.value)
    assert fake_zendesk.tickets == []
    # Once the limit has passed, the same call goes through.
    assert backend.create(draft()).external_id == "1"


def test_429_on_status_read_is_transient(fake_zendesk):
    backend = backend_for(fake_zendesk)
    ref = backend.create(draft())
    fake_zendesk.inject("429", retry_after=30)
    with pytest.raises(TransientBackendError) as caught:
        backend.status(ref)
    assert caught.value.retry_after == 30


def test_500_on_create_is_transient_and_ambiguous(fake_zendesk):
    backend = backend_for(fake_zendesk)
    fake_zendesk.inject("500")

    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())

    assert caught.value.ambiguous is True
    assert "500" in str(caught.value)
    assert_no_personal_data(caught.value)


def test_500_on_a_read_is_transient_but_not_ambiguous(fake_zendesk):
    backend = backend_for(fake_zendesk)
    fake_zendesk.inject("500")
    with pytest.raises(TransientBackendError) as caught:
        backend.find_by_reference("PRV-7K3M9Q")
    assert caught.value.ambiguous is False


def test_wrong_token_is_permanent(fake_zendesk):
    backend = backend_for(fake_zendesk, api_token="wrong-token")

    with pytest.raises(PermanentBackendError) as caught:
        backend.create(draft())

    assert "401" in str(caught.value)
    assert "wrong-token" not in str(caught.value)
    assert_no_personal_data(caught.value)
    assert fake_zendesk.tickets == []


def test_validation_error_is_permanent_without_the_values_sent(fake_zendesk):
    backend = backend_for(fake_zendesk)
    with pytest.raises(PermanentBackendError) as caught:
        backend.create(draft(requester_email="not-an-address", body=BODY))
    assert "422" in str(caught.value)
    assert "not-an-address" not in str(caught.value)
    assert "Order numbers" not in str(caught.value)


def test_server_down_is_transient_and_not_ambiguous():
    backend = ZendeskBackend(
        email="agent@imago.test", api_token="t", url=f"http://127.0.0.1:{free_port()}", timeout=2
    )
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())
    assert caught.value.ambiguous is False  # the connection was refused: nothing was sent
    assert_no_personal_data(caught.value)


@pytest.mark.parametrize(
    "zendesk_status, tags, expected",
    [
        ("new", [], RequestStatus.RECEIVED),
        ("open", [], RequestStatus.IN_PROGRESS),
        ("pending", [], RequestStatus.WAITING_FOR_YOU),
        ("hold", [], RequestStatus.WAITING_FOR_YOU),
        ("solved", [], RequestStatus.COMPLETED),
        ("closed", ["privacy_request"], RequestStatus.COMPLETED),
        ("solved", ["privacy_request", "rejected"], RequestStatus.REJECTED),
        ("closed", ["rejected"], RequestStatus.REJECTED),
        ("open", ["rejected"], RequestStatus.IN_PROGRESS),  # not final yet
    ],
)
def test_status_mapping(fake_zendesk, zendesk_status, tags, expected):
    backend = backend_for(fake_zendesk)
    ref = backend.create(draft())
    assert backend.status(ref) == RequestStatus.RECEIVED

    fake_zendesk.set_status(int(ref.external_id), zendesk_status, tags=tags)

    assert backend.status(ref) == expected


def test_status_of_a_missing_ticket_is_permanent(fake_zendesk):
    backend = backend_for(fake_zendesk)
    with pytest.raises(PermanentBackendError) as caught:
        backend.status(TicketRef(backend="zendesk", external_id="999"))
    assert "404" in str(caught.value)


def test_base_url_from_subdomain():
    backend = ZendeskBackend(email="agent@imago.test", api_token="secret-token", subdomain="imago")
    assert backend.base_url == "https://imago.zendesk.com"
    assert "secret-token" not in repr(backend)


# --- factory ------------------------------------------------------------------


def test_factory_builds_zendesk_from_variables(fake_zendesk):
    env = {
        "TICKET_BACKEND": "zendesk",
        "ZENDESK_URL": fake_zendesk.url,
        "ZENDESK_EMAIL": fake_zendesk.email,
        "ZENDESK_TOKEN": fake_zendesk.api_token,
        "TICKET_TIMEOUT": "3",
    }
    backend = create_backend(env)
    assert isinstance(backend, ZendeskBackend)
    assert backend.timeout == 3.0
    backend.create(draft())
    assert len(fake_zendesk.tickets) == 1

    description = describe_backend(env)
    assert fake_zendesk.url in description
    assert fake_zendesk.api_token not in description
    assert fake_zendesk.email not in description


def test_factory_names_every_missing_zendesk_variable():
    with pytest.raises(ConfigError) as caught:
        create_backend({"TICKET_BACKEND": "zendesk", "ZENDESK_TOKEN": "t"})
    message = str(caught.value)
    assert "ZENDESK_SUBDOMAIN" in message and "ZENDESK_EMAIL" in message
    assert "ZENDESK_TOKEN" not in message


def test_factory_local_means_no_backend():
    assert create_backend({"TICKET_BACKEND": "local"}) is None
    assert create_backend({}) is None
    assert "local" in describe_backend({})


def test_factory_rejects_unknown_backend_and_bad_timeout():
    with pytest.raises(ConfigError, match="TICKET_BACKEND"):
        create_backend({"TICKET_BACKEND": "jira"})
    with pytest.raises(ConfigError, match="TICKET_TIMEOUT"):
        create_backend({"TICKET_BACKEND": "zendesk", "ZENDESK_SUBDOMAIN": "x", "ZENDESK_EMAIL": "a@b",
                        "ZENDESK_TOKEN": "t", "TICKET_TIMEOUT": "soon"})


def test_factory_reads_the_environment(monkeypatch):
    from imago_core.settings import reset_settings_cache

    monkeypatch.setenv("TICKET_BACKEND", "zendesk")
    monkeypatch.setenv("ZENDESK_SUBDOMAIN", "imago")
    monkeypatch.setenv("ZENDESK_EMAIL", "agent@imago.test")
    monkeypatch.setenv("ZENDESK_TOKEN", "secret-token")
    reset_settings_cache()
    try:
        backend = create_backend()
        assert isinstance(backend, ZendeskBackend)
        assert backend.base_url == "https://imago.zendesk.com"
        assert "secret-token" not in describe_backend()
    finally:
        monkeypatch.undo()
        reset_settings_cache()
