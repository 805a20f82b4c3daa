"""A real Request Tracker 5 (Debian's request-tracker5) for tests.

`RTServer.start()` gives RT a site config of its own in a temporary directory
(RT reads `RT_SITE_CONFIG` / `RT_SITE_CONFIG_DIR` instead of /etc/request-tracker5),
initialises a throwaway SQLite database with `rt-setup-database --action init`,
creates an auth token for root, starts `rt-server` (Plack/Starlet) on a free
loopback port and waits until REST 2.0 answers. Nothing outside the directory is
touched, so the system's own RT install, if configured, is left alone.

Fixture: `rt_server`, session scope: 5-7 s to start on an idle 2-core machine,
~4 s of it the database; later starts in the same process copy that database and
take 2-3 s. It skips when RT is not installed, except under CI=true, where a
missing RT is a failure: scripts/install-rt.sh installs it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional, Tuple

import pytest
import requests
from tests.support.net import free_port  # noqa: F401 - also re-exported for tests

RT_HOME = Path("/usr/share/request-tracker5")
RT_SERVER = RT_HOME / "libexec" / "rt-server"
RT_LIB = RT_HOME / "lib"
RT_SETUP_DATABASE_CANDIDATES = (Path("/usr/sbin/rt-setup-database-5"), Path("/usr/sbin/rt-setup-database"))

ROOT_USER = "root"
ROOT_PASSWORD = "password"  # what rt-setup-database gives root on a fresh database

SITE_CONFIG = """\
# Written by tests/support/rt_server.py for one test run.
Set($rtname, 'imago-test');
Set($Organization, 'imago.test');
Set($CorrespondAddress, 'rt@imago.test');
Set($CommentAddress, 'rt-comment@imago.test');
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{database}');
Set($DatabaseHost, '');
Set($DatabasePort, '');
Set($DatabaseUser, '');
Set($DatabasePassword, '');
Set($Timezone, 'UTC');
# Every REST call checks the password or token with bcrypt; RT's default cost (12)
# costs ~0.3 s a request. A throwaway test database needs no such strength.
Set($BcryptCost, 4);
# Autoreplies to requestors go to an mbox file in VarPath, not to a mail server.
Set($MailCommand, 'mbox');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($LogToSTDERR, 'warning');
# Paths RT::Generated points at /var; keep this instance's files in its directory.
$RT::VarPath = '{var}';
$RT::MasonDataDir = '{mason}';
$RT::MasonSessionDir = '{sessions}';
1;
"""

MAKE_TOKEN = """\
use strict;
use warnings;
use lib "{lib}";
use RT;
RT::LoadConfig();
RT::Init();
my $user = RT::User->new(RT->SystemUser);
$user->Load('root');
die "no root user\\n" unless $user->Id;
my $token = RT::AuthToken->new(RT::CurrentUser->new($user));
my ($id, $msg, $auth) = $token->Create(Owner => $user->Id, Description => 'imago tests');
die "token: $msg\\n" unless $id;
print "$auth\\n";
"""


# (database file, root's token) from the first start in this process.
_TEMPLATE: Optional[Tuple[bytes, str]] = None


def rt_installed() -> bool:
    return RT_SERVER.exists() and _rt_setup_database() is not None


def _rt_setup_database() -> Optional[Path]:
    for candidate in RT_SETUP_DATABASE_CANDIDATES:
        if candidate.exists():
            return candidate
    return None



def _perl_string(path: Path) -> str:
    text = str(path)
    if "'" in text or "\\" in text:
        raise ValueError(f"unsupported character in path {text!r}")
    return text


class RTStartError(RuntimeError):
    pass


class RTServer:
    """One rt-server process with its own config and SQLite database under `workdir`."""

    def __init__(self, workdir: Path, port: Optional[int] = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.user = ROOT_USER
        self.password = ROOT_PASSWORD
        self.token: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None
        self.log_path = self.workdir / "rt.log"
        self.site_config = self.workdir / "RT_SiteConfig.pm"
        self.site_config_dir = self.workdir / "RT_SiteConfig.d"
        self.database = self.workdir / "rt.sqlite"
        self.var_dir = self.workdir / "var"
        self.startup_seconds: Optional[float] = None
        self.timings: dict = {}  # seconds per start-up step, for slow-start diagnosis

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/REST/2.0/"

    # --- lifecycle -----------------------------------------------------------

    def start(self, timeout: float = 120, keep_database: bool = False) -> "RTServer":
        """`keep_database=True` restarts a stopped server with its tickets (an outage)."""
        if not rt_installed():
            raise RTStartError(f"Request Tracker 5 is not installed ({RT_SERVER} missing)")
        started = time.monotonic()
        self._write_config()
        if not (keep_database and self.database.exists()):
            self._init_database(timeout)
        self.timings["database"] = time.monotonic() - started
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(RT_SERVER),
                    "--host", "127.0.0.1",
                    "--port", str(self.port),
                    # Starlet's default is 10 preforked workers; two are plenty here.
                    "--max-workers", "2",
                ],
                cwd=self.workdir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() ends the workers too
            )
        try:
            self._wait_until_ready(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        self.timings["server"] = self.startup_seconds - self.timings["database"]
        return self

    def stop(self, grace: float = 15) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=grace)
        # Workers share the group; make sure none outlives the master.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- talking to RT as staff ----------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A REST 2.0 call as root, for tests that act as the privacy team."""
        kwargs.setdefault("timeout", 30)
        return requests.request(
            method, self.api_url + path.lstrip("/"), auth=(self.user, self.password), **kwargs
        )

    # --- internals -----------------------------------------------------------

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update(
            RT_SITE_CONFIG=str(self.site_config),
            RT_SITE_CONFIG_DIR=str(self.site_config_dir),
            LANG="C.UTF-8",
            LC_ALL="C.UTF-8",
        )
        return env

    def _write_config(self) -> None:
        for directory in (self.site_config_dir, self.var_dir, self.workdir / "mason", self.workdir / "sessions"):
            directory.mkdir(parents=True, exist_ok=True)
        self.site_config.write_text(
            SITE_CONFIG.format(
                port=self.port,
                database=_perl_string(self.database),
                var=_perl_string(self.var_dir),
                mason=_perl_string(self.workdir / "mason"),
                sessions=_perl_string(self.workdir / "sessions"),
            )
        )

    def _init_database(self, timeout: float) -> None:
        """A fresh database with root's token; later servers in the process copy the first."""
        global _TEMPLATE
        if _TEMPLATE is not None:
            content, self.token = _TEMPLATE
            self.database.write_bytes(content)
            return
        self._run([str(_rt_setup_database()), "--action", "init", "--skip-create"], "rt-setup-database", timeout)
        script = self.workdir / "make-token.pl"
        script.write_text(MAKE_TOKEN.format(lib=_perl_string(RT_LIB)))
        self.token = self._run(["perl", str(script)], "token", timeout).strip().splitlines()[-1]
        _TEMPLATE = (self.database.read_bytes(), self.token)

    def _run(self, command: list, what: str, timeout: float) -> str:
        try:
            done = subprocess.run(
                command,
                cwd=self.workdir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise RTStartError(f"{what} did not finish within {timeout}s") from exc
        with open(self.log_path, "a") as log:
            log.write(f"$ {' '.join(command)}\n{done.stderr}")
        if done.returncode != 0:
            raise RTStartError(f"{what} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done.stdout

    def _wait_until_ready(self, deadline: float) -> None:
        probe = self.api_url + "queues/all"
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RTStartError(
                    f"rt-server exited with {self.process.returncode} before answering:\n{self.log_tail()}"
                )
            try:
                response = requests.get(probe, auth=(self.user, self.password), timeout=5)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise RTStartError(f"rt-server did not answer on {probe} in time ({last}):\n{self.log_tail()}")


def require_rt() -> None:
    """A missing RT fails its tests (see tests/support/components.py)."""
    from tests.support import components

    components.require("rt", rt_installed(), f"{RT_SERVER} missing; scripts/install-rt.sh installs it")


@pytest.fixture(scope="session")
def rt_server(tmp_path_factory):
    """A running RT with a fresh database, shared by the whole test session."""
    require_rt()
    server = RTServer(tmp_path_factory.mktemp("rt"))
    try:
        server.start()
    except RTStartError as exc:
        pytest.fail(f"could not start Request Tracker: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
