"""Background work starts with the action server (rasa_sdk_plugins -> imago_core/service.py):
the ticket delivery loop and the daily retention purge;
and escalations reach the ticket backend through the same outbox as requests: an
escalation made while Request Tracker is down is filed exactly once when it returns."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest
import requests
from sqlalchemy import create_engine, text

from imago_core import service as background
from imago_core.storage.models import RequestType
from imago_core.requests.records import record_request
from tests.support.fake_zendesk import FakeZendesk
from tests.support.net import free_port, wait_until
from tests.support.rt_server import RTServer, require_rt
from tests.support.stack import ACTION_SERVER_TOKEN, ROOT, Stack, reply_text
from tests.test_ticket_rt import search


@pytest.fixture
def zendesk():
    server = FakeZendesk().start()
    yield server
    server.stop()


@pytest.fixture
def jobs(isolated_env, monkeypatch):
    # The purge job runs at once: on this test's own (empty) tracker store.
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{isolated_env / 'tracker.db'}")
    from imago_core.settings import reset_settings_cache

    reset_settings_cache()
    yield background
    background.stop_background_jobs()


def running(name):
    return [t for t in threading.enumerate() if t.name == name]


def test_no_delivery_job_with_the_local_backend(isolated_env, jobs):
    assert jobs.start_background_jobs() == ["confirmation-mails", "request-clocks", "retention-purge"]
    jobs.stop_background_jobs()
    assert not running("retention-purge") and not running("request-clocks")


def test_bad_settings_stop_the_start(isolated_env, jobs, monkeypatch):
    """A bad setting raises in the start listener (so the server stops), not in a thread."""
    from imago_core.settings import reset_settings_cache

    monkeypatch.setenv("REQUEST_RETENTION_DAYS", "10")
    reset_settings_cache()
    with pytest.raises(Exception, match="REQUEST_RETENTION_DAYS"):
        jobs.start_background_jobs()
    assert not running("retention-purge") and not running("ticket-delivery")


def test_a_misspelt_regime_stops_the_start(isolated_env, jobs, monkeypatch):
    from imago_core.settings import reset_settings_cache

    monkeypatch.setenv("REGIMES", "gdpr,pdpo,gdrp")
    reset_settings_cache()
    with pytest.raises(Exception, match="gdrp"):
        jobs.start_background_jobs()
    assert not running("request-clocks")


def test_delivery_job_delivers_without_being_woken(isolated_env, monkeypatch, zendesk, jobs):
    monkeypatch.setenv("TICKET_BACKEND", "zendesk")
    monkeypatch.setenv("ZENDESK_URL", zendesk.url)
    monkeypatch.setenv("ZENDESK_CLIENT_ID", zendesk.client_id)
    monkeypatch.setenv("ZENDESK_CLIENT_SECRET", zendesk.client_secret)
    from imago_core.settings import reset_settings_cache

    reset_settings_cache()
    view = record_request("ada@example.org", RequestType.ACCESS, None, "rest", "conv-1", backend="zendesk")
    started = ["confirmation-mails", "request-clocks", "retention-purge", "ticket-delivery", "zendesk-credentials-check"]
    assert jobs.start_background_jobs() == started
    assert jobs.start_background_jobs() == started  # idempotent
    assert len(running("ticket-delivery")) == 1 and len(running("retention-purge")) == 1
    wait_until(lambda: [t["external_id"] for t in zendesk.tickets] == [view.reference], timeout=20,
               what="the ticket from the background loop")
    jobs.stop_background_jobs()
    assert not running("ticket-delivery") and not running("retention-purge")


@pytest.fixture
def rt_outage(tmp_path_factory):
    """A Request Tracker of the test's own, which the test stops and restarts."""
    require_rt()
    server = RTServer(tmp_path_factory.mktemp("rt-outage")).start()
    yield server
    server.stop()


def _sqlite(path):
    return create_engine(f"sqlite:///{path}")


@pytest.mark.rt
def test_action_server_delivers_a_pending_request_at_startup(tmp_path, rt_outage, monkeypatch):
    """A request recorded before a restart is delivered once the server is up, with no
    conversation turn to wake anything."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'imago.db'}")
    from imago_core.storage import db
    from imago_core.settings import reset_settings_cache

    reset_settings_cache()
    db.reset_engine()
    view = record_request("grace@example.org", RequestType.DELETION, None, "rest", "conv-restart", backend="rt")
    db.reset_engine()

    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'imago.db'}", TICKET_BACKEND="rt",
               RT_URL=rt_outage.url, RT_TOKEN=rt_outage.token, RT_QUEUE="General", IMAGO_DOTENV="off",
               OTP_SECRET="e2e-test-secret-0123456789abcdef", PYTHONPATH=str(ROOT),
               ACTION_SERVER_TOKEN=ACTION_SERVER_TOKEN, TRACKER_STORE_URL=f"sqlite:///{tmp_path / 'tracker.db'}",
               TICKET_ALLOW_HTTP_LOOPBACK="true")
    log = open(tmp_path / "actions.log", "wb")
    # The entry point the deployment runs (actions/server.py attaches the rasa_sdk plugins).
    server = subprocess.Popen([sys.executable, "-m", "actions.server", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok, timeout=90,
                   what="the action server")
        wait_until(lambda: len(search(rt_outage, view.reference)) == 1, timeout=60, what="the ticket in RT")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def _escalation(stack, conversation_id):
    engine = _sqlite(stack.workdir / "imago.db")
    with engine.connect() as connection:
        row = connection.execute(text(
            "select reference, delivery_state, delivery_attempts, last_error, external_id from escalations "
            "where conversation_id = :c"), {"c": conversation_id}).one_or_none()
    engine.dispose()
    return row


@pytest.mark.rt
@pytest.mark.e2e
def test_escalation_while_rt_is_down_is_filed_exactly_once_when_it_returns(tmp_path, smtp_server, rt_outage):
    stack = Stack(tmp_path / "stack", env_overrides=dict(
        smtp_server.env(), TICKET_BACKEND="rt", RT_URL=rt_outage.url, RT_TOKEN=rt_outage.token,
        RT_QUEUE="General", TICKET_TIMEOUT="5")).start()
    try:
        rt_outage.stop()
        sender = f"visitor-{uuid.uuid4().hex}"
        conversation = f"rest:{sender}"  # the REST channel's conversation ids
        stack.say(sender, "do you sell my data?")
        told = reply_text(stack.say(sender, "i want to talk to a real person"))
        assert "ESC-" in told  # the visitor gets the reference whatever the backend does
        reference = told.split("reference ", 1)[1].split(")", 1)[0]

        # Down: kept, retried with backoff, never dropped.
        wait_until(lambda: (_escalation(stack, conversation) or (0, 0, 0))[2] >= 2, timeout=60,
                   what="two failed attempts")
        ref, state, attempts, last_error, external_id = _escalation(stack, conversation)
        assert (ref, state, external_id) == (reference, "pending", None) and last_error

        rt_outage.start(keep_database=True)
        wait_until(lambda: _escalation(stack, conversation)[1] == "delivered", timeout=90, what="the escalation ticket")
        (ticket,) = search(rt_outage, reference)
        assert _escalation(stack, conversation)[4] == str(ticket["id"])
        body = rt_outage.api("GET", f"ticket/{ticket['id']}").json()
        assert "escalated to the privacy team" in body["Subject"]
    finally:
        stack.stop()
    assert len(search(rt_outage, reference)) == 1
