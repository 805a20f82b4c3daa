"""Chaos run (issue 21): nothing lost whatever fails.

    python -m bench.chaos [--requests 1000] [--visitors 8] [--kills-each 5] [--json out.json]
    make chaos

Starts the production-shaped stack on loopback: PostgreSQL (the records and the
tracker store), Redis (socket.io between replicas and the lock store), Request
Tracker 5 (the ticket backend), two action servers behind a small TCP balancer (as a
Kubernetes Service would be), and two Rasa replicas; a local SMTP server (STARTTLS,
AUTH) receives the mails. Then `--visitors` visitors, half over REST and half over
socket.io as the widget speaks, file `--requests` verified requests (ask for a copy,
give an address, read the code from the SMTP server, type it, say yes), while a chaos
loop SIGKILLs one process at a time at random (a Rasa replica, an action server,
PostgreSQL, Redis, RT; each kind in turn, shuffled every round) and restarts it.

Visitors behave as real clients: a message that gets no answer (connection refused
or dropped, a 503, no reply) is sent again, with the same client message id, once a
server answers again; a REST visitor goes to the other replica when its own is down
(what a load balancer does), a socket.io visitor reconnects to a live replica and
asks for its session again, as the widget does.

At the end (all processes up, deliveries given time to finish) it prints ONE line:
visitors; references told; kills per process; requests with exactly one ticket;
duplicates; references told but missing; conversations that lost their place (asked
again for an address already verified, or for a code already accepted); the longest
wait for an answer after each kind of kill. `--json` writes the same figures.

Every loop is bounded in count and time; every server listens on 127.0.0.1 only.
Nothing personal is printed: addresses are made up, codes never leave this process.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.support.net import free_port, wait_until  # noqa: E402
from tests.support.rt_server import RTServer, rt_installed  # noqa: E402
from tests.support.services import PostgresServer, RedisServer  # noqa: E402
from tests.support.smtp_server import TestSmtpServer  # noqa: E402
from tests.support.stack import ACTION_SERVER_TOKEN, VENV_BIN, trained_model  # noqa: E402

KINDS = ("rasa", "actions", "postgres", "redis", "rt")
REFERENCE = re.compile(r"PRV-[0-9A-Z]{6}")
CODE = re.compile(r"\b(\d{6})\b")
CODE_SUBJECT = "Your IMAGO privacy verification code"
ASKS_EMAIL = "What is your email address"
ASKS_CODE = ("Please type it here", "please type the 6-digit code", "The code is 6 digits",
             "no valid code", "That code isn't right")
STEP_DEADLINE = 240.0  # a visitor gives up a message after this long (counted, never expected)
LONG_WAIT = 60.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _killpg(process: Optional[subprocess.Popen]) -> None:
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass


def _children(parent: int) -> List[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ------------------------------------------------------------------ the processes

class Restartable:
    name = "?"
    kind = "?"

    def start(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def wait_ready(self, timeout: float) -> None:
        wait_until(self.ready, timeout=timeout, interval=0.3, what=self.name)


class Postgres(Restartable):
    name = kind = "postgres"

    def __init__(self):
        self.server = PostgresServer().start()

    def start(self) -> None:
        server = self.server
        server.process = subprocess.Popen(
            server._as_user([server.postgres, "-D", str(server.folder / "data"), "-p", str(server.port),
                             "-k", str(server.folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                             "-c", "max_connections=200"]),
            stdout=subprocess.DEVNULL, stderr=open(server.folder / "postgres.log", "ab"), start_new_session=True)

    def kill(self) -> None:
        # As root the postmaster runs under runuser in a session of its own, so the
        # process group of our child does not hold it: kill the postmaster (its pid file)
        # and its backends, all at once, as a machine that loses power would.
        pid_file = self.server.folder / "data" / "postmaster.pid"
        try:
            postmaster = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = None
        victims = [postmaster] + _children(postmaster) if postmaster else []
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # runuser reaps the postmaster and exits; killed first, it would leave a zombie that
        # this container's init never reaps, whose pid in postmaster.pid stops the restart.
        try:
            self.server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        _killpg(self.server.process)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in victims):
            time.sleep(0.1)
        if postmaster and not _alive(postmaster):
            pid_file.unlink(missing_ok=True)  # dead (or a zombie): the lock file is stale

    def ready(self) -> bool:
        return self.server._ready()

    def stop(self) -> None:
        self.server.stop()


class Redis(Restartable):
    name = kind = "redis"

    def __init__(self):
        self.server = RedisServer().start()

    def start(self) -> None:
        self.server.process = subprocess.Popen(
            [self.server.binary, "--port", str(self.server.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        _killpg(self.server.process)

    def ready(self) -> bool:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=self.server.port, socket_timeout=2).ping())

    def stop(self) -> None:
        self.server.stop()


class RequestTracker(Restartable):
    name = kind = "rt"

    def __init__(self, workdir: Path):
        self.server = RTServer(workdir).start()

    def start(self) -> None:
        self.server.start(keep_database=True)  # waits until REST 2.0 answers

    def kill(self) -> None:
        _killpg(self.server.process)
        self.server.process = None

    def ready(self) -> bool:
        return self.server.is_running()

    def stop(self) -> None:
        self.server.stop()


class Server(Restartable):
    """An action server or a Rasa replica: a command, a port, a health URL."""

    def __init__(self, name: str, kind: str, command: List[str], port: int, health: str, env: Dict[str, str],
                 log_path: Path):
        self.name, self.kind, self.command, self.port = name, kind, command, port
        self.health, self.env, self.log_path = health, env, log_path
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=open(self.log_path, "ab"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        _killpg(self.process)

    def ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited; its log: {self.log_path}")
        return requests.get(self.health, timeout=3).ok

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _killpg(self.process)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Balancer:
    """A TCP balancer in front of the action servers (what a Kubernetes Service is to
    them): each connection goes to the next backend that accepts it."""

    def __init__(self, backends: List[int]):
        self.backends, self.port = backends, free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.turn = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name="balancer").start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        for i in range(len(self.backends)):
            port = self.backends[(self.turn + i) % len(self.backends)]
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
                upstream.settimeout(None)
                break
            except OSError:
                continue
        self.turn += 1
        if upstream is None:
            client.close()
            return

        def pipe(source: socket.socket, sink: socket.socket) -> None:
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)
        client.close()
        upstream.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


# ------------------------------------------------------------------ the stack

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


# ------------------------------------------------------------------ the chaos loop

@dataclass
class Kill:
    kind: str
    name: str
    at: float
    back_at: Optional[float] = None


class Chaos:
    """Kill k of K falls due when k/(K+1) of the conversations have started (and the
    last victim is back, and `pause` has passed): spread over the run whatever its speed."""

    def __init__(self, stack: Stack, kills_each: int, pause: float, stop: threading.Event,
                 progress: Callable[[], int], total: int):
        self.stack, self.kills_each, self.pause, self.stop = stack, kills_each, pause, stop
        self.progress, self.total = progress, total
        self.kills: List[Kill] = []
        self.errors: List[str] = []

    def run(self) -> None:
        plan = []
        for _ in range(self.kills_each):
            kinds = list(KINDS)
            random.shuffle(kinds)
            plan += kinds
        for number, kind in enumerate(plan, start=1):
            if self.stop.wait(self.pause):
                return
            due = self.total * number / (len(plan) + 1)
            while self.progress() < due:
                if self.stop.wait(0.5):
                    return
            victim = random.choice(self.stack.processes()[kind])
            kill = Kill(kind, victim.name, time.monotonic())
            victim.up = False
            log(f"chaos: SIGKILL {victim.name}")
            victim.kill()
            self.kills.append(kill)
            time.sleep(random.uniform(1.0, 3.0))  # down for a moment, as a crash-looping pod is
            try:
                victim.start()
                victim.wait_ready(400)
            except Exception as exc:  # noqa: BLE001 - reported; the run goes on with what is left
                self.errors.append(f"{victim.name} did not come back: {exc}")
                log(f"chaos: {victim.name} did not come back: {exc}")
                continue
            victim.up = True
            kill.back_at = time.monotonic()
            log(f"chaos: {victim.name} back after {kill.back_at - kill.at:.1f} s")


# ------------------------------------------------------------------ visitors

@dataclass
class Wait:
    started: float
    answered: float
    channel: str = ""
    sends: int = 1


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: int = 0
    told: Dict[str, str] = field(default_factory=dict)  # reference -> conversation
    lost_places: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    gave_up: int = 0
    waits: List[Wait] = field(default_factory=list)
    resent: int = 0

    def take(self, limit: int) -> bool:
        with self.lock:
            if self.started >= limit:
                return False
            self.started += 1
            return True


class Unanswered(Exception):
    pass


STEPS = [  # (what the visitor says, what the answer must contain)
    ("I want a copy of all my data", "email address"),
    (None, "6-digit code"),  # the address
    (None, "Shall I file it?"),  # the code
    ("yes", "PRV-"),
]


class Visitor:
    def __init__(self, index: int, stack: Stack, tally: Tally, limit: int):
        self.index, self.stack, self.tally, self.limit = index, stack, tally, limit
        self.client = f"10.{index}.{random.randrange(256)}.{random.randrange(1, 255)}"
        self.home = index % 2

    def replica(self) -> Server:
        live = self.stack.live_rasa() or self.stack.rasa
        preferred = self.stack.rasa[self.home]
        return preferred if preferred in live else live[0]

    def run(self) -> None:
        while self.tally.take(self.limit):
            try:
                self.conversation()
            except Unanswered as exc:
                with self.tally.lock:
                    self.tally.gave_up += 1
                log(f"visitor {self.index}: gave up a conversation: {exc}")
            except Exception as exc:  # noqa: BLE001 - counted, never expected
                with self.tally.lock:
                    self.tally.unexpected.append(f"{type(exc).__name__}: {exc}"[:200])
                log(f"visitor {self.index}: {type(exc).__name__}: {exc}")

    def conversation(self) -> None:
        self.begin()
        address = f"chaos.{uuid.uuid4().hex[:12]}@example.org"
        verified_email = accepted_code = False
        try:
            for step, (text, expect) in enumerate(STEPS):
                if step == 1:
                    text = address
                    mails_before = len(self.stack.smtp.messages)
                if step == 2:
                    text = self.stack.code_for(address, mails_before)
                    if text is None:
                        raise Unanswered("no code mailed")
                said = self.say(text)
                if (verified_email and ASKS_EMAIL in said) or (accepted_code and any(a in said for a in ASKS_CODE)):
                    with self.tally.lock:
                        self.tally.lost_places.append(f"step {step}: {said[:120]!r}")
                    log(f"visitor {self.index} ({self.conversation_id}): lost its place at step {step}: {said[:160]!r}")
                    return
                if expect not in said:
                    with self.tally.lock:
                        self.tally.unexpected.append(f"step {step}: {said[:160]!r}")
                    log(f"visitor {self.index} ({self.conversation_id}): unexpected at step {step}: {said[:160]!r}")
                    return
                if step == 1:
                    verified_email = True  # the address was taken: asking for it again loses the place
                if step == 2:
                    accepted_code = True
                if step == 3:
                    found = REFERENCE.findall(said)
                    with self.tally.lock:
                        for reference in found:
                            self.tally.told[reference] = self.conversation_id
        finally:
            self.end()

    def answered(self, started: float, sends: int = 1) -> None:
        with self.tally.lock:
            self.tally.waits.append(Wait(started, time.monotonic(), type(self).__name__, sends))

    # overridden per channel
    def begin(self) -> None: ...
    def end(self) -> None: ...
    def say(self, text: str) -> str: ...


class RestVisitor(Visitor):
    def begin(self) -> None:
        self.sender = f"chaos-{self.index}-{uuid.uuid4().hex[:10]}"
        self.conversation_id = "rest:" + self.sender

    def say(self, text: str) -> str:
        message_id, started = uuid.uuid4().hex, time.monotonic()
        attempt = 0
        while time.monotonic() - started < STEP_DEADLINE:
            attempt += 1
            replica = self.replica()
            try:
                answer = requests.post(f"{replica.url}/webhooks/rest/webhook", timeout=90,
                                       headers={"X-Forwarded-For": self.client},
                                       json={"sender": self.sender, "message": text, "message_id": message_id})
                if answer.status_code == 200 and answer.json():
                    self.answered(started, attempt)
                    if attempt > 1:
                        with self.tally.lock:
                            self.tally.resent += 1
                    return "\n".join(m.get("text") or "" for m in answer.json())
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1.0)  # then the same message again, with the same id
        raise Unanswered(f"REST message unanswered for {STEP_DEADLINE:.0f} s")


class SocketVisitor(Visitor):
    """Speaks as the widget does: signed session from the server, each message with an
    id, replies matched by `in_reply_to`, re-sent after reconnecting."""

    def begin(self) -> None:
        self.session_id: Optional[str] = None
        self.replies: Dict[str, List[str]] = defaultdict(list)
        self.not_taken: set = set()
        self.done: set = set()
        self.confirmed = threading.Event()
        self.sio = None
        self.connect()
        self.conversation_id = "web:" + self.session_id.split(".", 1)[0]

    def connect(self) -> None:
        import socketio

        deadline = time.monotonic() + STEP_DEADLINE
        while time.monotonic() < deadline:
            self.close()
            sio = socketio.Client(reconnection=False)
            sio.on("session_confirm", self._on_confirm)
            sio.on("bot_uttered", self._on_bot)
            sio.on("message_not_taken", lambda data: self.not_taken.add((data or {}).get("message_id")))
            sio.on("reply_done", lambda data: self.done.add((data or {}).get("message_id")))
            self.confirmed.clear()
            try:
                sio.connect(self.replica().url, transports=["polling"], socketio_path="/socket.io", wait_timeout=10)
                self.sio = sio
                sio.emit("session_request", {"session_id": self.session_id})
                if self.confirmed.wait(15):
                    return
            except Exception:  # noqa: BLE001 - the replica is down: try again, maybe the other one
                pass
            time.sleep(1.0)
        raise Unanswered("could not connect")

    def _on_confirm(self, session_id) -> None:
        self.session_id = session_id
        self.confirmed.set()

    def _on_bot(self, data) -> None:
        if isinstance(data, dict) and data.get("in_reply_to"):
            self.replies[data["in_reply_to"]].append(str(data.get("text") or ""))

    def say(self, text: str) -> str:
        message_id, started = uuid.uuid4().hex, time.monotonic()
        sent_at, attempts = 0.0, 0
        while time.monotonic() - started < STEP_DEADLINE:
            if self.sio is None or not self.sio.connected:
                self.connect()  # the widget reconnects, asks for its session again ...
                sent_at = 0.0  # ... and sends what was not answered
            if message_id in self.not_taken or time.monotonic() - sent_at > 30:
                self.not_taken.discard(message_id)
                try:
                    self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id,
                                                   "message_id": message_id})
                    attempts += 1
                    sent_at = time.monotonic()
                except Exception:  # noqa: BLE001 - disconnected meanwhile
                    self.sio = None
                    continue
            if message_id in self.done:  # every bubble of the turn is in
                self.answered(started, attempts)
                if attempts > 1:
                    with self.tally.lock:
                        self.tally.resent += 1
                return "\n".join(self.replies.pop(message_id))
            time.sleep(0.1)
        raise Unanswered(f"socket.io message unanswered for {STEP_DEADLINE:.0f} s")

    def close(self) -> None:
        if self.sio is not None:
            try:
                self.sio.disconnect()
            except Exception:  # noqa: BLE001
                pass
            self.sio = None

    def end(self) -> None:
        self.close()


# ------------------------------------------------------------------ the verdict

def rt_tickets(rt: RTServer) -> Counter:
    """Tickets per reference in RT (by the `[PRV-…]` tag in the subject)."""
    per_reference: Counter = Counter()
    page = 1
    while page < 1000:
        answer = rt.api("GET", "tickets", params={"query": "Queue = 'General'", "fields": "Subject",
                                                  "per_page": "100", "page": str(page)}, timeout=60)
        answer.raise_for_status()
        body = answer.json()
        for item in body.get("items", []):
            for reference in REFERENCE.findall(str(item.get("Subject", ""))):
                per_reference[reference] += 1
        if page >= int(body.get("pages") or 1):
            break
        page += 1
    return per_reference


def wait_for_deliveries(stack: Stack, timeout: float) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.project_db)
    deadline = time.monotonic() + timeout
    pending = -1
    try:
        while time.monotonic() < deadline:
            try:
                with engine.connect() as connection:
                    pending = connection.execute(text(
                        # The enum is stored by value ('pending'); upper() so a change of that cannot
                        # make this count 0 and the verdict come before the deliveries (it did once).
                        "select count(*) from privacy_requests where upper(delivery_state) = 'PENDING' "
                        "or (confirmation_due_at is not null and confirmation_sent_at is null)")).scalar_one()
            except Exception:  # noqa: BLE001 - PostgreSQL still recovering
                pending = -1
            if pending == 0:
                return 0
            time.sleep(2)
    finally:
        engine.dispose()
    return pending


def verdict(stack: Stack, tally: Tally, chaos: Chaos, visitors: int, rest: int, seconds: float) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.project_db)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "select reference, conversation_id, delivery_state, confirmation_sent_at is not null, external_id, "
            "delivery_attempts from privacy_requests")).all()
    engine.dispose()
    tickets = rt_tickets(stack.rt.server)
    first_start = min([w.started for w in tally.waits] or [0])
    recorded = {row[0] for row in rows}
    confirmed = {row[0] for row in rows if row[3]}
    with stack.smtp.lock:
        mailed = Counter(ref for m in stack.smtp.messages if m.message["Subject"] != CODE_SUBJECT
                         for ref in set(REFERENCE.findall(str(m.message["Subject"]))))
    told = set(tally.told)
    exactly_one = sum(1 for ref in recorded if tickets.get(ref) == 1)
    duplicates = sum(n - 1 for ref, n in tickets.items() if n > 1) + len(set(tickets) - recorded)
    missing = sorted(ref for ref in told if ref not in recorded or tickets.get(ref, 0) == 0)
    kills = Counter(kill.kind for kill in chaos.kills)
    recover: Dict[str, float] = {}
    for kind in KINDS:
        longest = 0.0
        for kill in (k for k in chaos.kills if k.kind == kind):
            back = kill.back_at or kill.at
            # Every message waiting at the kill or sent while it was down: how long it waited
            # for its answer from the kill (or from when it was sent) on.
            for wait in tally.waits:
                if wait.started <= back and wait.answered >= kill.at:
                    longest = max(longest, wait.answered - max(wait.started, kill.at))
        recover[kind] = round(longest, 1)
    restart = {kind: round(max([(k.back_at or k.at) - k.at for k in chaos.kills if k.kind == kind] or [0]), 1)
               for kind in KINDS}
    return {
        "visitors": visitors, "rest_visitors": rest, "socketio_visitors": visitors - rest,
        "conversations": tally.started, "references_told": len(told), "requests_recorded": len(recorded),
        "kills": {kind: kills.get(kind, 0) for kind in KINDS},
        "exactly_one_ticket": exactly_one, "duplicates": duplicates, "told_but_missing": len(missing),
        "missing_references": missing[:20], "lost_places": len(tally.lost_places),
        # What our records say of them: (reference, delivery state, RT ticket id, attempts).
        "missing_detail": [list(map(str, row[:1] + row[2:3] + row[4:6])) for row in rows if row[0] in missing][:20],
        "lost_place_examples": tally.lost_places[:5], "unexpected": len(tally.unexpected),
        "unexpected_examples": tally.unexpected[:5], "gave_up": tally.gave_up, "resent": tally.resent,
        "confirmation_mailed": len(confirmed & told), "confirmation_mails_missing": len(told - set(mailed)),
        "max_wait_after_kill_s": recover, "restart_s": restart,
        "waits_over_60s": sum(1 for w in tally.waits if w.answered - w.started > LONG_WAIT),
        "max_wait_s": round(max([w.answered - w.started for w in tally.waits] or [0]), 1),
        "longest_waits": [{"channel": w.channel, "seconds": round(w.answered - w.started, 1), "sends": w.sends,
                           "at_s": round(w.started - first_start, 1)}
                          for w in sorted(tally.waits, key=lambda w: w.started - w.answered)[:8]],
        "kills_at_s": [{"name": k.name, "at_s": round(k.at - first_start, 1),
                        "back_after_s": round((k.back_at or k.at) - k.at, 1)} for k in chaos.kills],
        "chaos_errors": chaos.errors, "seconds": round(seconds),
    }


def one_line(result: dict) -> str:
    kills = ",".join(f"{k}:{n}" for k, n in result["kills"].items())
    recover = ",".join(f"{k}:{s}" for k, s in result["max_wait_after_kill_s"].items())
    return (f"chaos: visitors={result['visitors']} ({result['rest_visitors']} REST, "
            f"{result['socketio_visitors']} socket.io) references_told={result['references_told']} "
            f"kills={kills} exactly_one_ticket={result['exactly_one_ticket']}/{result['requests_recorded']} "
            f"duplicates={result['duplicates']} told_but_missing={result['told_but_missing']} "
            f"lost_places={result['lost_places']} recover_s={recover} "
            f"(unexpected={result['unexpected']} gave_up={result['gave_up']} resent={result['resent']} "
            f"mails_missing={result['confirmation_mails_missing']} waits_over_60s={result['waits_over_60s']} "
            f"in {result['seconds']} s)")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--visitors", type=int, default=8)
    parser.add_argument("--kills-each", type=int, default=5)
    parser.add_argument("--pause", type=float, default=3.0,
                        help="at least this many seconds between a process being back and the next kill")
    parser.add_argument("--deliver-timeout", type=float, default=1200,
                        help="seconds to wait after the visitors for every ticket and mail to be out")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    if not rt_installed():
        print("Request Tracker 5 is not installed: run scripts/install-system-deps.sh as root", file=sys.stderr)
        return 2
    import logging

    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns at every AUTH login
    workdir = Path(tempfile.mkdtemp(prefix="imago-chaos-"))
    log(f"work directory {workdir}")
    stack = Stack(workdir)
    stop = threading.Event()
    try:
        stack.start()
        tally = Tally()
        rest = (args.visitors + 1) // 2
        visitors = [RestVisitor(i, stack, tally, args.requests) if i < rest else SocketVisitor(i, stack, tally,
                                                                                               args.requests)
                    for i in range(args.visitors)]
        chaos = Chaos(stack, args.kills_each, args.pause, stop, lambda: tally.started, args.requests)
        started = time.monotonic()
        threads = [threading.Thread(target=v.run, name=f"visitor-{v.index}", daemon=True) for v in visitors]
        chaos_thread = threading.Thread(target=chaos.run, name="chaos", daemon=True)
        for thread in threads:
            thread.start()
        chaos_thread.start()
        last_report = time.monotonic()
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                log(f"progress: {tally.started} conversations, {len(tally.told)} references told, "
                    f"{len(chaos.kills)} kills, {len(tally.lost_places)} lost places, {len(tally.unexpected)} unexpected")
        stop.set()
        chaos_thread.join(timeout=600)
        seconds = time.monotonic() - started
        log("visitors done; every process up; waiting for deliveries and mails ...")
        for part in [stack.postgres, stack.redis, stack.rt, *stack.actions, *stack.rasa]:
            try:
                up = part.ready()
            except Exception:  # noqa: BLE001 - down (a restart the chaos loop could not finish)
                up = False
            if not up:
                log(f"{part.name} is down at the end; starting it")
                part.kill()
                part.start()
                part.wait_ready(400)
        drain_started = time.monotonic()
        pending = wait_for_deliveries(stack, args.deliver_timeout)
        drained_in = time.monotonic() - drain_started
        if pending:
            log(f"{pending} requests still pending delivery or mail after {args.deliver_timeout:.0f} s")
        result = verdict(stack, tally, chaos, args.visitors, rest, seconds)
        result["pending_at_end"] = pending
        result["deliveries_drained_s"] = round(drained_in)
        line = one_line(result)
        print(line, flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0
    finally:
        stop.set()
        stack.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
