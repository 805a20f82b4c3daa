"""Starts the real assistant for end-to-end tests: the rasa-sdk action server and
the Rasa server with the trained model, on free loopback ports, with their own
databases and the test SMTP server. Nothing is mocked."""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import requests

from tests.support.net import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Shared by the Rasa server (endpoints.yml) and the action server it calls.
ACTION_SERVER_TOKEN = "e2e-action-server-token-0123456789abcdef"
VENV_BIN = Path(sys.executable).parent


def trained_model() -> str:
    """The model the test command trained (IMAGO_TEST_MODEL), else the newest one."""
    model = os.environ.get("IMAGO_TEST_MODEL")
    if model and Path(model).exists():
        return model
    models = sorted(glob.glob(str(ROOT / "models" / "imago-*.tar.gz")), key=os.path.getmtime)
    if not models:
        raise RuntimeError("no trained model: run `make test` (or `make train`) first")
    return models[-1]


@dataclass
class Stack:
    workdir: Path
    env_overrides: Dict[str, str] = field(default_factory=dict)
    rasa_port: int = 0
    actions_port: int = 0
    processes: List[subprocess.Popen] = field(default_factory=list)
    credentials: Optional[Path] = None
    # Overrides for the scale-out tests: YAML blocks for endpoints.yml, and the URL of
    # an action server started by another Stack (then none is started here).
    tracker_store_yaml: Optional[str] = None
    lock_store_yaml: Optional[str] = None
    actions_url: Optional[str] = None
    # Another checkout of the project to run (the benchmark's baseline side).
    root: Path = ROOT

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update({
            "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "IMAGO_DOTENV": "off",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONWARNINGS": "ignore",
            "DATABASE_URL": f"sqlite:///{self.workdir / 'imago.db'}",
            "MAIL_OUTBOX": str(self.workdir / "outbox"),
            # Where the action server's retention purge and erasure find conversations.
            "TRACKER_STORE_URL": f"sqlite:///{self.workdir / 'tracker.db'}",
            "OTP_SECRET": "e2e-test-secret-0123456789abcdef",
            # The Rasa server signs widget sessions with a key of its own (extensions/channels/widget_session.py).
            "WIDGET_SESSION_SECRET": "e2e-widget-session-secret-0123456789abcdef",
            "POLICY_URL": "http://localhost:8080/policy",
            "ACTION_SERVER_TOKEN": ACTION_SERVER_TOKEN,
            "TICKET_ALLOW_HTTP_LOOPBACK": "true",  # the test RT and fake Zendesk are http on loopback
        })
        if self.root != ROOT:
            env["PYTHONPATH"] = str(self.root)
        env.update(self.env_overrides)
        return env

    def start(self) -> "Stack":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rasa_port, self.actions_port = free_port(), free_port()
        actions_url = self.actions_url or f"http://127.0.0.1:{self.actions_port}/webhook"
        endpoints = self.workdir / "endpoints.yml"
        endpoints.write_text(
            f"action_endpoint:\n  url: {actions_url}\n  token: {ACTION_SERVER_TOKEN}\n"
            + (self.tracker_store_yaml or
               "tracker_store:\n  type: extensions.tracker_store.RedactingSQLTrackerStore\n"
               f"  dialect: sqlite\n  db: {self.workdir / 'tracker.db'}\n")
            + (self.lock_store_yaml or "")
            # Replies in the visitor's language, as endpoints.yml configures them.
            + "nlg:\n  type: extensions.nlg.LanguageNLG\n"
        )
        env = self.env()
        log_rasa = open(self.workdir / "rasa.log", "wb")
        if self.actions_url is None:
            log_actions = open(self.workdir / "actions.log", "wb")
            self.processes.append(subprocess.Popen(
                self._action_server_command(), cwd=self.root, env=env, stdout=log_actions,
                stderr=subprocess.STDOUT, start_new_session=True))
        self.processes.append(subprocess.Popen(
            [str(VENV_BIN / "rasa"), "run", "--model", trained_model(), "--port", str(self.rasa_port),
             "--credentials", str(self.credentials or self.root / "credentials.yml"), "--endpoints", str(endpoints),
             "--cors", "*"],
            cwd=self.root, env=env, stdout=log_rasa, stderr=subprocess.STDOUT, start_new_session=True))
        try:
            if self.actions_url is None:
                wait_until(lambda: requests.get(f"http://127.0.0.1:{self.actions_port}/health", timeout=2).ok,
                           timeout=90, what="the action server")
            wait_until(self._rasa_ready, timeout=180, what="the Rasa server")
        except TimeoutError:
            self.stop()
            raise RuntimeError("stack did not start:\n" + self.logs()[-4000:])
        return self

    def _action_server_command(self) -> List[str]:
        """The token-guarded entry point (actions/server.py); a baseline checkout from
        before it existed (the benchmark's) has only rasa-sdk's own."""
        if (self.root / "actions" / "server.py").exists():
            return [sys.executable, "-m", "actions.server", "--port", str(self.actions_port)]
        return [str(VENV_BIN / "rasa"), "run", "actions", "--port", str(self.actions_port), "--actions", "actions"]

    def _rasa_ready(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a server exited with {process.returncode}:\n{self.logs()[-4000:]}")
        # `rasa run` loads the model before it starts listening, so an answer means ready.
        return requests.get(f"http://127.0.0.1:{self.rasa_port}/", timeout=2).ok

    @property
    def rasa_process(self) -> subprocess.Popen:
        return self.processes[-1]

    @property
    def actions_webhook(self) -> str:
        return self.actions_url or f"http://127.0.0.1:{self.actions_port}/webhook"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def say(self, sender: str, message: str, client: Optional[str] = None) -> List[dict]:
        """`client`: the visitor's address as a load balancer forwards it (X-Forwarded-For;
        believed only with TRUSTED_PROXIES=127.0.0.1 in the stack's environment)."""
        token = self.env_overrides.get("REST_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if client:
            headers["X-Forwarded-For"] = client
        response = requests.post(f"{self.url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": message}, timeout=60, headers=headers)
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        parts = []
        for name in ("actions.log", "rasa.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace"))
        return "\n".join(parts)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()


def reply_text(replies: List[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)
