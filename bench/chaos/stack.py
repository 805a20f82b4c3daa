"""The production-shaped stack of the chaos run: PostgreSQL, Redis, Request Tracker, an
SMTP server, two action servers behind the balancer and two Rasa replicas, started and
stopped on loopback; and the verification codes the SMTP server received."""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .common import CODE, CODE_SUBJECT, log  # first: puts the repository on sys.path for tests.support
from .processes import Balancer, Postgres, Redis, RequestTracker, Restartable, Server

from tests.support.net import free_port
from tests.support.smtp_server import TestSmtpServer
from tests.support.stack import ACTION_SERVER_TOKEN, VENV_BIN, trained_model


@dataclass
class Stack:
    workdir: Path
    postgres: Postgres = None
    redis: Redis = None
    rt: RequestTracker = None
    smtp: TestSmtpServer = None
    actions: List[Server] = field(default_factory=list)
    rasa: List[Server] = field(default_factory=list)
    balancer: Balancer = None
    project_db: str = ""

    def processes(self) -> Dict[str, List[Restartable]]:
        return {"rasa": self.rasa, "actions": self.actions, "postgres": [self.postgres], "redis": [self.redis],
                "rt": [self.rt]}

    def start(self) -> "Stack":
        log("starting PostgreSQL, Redis, Request Tracker, SMTP ...")
        self.postgres = Postgres()
        self.postgres.server.stop = lambda: None  # stopped by us (keeps the data dir until the end)
        self.postgres.kill()
        self.postgres.start()
        self.postgres.wait_ready(60)
        self.redis = Redis()
        self.rt = RequestTracker(self.workdir / "rt")
        self.smtp = TestSmtpServer(self.workdir / "smtp")
        (self.workdir / "smtp").mkdir(parents=True, exist_ok=True)
        self.smtp.start()
        pg = self.postgres.server
        self.project_db = pg.create_database("imago")
        pg.create_database("tracker")
        tracker_url = f"postgresql+psycopg2://{pg.user}@127.0.0.1:{pg.port}/tracker"
        env = dict(os.environ)
        env.update(self.smtp.env())
        env.update({
            "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "IMAGO_DOTENV": "off",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONWARNINGS": "ignore",
            "DATABASE_URL": self.project_db, "TRACKER_STORE_URL": tracker_url,
            "OTP_SECRET": "chaos-secret-0123456789abcdef0123456789", "ACTION_SERVER_TOKEN": ACTION_SERVER_TOKEN,
            "POLICY_URL": "http://localhost:8080/policy", "TRUSTED_PROXIES": "127.0.0.1",
            # Widget sessions are signed with a key of their own; RT here is http on loopback.
            "WIDGET_SESSION_SECRET": "chaos-widget-session-secret-0123456789abcdef",
            "TICKET_ALLOW_HTTP_LOOPBACK": "true",
            "TICKET_BACKEND": "rt", "RT_URL": self.rt.server.url, "RT_TOKEN": self.rt.server.token,
            "RT_QUEUE": "General", "TICKET_TIMEOUT": "10",
            # A replica killed while it holds a conversation's lock: the lock expires after this,
            # so the visitor's re-sent message waits at most this long on the other replica.
            "TICKET_LOCK_LIFETIME": "20",
            "CODE_SENDS_PER_CLIENT_HOUR": "100000", "CODE_SENDS_PER_CLIENT_DAY": "100000",
        })
        self.balancer_ports = [free_port(), free_port()]
        self.balancer = Balancer(self.balancer_ports)
        endpoints = self.workdir / "endpoints.yml"
        endpoints.write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{self.balancer.port}/webhook\n  token: {ACTION_SERVER_TOKEN}\n"
            "tracker_store:\n  type: extensions.tracker_store.RedactingSQLTrackerStore\n  dialect: postgresql\n"
            f"  url: 127.0.0.1\n  port: {pg.port}\n  db: tracker\n  username: {pg.user}\n"
            "lock_store:\n  type: extensions.lock_store.ResilientRedisLockStore\n"
            f"  url: 127.0.0.1\n  port: {self.redis.server.port}\n  db: 1\n  key_prefix: imago\n")
        credentials = self.workdir / "credentials.yml"
        credentials.write_text(
            "extensions.channels.rest.HardenedRestInput:\n"
            "extensions.channels.socketio.PersistentSocketIOInput:\n"
            "  user_message_evt: user_uttered\n  bot_message_evt: bot_uttered\n  session_persistence: true\n"
            f"  redis_url: redis://127.0.0.1:{self.redis.server.port}/2\n")
        for i, port in enumerate(self.balancer_ports):
            self.actions.append(Server(
                f"actions-{'ab'[i]}", "actions", [sys.executable, "-m", "actions.server", "--port", str(port)],
                port, f"http://127.0.0.1:{port}/health", env, self.workdir / f"actions-{'ab'[i]}.log"))
        model = trained_model()
        for i in range(2):
            port = free_port()
            self.rasa.append(Server(
                f"rasa-{'ab'[i]}", "rasa",
                [str(VENV_BIN / "rasa"), "run", "--model", model, "--port", str(port), "--credentials",
                 str(credentials), "--endpoints", str(endpoints), "--cors", "*"],
                port, f"http://127.0.0.1:{port}/", env, self.workdir / f"rasa-{'ab'[i]}.log"))
        log("starting two action servers and two Rasa replicas ...")
        for server in self.actions + self.rasa:
            server.start()
        for server in self.actions:
            server.wait_ready(120)
        for server in self.rasa:
            server.wait_ready(400)
        log("stack up")
        return self

    def stop(self) -> None:
        for server in self.rasa + self.actions:
            server.stop()
        if self.balancer:
            self.balancer.close()
        for part in (self.rt, self.redis):
            if part:
                part.stop()
        if self.postgres:
            self.postgres.kill()
            shutil.rmtree(self.postgres.server.folder, ignore_errors=True)
        if self.smtp:
            self.smtp.stop()

    def live_rasa(self) -> List[Server]:
        return [server for server in self.rasa if getattr(server, "up", True)]

    def code_for(self, address: str, after: int, timeout: float = 60) -> Optional[str]:
        """The newest code mailed to `address` among mails after index `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.smtp.lock:
                mails = [m for m in self.smtp.messages[after:]
                         if address in m.recipients and m.message["Subject"] == CODE_SUBJECT]
            if mails:
                found = CODE.search(mails[-1].message.get_content())
                if found:
                    return found.group(1)
            time.sleep(0.2)
        return None

