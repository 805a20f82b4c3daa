"""ZendeskBackend against tests/support/fake_zendesk.py, a stand-in that follows Zendesk's docs:
OAuth tokens that expire, two-hour idempotency keys, 422 details, 429 Retry-After.
This file: creating and finding tickets, idempotency as Zendesk defines it, and the
mapping of Zendesk statuses (and deleted tickets) onto ours.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from imago_core.delivery.tickets.base import (
    TicketNotFoundError,
    TicketRef,
    TransientBackendError,
    RequestStatus,
)
from tests.support.fake_zendesk import IDEMPOTENCY_WINDOW_SECONDS
from tests.support.fake_zendesk import fake_zendesk  # noqa: F401 - fixture
from tests.support.zendesk_backend import BODY, EMAIL, assert_no_personal_data, backend_for, draft


# --- creating tickets ----------------------------------------------------------


def test_create_files_one_private_task_with_the_reference(fake_zendesk):
    backend = backend_for(fake_zendesk)

    ref = backend.create(draft())

    assert ref.backend == "zendesk"
    (ticket,) = fake_zendesk.tickets
    assert ref.external_id == str(ticket["id"])
    assert ref.url == f"{fake_zendesk.url}/agent/tickets/{ticket['id']}"
    assert ticket["subject"] == "[PRV-7K3M9Q] Deletion request"
    assert ticket["external_id"] == "PRV-7K3M9Q"
    assert ticket["type"] == "task"
    assert ticket["due_at"] == "2026-12-29T10:00:00Z"
    assert ticket["requester"] == {"name": "ann.visitor", "email": EMAIL}
    assert ticket["comments"] == [{"body": BODY, "public": False}]
    assert ticket["tags"] == ["privacy_request", "deletion", "verified", "web_chat"]

    (token_request,) = fake_zendesk.token_requests()
    assert token_request.body == {"grant_type": "client_credentials", "client_id": fake_zendesk.client_id,
                                  "client_secret": fake_zendesk.client_secret, "scope": "tickets:read tickets:write"}
    (create,) = fake_zendesk.creates()
    assert create.headers["idempotency-key"] == "PRV-7K3M9Q"
    assert create.headers["authorization"].startswith("Bearer zat_")
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


def test_the_lookup_does_not_see_archived_tickets(fake_zendesk):
    """The blind spot deploy/README.md warns about: the external_id list leaves out archived tickets."""
    backend = backend_for(fake_zendesk)
    ref = backend.create(draft())
    fake_zendesk.archive(int(ref.external_id))
    assert backend.find_by_reference("PRV-7K3M9Q") is None
    assert backend.status(ref) == RequestStatus.RECEIVED  # still readable by id


# --- idempotency as Zendesk defines it --------------------------------------------


def test_retry_after_a_create_that_timed_out_gives_no_duplicate(fake_zendesk):
    backend = backend_for(fake_zendesk, timeout=0.5)
    backend.find_by_reference("PRV-WARMUP")  # token fetched before the fault is queued
    fake_zendesk.inject("stall", stall_seconds=3)

    started = time.monotonic()
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft())
    assert time.monotonic() - started < 2.5, "the client timeout was not applied"
    assert caught.value.ambiguous is True
    assert_no_personal_data(caught.value)
    assert len(fake_zendesk.tickets) == 1  # the server did create it

    found = backend.find_by_reference("PRV-7K3M9Q")
    again = backend.create(draft())

    assert found is not None and again == found
    assert len(fake_zendesk.tickets) == 1
    creates = fake_zendesk.creates()
    assert [c.headers["idempotency-key"] for c in creates] == ["PRV-7K3M9Q", "PRV-7K3M9Q"]
    assert creates[1].status == 201
    assert creates[1].response_headers["x-idempotency-lookup"] == "hit"


def test_idempotency_keys_last_two_hours_then_a_create_is_new_again(fake_zendesk):
    """Why the delivery loop looks up before every re-create: after two hours the key is gone."""
    backend = backend_for(fake_zendesk)
    backend.create(draft())
    fake_zendesk.clock.advance(IDEMPOTENCY_WINDOW_SECONDS - 60)
    backend.create(draft())
    assert len(fake_zendesk.tickets) == 1
    assert fake_zendesk.creates()[-1].response_headers["x-idempotency-lookup"] == "hit"

    fake_zendesk.clock.advance(120)  # past the window (tokens are renewed on 401 on the way)
    backend.create(draft())
    assert len(fake_zendesk.tickets) == 2, "the fake kept the key past two hours"
    assert fake_zendesk.creates()[-1].response_headers["x-idempotency-lookup"] == "miss"


def test_same_key_with_another_body_returns_the_ticket_already_filed(fake_zendesk):
    backend = backend_for(fake_zendesk)
    first = backend.create(draft())

    again = backend.create(draft(body=BODY + " (reworded by a newer version)"))

    assert again == first
    assert len(fake_zendesk.tickets) == 1
    conflict = fake_zendesk.creates()[-1]
    assert conflict.status == 400
    lookups = [r for r in fake_zendesk.requests if r.method == "GET" and r.query.get("external_id")]
    assert lookups, "the conflict was not resolved through the external_id lookup"


def test_same_key_with_another_body_and_no_visible_ticket_waits_for_the_key_to_expire(fake_zendesk):
    backend = backend_for(fake_zendesk)
    ref = backend.create(draft())
    fake_zendesk.archive(int(ref.external_id))

    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft(body="changed"))

    assert caught.value.ambiguous is True and caught.value.retry_after == 600
    assert "IdempotentRequestError" in str(caught.value)
    assert len(fake_zendesk.tickets) == 1


def test_idempotent_replay_is_reported_as_hit(fake_zendesk):
    backend = backend_for(fake_zendesk)
    backend.create(draft())
    create = fake_zendesk.creates()[0]
    response = requests.post(
        fake_zendesk.url + "/api/v2/tickets.json", json=create.body,
        headers={"Idempotency-Key": "PRV-7K3M9Q", "Authorization": create.headers["authorization"]}, timeout=5)
    assert response.status_code == 201
    assert response.headers["x-idempotency-lookup"] == "hit"
    assert len(fake_zendesk.tickets) == 1


# --- status -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zendesk_status, tags, expected",
    [
        ("new", [], RequestStatus.RECEIVED),
        ("open", [], RequestStatus.IN_PROGRESS),
        ("pending", [], RequestStatus.WAITING_FOR_YOU),
        ("hold", [], RequestStatus.IN_PROGRESS),  # waiting on a third party; end users see "Open"
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


def test_a_deleted_ticket_is_reported_as_not_found(fake_zendesk):
    backend = backend_for(fake_zendesk)
    ref = backend.create(draft())
    fake_zendesk.delete(int(ref.external_id))
    with pytest.raises(TicketNotFoundError) as caught:
        backend.status(ref)
    assert "404" in str(caught.value)
    with pytest.raises(TicketNotFoundError):
        backend.status(TicketRef(backend="zendesk", external_id="999"))
