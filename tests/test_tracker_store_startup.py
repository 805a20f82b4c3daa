"""No silent in-memory fallback: the tracker store creates its SQLite folder, and the
Rasa server stops with a clear error when the store's database can't be reached."""
from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.store_checks import TrackerStoreUnavailable
from extensions.tracker_store import RedactingSQLTrackerStore
from tests.support.net import free_port
from tests.support.stack import ROOT, VENV_BIN, trained_model


async def test_sqlite_folder_is_created_and_conversations_persist(tmp_path):
    path = tmp_path / "var" / "nested" / "tracker.db"
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    await store.save(DialogueStateTracker.from_events("c1", [UserUttered("hello")]))
    store.engine.dispose()
    with sqlite3.connect(path) as db:
        assert db.execute("select count(*) from events where sender_id = 'c1'").fetchone()[0] == 1


def test_unreachable_database_raises_a_clear_error():
    with pytest.raises(TrackerStoreUnavailable, match="cannot be reached .*Refusing to start") as raised:
        RedactingSQLTrackerStore(Domain.empty(), dialect="postgresql", host="127.0.0.1", port=free_port(),
                                 db="imago", username="rasa", password="s3cret-pw", connect_wait_seconds=0)
    assert "s3cret-pw" not in str(raised.value)


@pytest.mark.e2e
def test_rasa_server_stops_instead_of_running_on_memory(tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: extensions.tracker_store.RedactingSQLTrackerStore\n  dialect: postgresql\n"
        f"  url: 127.0.0.1\n  port: {free_port()}\n  db: imago\n  username: rasa\n  password: pw\n"
        "  connect_wait_seconds: 1\n")
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [str(VENV_BIN / "rasa"), "run", "--model", trained_model(), "--port", str(free_port()),
         "--endpoints", str(endpoints)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode != 0
    assert "the tracker store database" in result.stdout + result.stderr
    assert "Refusing to start" in result.stdout + result.stderr
