"""RequestTrackerBackend against a real Request Tracker 5 (tests/support/rt_server.py).

The RT tests share one rt-server for the session and keep apart by using their
own references. Error mapping that a healthy RT cannot be made to show (429, 5xx,
a stalled answer) is checked against a tiny canned-answer server.
"""
from __future__ import annotations

import base64
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
from imago_core.tickets.rt import RequestTrackerBackend, ticketsql_string
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


def test_server_down_is_transient_and_not_ambiguous():
    backend = RequestTrackerBackend(f"http://127.0.0.1:{free_port()}", "General", token="t", timeout=2)
    reference = new_reference()
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft(reference))
    assert caught.value.ambiguous is False  # refused: the request never left
    assert_no_personal_data(caught.value)
    with pytest.raises(TransientBackendError):
        backend.find_by_reference(reference)
    with pytest.raises(TransientBackendError):
        backend.status(TicketRef(backend="rt", external_id="1"))


@pytest.mark.rt
def test_server_that_went_away_is_transient(tmp_path):
    """A real RT that was answering and then stopped."""
    from tests.support.rt_server import RTServer, require_rt

    require_rt()
    server = RTServer(tmp_path).start()
    backend = RequestTrackerBackend(server.url, "General", token=server.token, timeout=5)
    ref = backend.create(draft(new_reference()))
    server.stop()

    with pytest.raises(TransientBackendError) as caught:
        backend.status(ref)
    assert caught.value.ambiguous is False
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft(new_reference()))
    assert caught.value.ambiguous is False
    assert_no_personal_data(caught.value)


class CannedRT:
    """Answers every request with one canned response, or never answers ("stall")."""

    def __init__(self, status: int = 200, body: bytes = b"{}", headers=None, stall: bool = False):
        self.hits = 0
        release = self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                outer.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if stall:
                    release.wait(10)
                    return
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned():
    servers = []

    def make(**kwargs) -> CannedRT:
        server = CannedRT(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_429_is_transient_with_retry_after(canned):
    server = canned(status=429, body=b'{"message":"slow down"}', headers={"Retry-After": "12"})
    backend = RequestTrackerBackend(server.url, "General", token="t", timeout=5)
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft(new_reference()))
    assert caught.value.retry_after == 12
    assert caught.value.ambiguous is False


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient_and_ambiguous_only_on_create(canned, status):
    server = canned(status=status, body=b"<html>oops</html>")
    backend = RequestTrackerBackend(server.url, "General", token="t", timeout=5)
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft(new_reference()))
    assert caught.value.ambiguous is True
    assert str(status) in str(caught.value)
    with pytest.raises(TransientBackendError) as caught:
        backend.status(TicketRef(backend="rt", external_id="1"))
    assert caught.value.ambiguous is False


def test_no_answer_in_time_is_transient_and_ambiguous_on_create(canned):
    server = canned(stall=True)
    backend = RequestTrackerBackend(server.url, "General", token="t", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft(new_reference()))
    assert time.monotonic() - started < 3, "the timeout was not applied"
    assert caught.value.ambiguous is True
    assert server.hits == 1
    with pytest.raises(TransientBackendError) as caught:
        backend.find_by_reference(new_reference())
    assert caught.value.ambiguous is False


def test_other_4xx_is_permanent_and_keeps_addresses_out(canned):
    message = b'{"message":"Could not create ticket: bad requestor visitor-x@example.org"}'
    server = canned(status=400, body=message)
    backend = RequestTrackerBackend(server.url, "General", token="t", timeout=5)
    with pytest.raises(PermanentBackendError) as caught:
        backend.create(draft(new_reference()))
    assert "400" in str(caught.value)
    assert "Could not create ticket" in str(caught.value)
    assert_no_personal_data(caught.value)


def test_created_without_an_id_is_ambiguous(canned):
    server = canned(status=201, body=b"not json")
    backend = RequestTrackerBackend(server.url, "General", token="t", timeout=5)
    with pytest.raises(TransientBackendError) as caught:
        backend.create(draft(new_reference()))
    assert caught.value.ambiguous is True


def test_token_is_sent_as_rt_expects(canned):
    seen = {}

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen["authorization"] = self.headers.get("Authorization")
            seen["path"] = self.path
            body = b'{"items": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        backend = RequestTrackerBackend(
            f"http://127.0.0.1:{server.server_address[1]}/rt/", "Privacy", token="1-14-abc", timeout=5
        )
        assert backend.find_by_reference("PRV-7K3M9Q") is None
    finally:
        server.shutdown()
        server.server_close()
    assert seen["authorization"] == "token 1-14-abc"
    assert seen["path"].startswith("/rt/REST/2.0/tickets?")
    assert "Subject+LIKE+%27%5BPRV-7K3M9Q%5D%27+AND+Queue+%3D+%27Privacy%27" in seen["path"]


# --- pieces ---------------------------------------------------------------------


def test_ticketsql_strings_are_escaped():
    assert ticketsql_string("[PRV-1]") == "'[PRV-1]'"
    assert ticketsql_string("O'Brien\\") == "'O\\'Brien\\\\'"


def test_factory_names_every_missing_rt_variable():
    with pytest.raises(ConfigError) as caught:
        create_backend({"TICKET_BACKEND": "rt"})
    assert "RT_URL" in str(caught.value) and "RT_TOKEN" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        create_backend({"TICKET_BACKEND": "rt", "RT_URL": "http://rt", "RT_USER": "bot"})
    assert "RT_PASSWORD" in str(caught.value) and "RT_URL" not in str(caught.value)


def test_describe_rt_hides_credentials():
    env = {
        "TICKET_BACKEND": "rt",
        "RT_URL": "https://bot:hunter2@rt.imago.test/rt/",
        "RT_USER": "bot",
        "RT_PASSWORD": "hunter2",
        "RT_QUEUE": "Privacy",
    }
    description = describe_backend(env)
    assert "hunter2" not in description
    assert "https://rt.imago.test/rt/REST/2.0/" in description
    assert "Privacy" in description and "basic" in description
    assert "missing RT_URL" in describe_backend({"TICKET_BACKEND": "rt"})
