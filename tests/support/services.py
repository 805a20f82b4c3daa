"""Throwaway PostgreSQL and Redis servers (Debian's binaries) on loopback for tests."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import pytest

from tests.support import components
from tests.support.net import free_port, wait_until


def _pg_bin(name: str) -> Optional[str]:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def require(binary: Optional[str], component: str) -> None:
    """A missing server fails its tests (see tests/support/components.py)."""
    components.require(component, bool(binary and os.path.exists(binary)),
                       f"{components.KNOWN[component]} is not installed")


class PostgresServer:
    """initdb + postgres in a temporary folder, as the `postgres` user when run as root
    (PostgreSQL refuses to run as root)."""

    def __init__(self):
        self.initdb, self.postgres = _pg_bin("initdb"), _pg_bin("postgres")
        require(self.initdb, "postgres")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="imago-pg-"))
        self.process: Optional[subprocess.Popen] = None
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _as_user(self, args):
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        subprocess.run(self._as_user([self.initdb, "-D", str(data), "-U", self.user, "--auth=trust",
                                      "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        self.process = subprocess.Popen(
            self._as_user([self.postgres, "-D", str(data), "-p", str(self.port), "-k", str(self.folder),
                           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]),
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "postgres.log", "wb"), start_new_session=True)
        wait_until(self._ready, timeout=60, what="PostgreSQL")
        return self

    def _ready(self) -> bool:
        import psycopg2

        psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres").close()
        return True

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer:
    def __init__(self):
        self.binary = shutil.which("redis-server")
        require(self.binary, "redis")
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        import redis

        wait_until(lambda: redis.Redis(host="127.0.0.1", port=self.port).ping(), timeout=30, what="Redis")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()
