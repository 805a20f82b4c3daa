"""Issue 21 (e): the delivery loop survives PostgreSQL going away, and reconnects.

A real PostgreSQL is stopped before the action server's delivery loop first touches
the database (a replica that starts while PostgreSQL restarts) and again while the
loop runs. Before the fix, the first use left a half-made engine (the engine set, the
session factory not, because `create_all` failed): every later pass raised TypeError
for the life of the process, and nothing was ever delivered again."""
from __future__ import annotations

import subprocess
import threading
import time
import uuid

import pytest
from sqlalchemy import text

from imago_core.delivery import loop, outbox
from imago_core.delivery.tickets.base import TicketBackend, TicketRef
from imago_core.requests.records import record_request
from imago_core.settings import reset_settings_cache
from imago_core.storage import db as db_module
from imago_core.storage.models import RequestType
from tests.support.net import wait_until
from tests.support.services import PostgresServer


class RecordingBackend(TicketBackend):
    name = "recording"

    def __init__(self):
        self.created = []

    def create(self, draft):
        self.created.append(draft.reference)
        return TicketRef(backend=self.name, external_id=str(len(self.created)))

    def find_by_reference(self, reference):
        return None

    def status(self, external_id):
        return None


def pg_down(server: PostgresServer) -> None:
    server.process.terminate()
    server.process.wait(timeout=30)


def pg_up(server: PostgresServer) -> None:
    server.process = subprocess.Popen(
        server._as_user([server.postgres, "-D", str(server.folder / "data"), "-p", str(server.port),
                         "-k", str(server.folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_until(server._ready, timeout=60, what="PostgreSQL")


@pytest.fixture
def own_postgres(isolated_env, monkeypatch):
    server = PostgresServer().start()
    url = server.create_database(f"imago_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings_cache()
    db_module.reset_engine()
    yield server
    db_module.reset_engine()
    server.stop()


@pytest.fixture
def backend(monkeypatch):
    recording = RecordingBackend()
    monkeypatch.setattr(outbox, "configured_backend", lambda: recording)
    return recording


def record(backend_name: str = "recording") -> str:
    return record_request(f"v.{uuid.uuid4().hex[:8]}@example.org", RequestType.ACCESS, None, "rest", "rest:c",
                          backend_name).reference


def test_first_use_while_postgres_is_away_then_it_comes_back(own_postgres):
    pg_down(own_postgres)
    with pytest.raises(Exception):
        db_module.get_engine()
    pg_up(own_postgres)
    with db_module.session_scope() as session:  # before the fix: TypeError, 'NoneType' not callable
        assert session.execute(text("select 1")).scalar_one() == 1


def test_the_delivery_loop_survives_postgres_going_away_and_reconnects(own_postgres, backend):
    pg_down(own_postgres)  # away before the loop's first pass
    stop = threading.Event()
    thread = threading.Thread(target=loop.run_forever, kwargs={"interval": 0.5, "stop": stop}, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # a few passes fail
        pg_up(own_postgres)
        first = record()
        loop.kick()
        wait_until(lambda: first in backend.created, timeout=30, what="the first delivery")

        pg_down(own_postgres)  # away again while the loop runs: its pooled connections die
        time.sleep(1.5)
        pg_up(own_postgres)
        second = record()
        loop.kick()
        wait_until(lambda: second in backend.created, timeout=30, what="the delivery after the restart")
        assert thread.is_alive()
        assert backend.created.count(first) == 1 and backend.created.count(second) == 1
    finally:
        stop.set()
        loop.kick()
        thread.join(timeout=10)
