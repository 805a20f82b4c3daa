"""The delivery loop against a real Request Tracker 5, not only the Zendesk fake:
retries while RT is down, the "ambiguous" create whose answer is lost, and the
look-up that finds the ticket instead of filing it twice.

The lost answer is made by a loopback proxy that passes the create on to the real
RT and then holds RT's answer past the client's timeout: the ticket exists in RT,
the client only sees a timeout, exactly as on a flaky network."""
from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from imago_core.storage.db import session_scope
from imago_core.delivery.outbox import deliver_pending
from imago_core.storage.models import AuditEvent, DeliveryState, PrivacyRequest, RequestType, utcnow
from imago_core.requests.records import record_request
from imago_core.delivery.tickets.rt import RequestTrackerBackend
from tests.support.net import free_port
from tests.support.rt_server import RTServer, require_rt

pytestmark = pytest.mark.rt


class HoldingProxy:
    """TCP proxy to RT that, while `hold` is set, keeps RT's answer back for `seconds`."""

    def __init__(self, target_port: int):
        self.target_port, self.port = target_port, free_port()
        self.hold, self.seconds = False, 0.0
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        hold, seconds = self.hold, self.seconds

        def pump(source, sink, delay):
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    if delay:
                        time.sleep(delay)
                        delay = 0
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(client, upstream, 0), daemon=True).start()
        pump(upstream, client, seconds if hold else 0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        self._server.close()


@pytest.fixture
def rt(tmp_path):
    require_rt()
    server = RTServer(tmp_path / "rt").start()
    yield server
    server.stop()


def make_due_now() -> None:
    with session_scope() as session:
        session.execute(update(PrivacyRequest).where(PrivacyRequest.delivery_state == DeliveryState.PENDING)
                        .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def tickets_for(rt: RTServer, reference: str) -> list:
    query = f"Subject LIKE '[{reference}]'"
    return rt.api("GET", "tickets", params={"query": query}).json()["items"]


def audit_details(name: str) -> list:
    with session_scope() as session:
        return [e.detail or "" for e in session.execute(
            select(AuditEvent).where(AuditEvent.event == name)).scalars()]


def test_requests_recorded_while_rt_is_down_arrive_once_when_it_is_back(isolated_env, tmp_path):
    require_rt()
    port = free_port()
    views = [record_request(f"down{i}.{uuid.uuid4().hex[:6]}@example.org", RequestType.ACCESS, None,
                            "rest", f"conv-{i}", backend="rt") for i in range(3)]
    server = RTServer(tmp_path / "rt", port=port)
    backend = RequestTrackerBackend(server.url, "General", user="root", password="password", timeout=5)
    report = deliver_pending(backend)  # RT is not running yet: refused, nothing can have been created
    assert (report.delivered, report.pending) == (0, 3)
    assert all('"ambiguous": false' in d for d in audit_details("delivery_retry_scheduled"))

    server.start()
    try:
        make_due_now()
        assert deliver_pending(backend).delivered == 3
        make_due_now()
        assert deliver_pending(backend).delivered == 0  # nothing left, nothing twice
        for view in views:
            assert len(tickets_for(server, view.reference)) == 1
    finally:
        server.stop()


def test_a_create_whose_answer_is_lost_is_found_not_filed_twice(isolated_env, rt):
    proxy = HoldingProxy(rt.port)
    try:
        backend = RequestTrackerBackend(proxy.url, "General", token=rt.token, timeout=2)
        view = record_request(f"lost.{uuid.uuid4().hex[:6]}@example.org", RequestType.DELETION,
                              None, "rest", "conv-lost", backend="rt")
        proxy.hold, proxy.seconds = True, 4.0  # RT creates the ticket; its answer comes too late
        assert deliver_pending(backend).pending == 1
        assert any('"ambiguous": true' in d for d in audit_details("delivery_retry_scheduled"))
        deadline = time.monotonic() + 30
        while not tickets_for(rt, view.reference) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(tickets_for(rt, view.reference)) == 1  # it was created in RT all the same

        proxy.hold = False
        make_due_now()
        assert deliver_pending(backend).delivered == 1
        assert len(tickets_for(rt, view.reference)) == 1  # looked up, not re-created
        assert any('"found_existing": true' in d for d in audit_details("delivered"))
        with session_scope() as session:
            row = session.execute(select(PrivacyRequest)).scalar_one()
            assert row.delivery_state is DeliveryState.DELIVERED
            assert row.external_id == str(tickets_for(rt, view.reference)[0]["id"])
    finally:
        proxy.close()
