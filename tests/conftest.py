"""Shared fixtures: an isolated database and settings per test, a real SMTP server."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import imago_core.service  # noqa: F401 - registers the outbox kinds, as every entry point does
from imago_core.storage import db as db_module
from imago_core.settings import reset_settings_cache
from tests.support.smtp_server import TestSmtpServer

TEST_SECRET = "test-secret-0123456789-abcdefghij"
os.environ["IMAGO_DOTENV"] = "off"  # a developer's .env must not leak into tests


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Fresh SQLite database, outbox and secret; no .env from the developer's tree."""
    for name in list(os.environ):
        if name.startswith(("SMTP_", "RT_", "ZENDESK_")) or name in ("TICKET_BACKEND", "DATABASE_URL", "MAIL_OUTBOX"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'imago.db'}")
    monkeypatch.setenv("MAIL_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("OTP_SECRET", TEST_SECRET)
    monkeypatch.setenv("WIDGET_SESSION_SECRET", "test-widget-session-secret-0123456789")
    monkeypatch.setenv("POLICY_URL", "https://privacy.example.test/policy")
    # The test RT and the fake Zendesk speak http on loopback (imago_core/delivery/tickets/transport.py).
    monkeypatch.setenv("TICKET_ALLOW_HTTP_LOOPBACK", "true")
    reset_settings_cache()
    db_module.reset_engine()
    yield tmp_path
    db_module.reset_engine()
    reset_settings_cache()


@pytest.fixture
def tracker_db(isolated_env, monkeypatch):
    """A tracker-store database of its own, where the retention and erasure code looks."""
    from imago_core.storage import conversations as conversation_store

    path = isolated_env / "tracker.db"
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    # As the Rasa server leaves it at its start: erasure and the purge refuse a store
    # without the events table (tests/test_erasure_store.py).
    conversation_store.events.metadata.create_all(conversation_store.tracker_engine())
    yield path
    conversation_store.dispose_engines()


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory) -> TestSmtpServer:
    server = TestSmtpServer(Path(tmp_path_factory.mktemp("smtp"))).start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server):
    smtp_server.clear()
    smtp_server.reject_next = 0
    return smtp_server


@pytest.fixture(scope="session")
def assistant(tmp_path_factory, smtp_server):
    """One real stack (Rasa + action server + SMTP) shared by the conversation tests."""
    from tests.support.stack import Stack

    # Every conversation test speaks from the same loopback client, so that client's own
    # send limit is lifted here (tests/test_security_e2e.py checks it at its default).
    env = dict(smtp_server.env(), CODE_SENDS_PER_CLIENT_HOUR="100000", CODE_SENDS_PER_CLIENT_DAY="100000")
    running = Stack(tmp_path_factory.mktemp("assistant"), env_overrides=env).start()
    yield running
    running.stop()


def pytest_configure(config):
    from tests.support import components

    components.asked_to_skip()  # an unknown name in IMAGO_SKIP stops the run before any test


def pytest_terminal_summary(terminalreporter):
    """Says, at the end, which real components were skipped on purpose (IMAGO_SKIP)."""
    from tests.support import components

    if components.SKIPPED:
        terminalreporter.section("skipped on purpose (IMAGO_SKIP)")
        for component, count in sorted({c: sum(1 for x, _ in components.SKIPPED if x == c)
                                         for c, _ in components.SKIPPED}.items()):
            terminalreporter.write_line(f"{component}: {count} test(s) not run ({components.KNOWN[component]})")
