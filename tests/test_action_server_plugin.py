"""Issue 23, finding 9: the action server's token guard lives in the rasa-sdk plugin hook
(rasa_sdk_plugins), so Rasa's own `rasa run actions` enforces ACTION_SERVER_TOKEN as
`python -m actions.server` does. Started for real, on a loopback port."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest
import requests

from tests.support.net import free_port, wait_until
from tests.support.stack import ROOT, VENV_BIN

TOKEN = "plugin-test-action-server-token-0123456789"


def _env(tmp_path, **extra):
    env = {"PATH": "/usr/bin:/bin", "IMAGO_DOTENV": "off", "SANIC_HOST": "127.0.0.1",
           "RASA_TELEMETRY_ENABLED": "false", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'imago.db'}", "MAIL_OUTBOX": str(tmp_path / "outbox"),
           "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
           "OTP_SECRET": "plugin-test-secret-0123456789abcdef", "HOME": str(tmp_path)}
    env.update(extra)
    return env


def _rasa_run_actions(port: int):
    return [str(VENV_BIN / "rasa"), "run", "actions", "--port", str(port), "--actions", "actions"]


@pytest.mark.parametrize("token", ["", "too-short-0123456789"])
def test_rasa_run_actions_refuses_to_start_without_a_long_token(tmp_path, token):
    result = subprocess.run(_rasa_run_actions(free_port()), cwd=ROOT, env=_env(tmp_path, ACTION_SERVER_TOKEN=token),
                            capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "refusing to start" in output and "ACTION_SERVER_TOKEN" in output and "32" in output, output[-3000:]


def test_rasa_run_actions_needs_the_token_on_every_call(tmp_path):
    port = free_port()
    log = open(tmp_path / "actions.log", "wb")
    process = subprocess.Popen(_rasa_run_actions(port), cwd=ROOT, env=_env(tmp_path, ACTION_SERVER_TOKEN=TOKEN),
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is None and requests.get(f"{base}/health", timeout=2).ok,
                   timeout=180, what="rasa run actions")
        forged = {"next_action": "action_show_status", "sender_id": "web:victim", "version": "3.6.21",
                  "tracker": {"sender_id": "web:victim", "slots": {}, "events": [], "latest_message": {}},
                  "domain": {}}
        assert requests.post(f"{base}/webhook", json=forged, timeout=10).status_code == 401
        assert requests.post(f"{base}/webhook?token=wrong", json=forged, timeout=10).status_code == 401
        assert requests.get(f"{base}/actions", timeout=10).status_code == 401
        listed = requests.get(f"{base}/actions?token={TOKEN}", timeout=10)
        assert listed.ok and {"name": "action_show_status"} in listed.json()
        # rasa-sdk's own error handler echoes the request body; the guard's does not.
        broken = {"next_action": "action_show_status", "sender_id": "c", "version": "3.6.21", "domain": {},
                  "tracker": [{"event": "user", "text": "my code 482913"}]}
        failed = requests.post(f"{base}/webhook?token={TOKEN}", json=broken, timeout=30)
        assert failed.status_code == 500 and "482913" not in failed.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and any worker it started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    assert "482913" not in (tmp_path / "actions.log").read_text(errors="replace")
