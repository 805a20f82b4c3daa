"""RequestTrackerBackend's error mapping: a server that is down or went away, and the
answers a healthy RT cannot be made to give (429, 5xx, a stalled answer, a create
without an id), checked against a tiny canned-answer server on loopback."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from imago_core.settings import ConfigError
from imago_core.delivery.tickets.base import PermanentBackendError, TicketRef, TransientBackendError
from imago_core.delivery.tickets.factory import create_backend, describe_backend
from imago_core.delivery.tickets.rt import RequestTrackerBackend, ticketsql_string
from tests.support.rt_server import free_port
from tests.test_ticket_rt import assert_no_personal_data, draft, new_reference


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
