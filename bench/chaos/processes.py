"""The processes of the chaos run, each one that can be SIGKILLed and started again on
loopback: PostgreSQL, Redis, Request Tracker, an action server or a Rasa replica
(`Server`); and the TCP balancer in front of the action servers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from .common import ROOT  # first: puts the repository on sys.path for tests.support

import requests

from tests.support.net import free_port, wait_until
from tests.support.rt_server import RTServer
from tests.support.services import PostgresServer, RedisServer


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

