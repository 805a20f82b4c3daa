"""RequestTrackerBackend against a real Request Tracker 5 (tests/support/rt_server.py).

The RT tests share one rt-server for the session and keep apart by using their
own references. Error mapping that a healthy RT cannot be made to show (429, 5xx,
a stalled answer) is checked in tests/test_ticket_rt_errors.py.
"""
from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from imago_core.delivery.tickets.base import (
    PermanentBackendError,
    TicketDraft,
    TicketRef,
    RequestStatus,
)
from imago_core.delivery.tickets.factory import create_backend, describe_backend
from imago_core.delivery.tickets.rt import RequestTrackerBackend
from tests.support.rt_server import free_port, rt_server  # noqa: F401 - fixture

BODY = "Please delete everything about me.\nAccount: ann-visitor\nUmlauts stay: äöü"
DUE = datetime(2026, 12, 29, 10, 0, tzinfo=timezone.utc)


def new_reference() -> str:
    return "PRV-" + uuid.uuid4().hex[:6].upper()


def visitor_email(reference: str) -> str:
    return f"visitor-{reference.lower()}@example.org"


def draft(reference: str, **overrides) -> TicketDraft:
    fields = dict(
        reference=reference,
        request_type="deletion",
        requester_email=visitor_email(reference),
        subject="Deletion request",
        body=BODY,
        due_at=DUE,
    )
    fields.update(overrides)
    return TicketDraft(**fields)


def assert_no_personal_data(exc: BaseException, reference: str = "") -> None:
    text = str(exc)
    assert "@example.org" not in text
    assert "Please delete" not in text and "ann-visitor" not in text


