"""Fixtures for the chat widget's browser tests.

Real headless Chromium from Debian (/usr/bin/chromium, see
scripts/install-browser.sh) driven by Playwright; `playwright install` is never
used. The demo page is served by web/server.py on a free port; the widget talks
to whatever `rasa_url` gives: by default a fake Rasa socket.io server
(tests/browser/fake_rasa.py) started per test. End-to-end tests can override
`rasa_url` to point the same page at a real Rasa server.

The page's script tag says data-server-url="http://localhost:5005"; ChatPage
sets window.ImagoChatConfig = {serverUrl: rasa_url} before the page's scripts
run (the widget's documented override), so the page under test is the real
web/site/index.html served by the real web server.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT, Path(__file__).resolve().parent):
    # `import web.server` and `import fake_rasa`, however pytest is started
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VENDOR_BUNDLE = ROOT / "web" / "vendor" / "socket.io.min.js"
FAKE_RASA = Path(__file__).with_name("fake_rasa.py")

BOT_BUBBLES = "#imago-chat-log .imago-chat__message--bot .imago-chat__bubble"
USER_BUBBLES = "#imago-chat-log .imago-chat__message--user .imago-chat__bubble"
NOTICES = "#imago-chat-log .imago-chat__notice"



def wait_for_http(url: str, timeout: float = 15.0, proc: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last_error}")


# ---------------------------------------------------------------- servers


class FakeRasaServer:
    """tests/browser/fake_rasa.py in a subprocess on a fixed loopback port, so
    that a test can stop it (as if Rasa crashed) and start it again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE_RASA), "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_http(f"{self.url}/_health", proc=self.proc)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        """Kills the process: open websockets drop as they would in a crash."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.kill()
        try:
            proc.wait(timeout=10)
        finally:
            if proc.stderr:
                proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def events(self, kind: Optional[str] = None) -> List[Dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/_events", timeout=5) as response:
            events = json.load(response)
        return [e for e in events if kind is None or e["event"] == kind]

    def wait_for_event(self, kind: str, predicate=lambda e: True, timeout: float = 10.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(kind):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event matched within {timeout}s: {self.events()}")


@pytest.fixture(scope="session")
def widget_assets() -> Path:
    """The vendored socket.io client; built with scripts/build-web.sh if missing."""
    if not VENDOR_BUNDLE.is_file():
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-web.sh")],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0 or not VENDOR_BUNDLE.is_file():
            pytest.fail(f"scripts/build-web.sh failed:\n{result.stdout}\n{result.stderr}")
    return VENDOR_BUNDLE


@pytest.fixture(scope="session")
def web_url(widget_assets: Path) -> Iterator[str]:
    """web/server.py (the project's static server) on a free loopback port."""
    from web.server import make_server

    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, name="web-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        wait_for_http(f"{url}/healthz")
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasaServer]:
    server = FakeRasaServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rasa_url(fake_rasa: FakeRasaServer) -> str:
    """The socket.io server the widget connects to. Override for end-to-end runs."""
    return fake_rasa.url


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="module")  # module: the sync Playwright loop must end before async tests run
def browser():
    from tests.support import components

    components.require("browser", os.path.exists(CHROMIUM), f"{CHROMIUM} missing; scripts/install-browser.sh installs it")
    try:
        from playwright import sync_api
    except ImportError:  # a declared test dependency: its absence is a broken install, not a skip
        pytest.fail("the playwright package is not installed (pip install -e '.[test]')", pytrace=False)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ChatPage:
    """The demo page with the widget, and the moves a visitor makes in it."""

    def __init__(self, browser, web_url: str, rasa_url: str, viewport: Dict[str, int]) -> None:
        self.web_url = web_url
        self.rasa_url = rasa_url
        self.context = browser.new_context(viewport=viewport)
        self.dialogs: List[str] = []
        self.requests: List[str] = []
        self.console_errors: List[str] = []
        # Points the widget at rasa_url through its JS config, which wins over
        # the page's data-server-url. (Rewriting the HTML with route.fulfill
        # would make Chromium treat the page as public and block its websocket
        # to loopback under Local Network Access rules.)
        self.context.add_init_script(f"window.ImagoChatConfig = {{serverUrl: {json.dumps(rasa_url)}}};")
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.on("dialog", self._on_dialog)
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    # -- locators
    @property
    def launcher(self):
        return self.page.locator("#imago-chat-launcher")

    @property
    def panel(self):
        return self.page.locator("#imago-chat-panel")

    @property
    def input(self):
        return self.page.locator("#imago-chat-input")

    @property
    def bot_bubbles(self):
        return self.page.locator(BOT_BUBBLES)

    @property
    def user_bubbles(self):
        return self.page.locator(USER_BUBBLES)

    @property
    def notices(self):
        return self.page.locator(NOTICES)

    # -- moves
    def goto(self) -> "ChatPage":
        self.page.goto(self.web_url + "/")
        self.page.wait_for_function("window.ImagoChat && document.getElementById('imago-chat')")
        return self

    def open_chat(self) -> "ChatPage":
        from playwright.sync_api import expect

        self.launcher.click()
        expect(self.panel).to_be_visible()
        self.wait_connected()
        return self

    def wait_connected(self) -> None:
        """Waits until Rasa confirmed the session (the widget stored its id)."""
        self.page.wait_for_function("window.ImagoChat.getSessionId() !== null")

    def session_id(self) -> Optional[str]:
        return self.page.evaluate("window.ImagoChat.getSessionId()")

    def send(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def expect_bot_text(self, text: str) -> None:
        from playwright.sync_api import expect

        expect(self.bot_bubbles.filter(has_text=text).last).to_be_visible()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def chat_factory(browser, web_url: str, rasa_url: str):
    """Makes ChatPages (own browser context, so own localStorage) for the test."""
    pages: List[ChatPage] = []

    def make(viewport: Optional[Dict[str, int]] = None, server_url: Optional[str] = None) -> ChatPage:
        chat = ChatPage(browser, web_url, server_url or rasa_url, viewport or {"width": 1280, "height": 800})
        pages.append(chat)
        return chat

    yield make
    for chat in pages:
        chat.close()


@pytest.fixture
def chat(chat_factory) -> ChatPage:
    """The demo page at desktop size, loaded, chat still closed."""
    return chat_factory().goto()