def search(rt, reference: str) -> list:
    """Tickets whose subject carries the reference, straight from RT."""
    response = rt.api(
        "GET",
        "tickets",
        params={"query": f"Subject LIKE '[{reference}]'", "fields": "Subject,Status,Queue"},
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ticket_text(rt, ticket_id: str) -> str:
    """The text/plain content of the ticket's Create transaction."""
    history = rt.api("GET", f"ticket/{ticket_id}/history", params={"fields": "Type"}).json()["items"]
    create = next(item for item in history if item.get("Type") == "Create")
    attachments = rt.api(
        "GET", f"transaction/{create['id']}/attachments", params={"fields": "ContentType,Content"}
    ).json()["items"]
    (plain,) = [a for a in attachments if a["ContentType"] == "text/plain"]
    attachment = rt.api("GET", f"attachment/{plain['id']}").json()
    return base64.b64decode(attachment["Content"]).decode("utf-8")


@pytest.fixture
def backend(rt_server):
    return RequestTrackerBackend(rt_server.url, "General", token=rt_server.token, timeout=20)


# --- against the real RT --------------------------------------------------------


@pytest.mark.rt
def test_create_files_exactly_one_ticket_with_the_right_fields(rt_server, backend):
    reference = new_reference()

    ref = backend.create(draft(reference))

    assert ref.backend == "rt"
    assert ref.url == f"{rt_server.url}/Ticket/Display.html?id={ref.external_id}"
    items = search(rt_server, reference)
    assert [item["id"] for item in items] == [ref.external_id]

    ticket = rt_server.api("GET", f"ticket/{ref.external_id}").json()
    assert ticket["Subject"] == f"[{reference}] Deletion request"
    assert [r["id"] for r in ticket["Requestor"]] == [visitor_email(reference)]
    assert ticket["Due"] == "2026-12-29T10:00:00Z"
    assert ticket["Status"] == "new"
    queue = rt_server.api("GET", f"queue/{ticket['Queue']['id']}").json()
    assert queue["Name"] == "General"
    assert ticket_text(rt_server, ref.external_id) == BODY


@pytest.mark.rt
def test_due_date_in_another_zone_is_stored_in_utc(rt_server, backend):
    reference = new_reference()
    cet = timezone(timedelta(hours=1))
    ref = backend.create(draft(reference, due_at=datetime(2027, 1, 2, 3, 0, tzinfo=cet)))
    assert rt_server.api("GET", f"ticket/{ref.external_id}").json()["Due"] == "2027-01-02T02:00:00Z"


@pytest.mark.rt
def test_find_by_reference(rt_server, backend):
    first, second = new_reference(), new_reference()
    first_ref = backend.create(draft(first))
    second_ref = backend.create(draft(second, request_type="access", subject="Access request"))

    assert backend.find_by_reference(first) == first_ref
    assert backend.find_by_reference(second) == second_ref
    assert backend.find_by_reference(new_reference()) is None


@pytest.mark.rt
def test_find_by_reference_ignores_a_longer_reference_and_other_queues(rt_server, backend):
    reference = new_reference()
    # A ticket whose reference merely starts with ours, and one in another queue.
    rt_server.api("POST", "ticket", json={"Queue": "General", "Subject": f"[{reference}X] Access request"})
    created = rt_server.api("POST", "queue", json={"Name": f"Other {reference}"})
    assert created.status_code == 201, created.text
    other = RequestTrackerBackend(rt_server.url, f"Other {reference}", user="root", password="password")
    other.create(draft(reference))

    assert backend.find_by_reference(reference) is None

    mine = backend.create(draft(reference))
    assert backend.find_by_reference(reference) == mine


@pytest.mark.rt
@pytest.mark.parametrize(
    "rt_status, expected",
    [
        ("open", RequestStatus.IN_PROGRESS),
        ("stalled", RequestStatus.WAITING_FOR_YOU),
        ("resolved", RequestStatus.COMPLETED),
        ("rejected", RequestStatus.REJECTED),
        ("deleted", RequestStatus.REJECTED),
    ],
)
def test_status_follows_changes_made_in_rt(rt_server, backend, rt_status, expected):
    ref = backend.create(draft(new_reference()))
    assert backend.status(ref) == RequestStatus.RECEIVED

    changed = rt_server.api("PUT", f"ticket/{ref.external_id}", json={"Status": rt_status})
    assert changed.status_code == 200, changed.text
    assert rt_server.api("GET", f"ticket/{ref.external_id}").json()["Status"] == rt_status

    assert backend.status(ref) == expected


@pytest.mark.rt
def test_basic_auth_works_too(rt_server):
    backend = RequestTrackerBackend(rt_server.url + "/", "General", user="root", password="password")
    reference = new_reference()
    ref = backend.create(draft(reference))
    assert backend.find_by_reference(reference) == ref


@pytest.mark.rt
def test_bad_credentials_are_permanent(rt_server):
    reference = new_reference()
    for backend in (
        RequestTrackerBackend(rt_server.url, "General", token="1-14-0000000000000000", timeout=20),
        RequestTrackerBackend(rt_server.url, "General", user="root", password="wrong", timeout=20),
    ):
        with pytest.raises(PermanentBackendError) as caught:
            backend.create(draft(reference))
        assert "401" in str(caught.value)
        assert "wrong" not in str(caught.value)
        assert_no_personal_data(caught.value)
    assert search(rt_server, reference) == []


@pytest.mark.rt
def test_unknown_queue_is_permanent(rt_server):
    backend = RequestTrackerBackend(rt_server.url, "No Such Queue", token=rt_server.token, timeout=20)
    with pytest.raises(PermanentBackendError) as caught:
        backend.create(draft(new_reference()))
    assert_no_personal_data(caught.value)


@pytest.mark.rt
def test_status_of_a_missing_ticket_is_permanent(backend):
    with pytest.raises(PermanentBackendError) as caught:
        backend.status(TicketRef(backend="rt", external_id="987654"))
    assert "404" in str(caught.value)


@pytest.mark.rt
def test_factory_builds_rt_from_variables(rt_server):
    env = {"TICKET_BACKEND": "rt", "RT_URL": rt_server.url, "RT_TOKEN": rt_server.token, "TICKET_TIMEOUT": "15",
           "TICKET_ALLOW_HTTP_LOOPBACK": "true"}  # the test RT speaks http on loopback
    backend = create_backend(env)
    assert isinstance(backend, RequestTrackerBackend)
    assert backend.queue == "General" and backend.timeout == 15.0
    reference = new_reference()
    ref = backend.create(draft(reference))
    assert backend.find_by_reference(reference) == ref

    description = describe_backend(env)
    assert rt_server.url in description and "General" in description
    assert rt_server.token not in description


# --- failures -------------------------------------------------------------------


@pytest.mark.rt
@pytest.mark.parametrize("due_at_create", [DUE, None], ids=["with a Due", "without a Due"])
def test_update_moves_due_and_status(rt_server, backend, due_at_create):
    """The desk's changes reach RT: a later Due and each status the clock can take. RT's
    "Due changed from Not set to ..." is a success, not a refusal."""
    from imago_core.delivery.tickets.base import RequestStatus

    ref = backend.create(draft(new_reference(), due_at=due_at_create))
    later = DUE + timedelta(days=61)
    backend.update(ref, due_at=later, status=RequestStatus.WAITING_FOR_YOU)
    ticket = rt_server.api("GET", f"ticket/{ref.external_id}").json()
    assert (ticket["Due"], ticket["Status"]) == ("2027-02-28T10:00:00Z", "stalled")
    for status, rt_status in ((RequestStatus.IN_PROGRESS, "open"), (RequestStatus.COMPLETED, "resolved")):
        backend.update(ref, status=status)
        assert rt_server.api("GET", f"ticket/{ref.external_id}").json()["Status"] == rt_status
        assert backend.status(ref) is status  # and read back the same
