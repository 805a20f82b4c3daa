"""The chat widget and the staff console in headless Chromium against the REAL
assistant: Rasa server with the trained model, rasa-sdk action server, the test
SMTP server (STARTTLS + AUTH) and the project's web server. Nothing is faked.

The module overrides `rasa_url` (tests/browser/conftest.py), so the `chat`
fixture points the demo page's widget at the real Rasa server."""
from __future__ import annotations

import os
import re
import sqlite3
import uuid
from pathlib import Path
from typing import List

import pytest
from playwright.sync_api import expect

from tests.support.net import wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

STAFF_TOKEN = "staff-token-for-browser-e2e-0123456789"
REPLY_TIMEOUT = 20_000  # ms: a bot turn (NLU + action server + SMTP) takes a few seconds
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_BOLD = "<b onmouseover=alert(1)>bold?</b>"
RETENTION_QUESTION = "how long do you keep my data?"
REFERENCE = re.compile(r"PRV-[2-9A-Z]{6}")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server, web_url):
    env = dict(smtp_server.env(), STAFF_TOKEN=STAFF_TOKEN, POLICY_URL=f"{web_url}/policy")
    running = Stack(tmp_path_factory.mktemp("browser-e2e"), env_overrides=env).start()
    yield running
    running.stop()


@pytest.fixture
def rasa_url(stack) -> str:
    """The widget talks to the real Rasa server (overrides the fake one)."""
    return stack.url


# ---------------------------------------------------------------- helpers


def bot_reply(chat, text, timeout: int = REPLY_TIMEOUT):
    """Waits for the newest bot bubble containing `text` (str or regex) and returns it."""
    bubble = chat.bot_bubbles.filter(has_text=text).last
    expect(bubble).to_be_visible(timeout=timeout)
    return bubble


def send_and_wait(chat, text: str) -> None:
    """Sends `text` and waits until the assistant answered (a new bot bubble appeared)."""
    before = chat.bot_bubbles.count()
    chat.send(text)
    expect(chat.user_bubbles.last).to_have_text(text)
    expect(chat.bot_bubbles.nth(before)).to_be_visible(timeout=REPLY_TIMEOUT)


def ask_retention(chat):
    """Asks the retention question; returns the link to #retention in the new answer."""
    links = chat.bot_bubbles.locator("a[href$='/policy#retention']")
    before = links.count()
    chat.send(RETENTION_QUESTION)
    expect(links).to_have_count(before + 1, timeout=REPLY_TIMEOUT)
    return links.last


def code_from_mail(smtp, address: str) -> str:
    wait_until(lambda: smtp.last_code_to(address) is not None, timeout=15, interval=0.1, what=f"a mail to {address}")
    body = smtp.last_code_to(address).message.get_content()
    return re.search(r"\b(\d{6})\b", body).group(1)


def file_deletion_request(chat, smtp) -> tuple:
    """Visitor flow: ask for deletion, verify the address with the mailed code,
    confirm with the quick reply. Returns (address, reference)."""
    address = f"jane.{uuid.uuid4().hex[:8]}@example.org"
    chat.send("please delete my data")
    bot_reply(chat, "email address")
    chat.send(address)
    bot_reply(chat, "sent a 6-digit code")
    code = code_from_mail(smtp, address)
    chat.send(code)
    # Rasa's socket.io channel sends each paragraph as its own message (bubble).
    bot_reply(chat, "Shall I file it?")
    summary = bot_reply(chat, "Here's what I'll send to the privacy team")
    expect(summary.locator("li")).to_have_text(["Request: Deletion of your personal data", f"Email: {address}"])
    replies = chat.page.get_by_role("group", name="Suggested replies")
    expect(replies.get_by_role("button")).to_have_text(["Yes, file it", "No, cancel"])
    replies.get_by_role("button", name="Yes, file it").click()
    expect(chat.user_bubbles.last).to_have_text("Yes, file it")
    done = bot_reply(chat, REFERENCE)
    reference = REFERENCE.search(done.inner_text()).group(0)
    bot_reply(chat, "Keep the reference")  # the last message of the turn
    return address, reference


def privacy_requests(stack: Stack, session_id: str) -> List[sqlite3.Row]:
    conversation_id = "web:" + session_id.split(".", 1)[0]  # the public part of the signed session id
    with sqlite3.connect(stack.workdir / "imago.db") as db:
        db.row_factory = sqlite3.Row
        return db.execute(
            "select reference, request_type, email, channel, status from privacy_requests "
            "where conversation_id = ?", (conversation_id,)).fetchall()


class StaffConsole:
    """The staff console page, in its own browser context."""

    def __init__(self, browser, rasa_url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.dialogs: List[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.goto(f"{rasa_url}/webhooks/staff/")

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def use_token(self, token: str) -> None:
        self.page.get_by_label("Staff token").fill(token)
        self.page.get_by_role("button", name="Use token").click()

    @property
    def error(self):
        return self.page.locator("#error")

    @property
    def transcript(self):
        return self.page.locator("#transcript")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def staff_console(browser, rasa_url):
    consoles: List[StaffConsole] = []

    def make() -> StaffConsole:
        console = StaffConsole(browser, rasa_url)
        consoles.append(console)
        return console

    yield make
    for console in consoles:
        console.close()


# ---------------------------------------------------------------- tests


def test_policy_answer_links_to_the_right_section(chat, web_url):
    chat.open_chat()
    link = ask_retention(chat)
    expect(link).to_have_attribute("href", f"{web_url}/policy#retention")
    expect(link).to_have_attribute("target", "_blank")

    with chat.page.expect_popup() as popup_info:
        link.click()
    policy = popup_info.value
    policy.wait_for_load_state()
    assert policy.url == f"{web_url}/policy#retention"
    section = policy.locator("#retention")
    expect(section).to_have_count(1)
    # The anchor is an empty span: the browser scrolled its paragraph into view.
    expect(policy.locator("p:has(> #retention)")).to_be_in_viewport()
    expect(policy.locator("p:has(> #retention)")).to_contain_text("retain your personal data")
    # The chat page stays where it was.
    assert chat.page.url == f"{web_url}/"
    assert chat.console_errors == []
    policy.close()


def test_verified_deletion_request_is_filed_once(chat, smtp, stack):
    chat.open_chat()
    address, reference = file_deletion_request(chat, smtp)
    assert smtp.tls_used[-1] and smtp.authenticated[-1]

    session_id = chat.session_id()
    rows = privacy_requests(stack, session_id)
    assert [tuple(r) for r in rows] == [(reference, "deletion", address, "socketio", "received")]
    assert chat.console_errors == []


def test_reload_keeps_the_conversation_and_the_session(chat, smtp, stack):
    chat.open_chat()
    address, reference = file_deletion_request(chat, smtp)
    session_id = chat.session_id()
    bubbles_before = chat.bot_bubbles.all_text_contents()
    mails_before = len(smtp.messages)

    chat.page.reload()
    chat.page.wait_for_function("window.ImagoChat")
    expect(chat.panel).to_be_visible()  # it was open before the reload
    expect(chat.bot_bubbles.filter(has_text=reference)).to_have_count(1)
    expect(chat.bot_bubbles).to_have_text(bubbles_before)
    assert chat.session_id() == session_id
    chat.wait_connected()

    # Same Rasa conversation: the address verified before the reload still counts,
    # so the status lookup needs no new code and finds the request.
    chat.send("any update on my request?")
    status = bot_reply(chat, reference)
    expect(status).to_contain_text(re.compile("deletion: received", re.I))
    assert len(smtp.messages) == mails_before
    assert chat.session_id() == session_id
    # And ordinary questions are still answered.
    ask_retention(chat)
    assert len(privacy_requests(stack, session_id)) == 1


def test_hostile_markup_from_the_visitor_stays_text(chat):
    chat.open_chat()
    send_and_wait(chat, HOSTILE)
    expect(chat.user_bubbles.last).to_have_text(HOSTILE)
    widget = chat.page.locator("#imago-chat")
    expect(widget.locator("img")).to_have_count(0)
    assert chat.page.locator("img").count() == 0
    assert chat.dialogs == []

    chat.page.reload()  # stored as text too
    chat.page.wait_for_function("window.ImagoChat")
    expect(chat.user_bubbles.last).to_have_text(HOSTILE)
    expect(widget.locator("img")).to_have_count(0)
    assert chat.dialogs == []


def test_hand_off_to_staff_and_back(chat, staff_console, rasa_url):
    # The visitor writes hostile markup, then asks for a person.
    chat.open_chat()
    ask_retention(chat)  # an answer with a Source link, for the console to show as a link
    send_and_wait(chat, HOSTILE_BOLD)
    expect(chat.user_bubbles.last).to_have_text(HOSTILE_BOLD)
    chat.send("I want to talk to a person")
    told = bot_reply(chat, "ESC-")
    expect(told).to_contain_text("privacy team")
    escalation = re.search(r"ESC-[2-9A-Z]{6}", told.inner_text()).group(0)

    # Staff console: refused without the right token.
    console = staff_console()
    expect(console.page.get_by_label("Staff token")).to_be_visible()
    expect(console.page.locator("#queue button")).to_have_count(0)
    console.use_token("not-the-token")
    expect(console.error).to_contain_text("refused")
    expect(console.page.locator("#queue button")).to_have_count(0)

    # The right token: the escalation is listed; open it and read the transcript.
    console.use_token(STAFF_TOKEN)
    expect(console.error).to_have_text("")
    entry = console.page.locator(f"#queue button[data-reference='{escalation}']")
    expect(entry).to_be_visible()
    entry.click()
    expect(console.page.locator("#detail")).to_contain_text(f"{escalation} · channel socketio")
    transcript = console.transcript
    expect(transcript.locator(".line.visitor").filter(has_text="I want to talk to a person")).to_have_count(1)
    hostile_line = transcript.locator(".line.visitor").filter(has_text=HOSTILE_BOLD)
    expect(hostile_line).to_be_visible()
    expect(transcript.locator("b")).to_have_count(0)
    # The assistant's replies as the visitor saw them: a link, not "[...](http://...)".
    source = transcript.locator(".line.assistant a[href$='/policy#retention']")
    expect(source.first).to_be_visible()
    expect(transcript.locator(".line.assistant").filter(has_text="](http")).to_have_count(0)
    hostile_line.hover()
    assert console.dialogs == [] and chat.dialogs == []

    # Staff reply; the widget gets it pushed over socket.io.
    # No digits: transcripts mask every run of 3+ digits (one-time codes), staff lines too.
    staff_text = "Hello, this is Maria from the privacy team. How can I help?"
    console.page.get_by_label("Reply to the visitor").fill(staff_text)
    console.page.get_by_role("button", name="Send reply").click()
    expect(transcript.locator(".line.staff").filter(has_text=staff_text)).to_be_visible()
    # Labelled as the privacy team's (a shared token has no name to add).
    expect(transcript.locator(".line.staff").filter(has_text=staff_text)).to_contain_text("IMAGO privacy team:")
    expect(console.page.get_by_label("Reply to the visitor")).to_have_value("")
    expect(chat.bot_bubbles.filter(has_text=staff_text)).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(chat.bot_bubbles.filter(has_text=staff_text).locator("strong")).to_have_text("IMAGO privacy team:")

    # Hand back: the visitor is told, and the assistant answers again.
    console.page.get_by_role("button", name="Hand back to the assistant").click()
    expect(console.page.locator("#detail")).to_contain_text(f"{escalation} was handed back to the assistant.")
    expect(entry).to_have_count(0)
    bot_reply(chat, "back with the IMAGO privacy assistant")
    ask_retention(chat)
    assert console.dialogs == [] and chat.dialogs == []


@pytest.mark.parametrize(
    "name, viewport",
    [("widget-desktop.png", {"width": 1280, "height": 800}), ("widget-phone.png", {"width": 390, "height": 844})],
)
def test_screenshot(chat_factory, web_url, tmp_path, name, viewport):
    """Screenshots of a real conversation (the answers come from the trained model
    and the action server). Written to docs/screenshots when
    IMAGO_WRITE_SCREENSHOTS=1, otherwise into a temporary folder, so a plain test
    run changes no file."""
    chat = chat_factory(viewport=viewport).goto()
    chat.open_chat()
    sources = chat.bot_bubbles.locator(f"a[href^='{web_url}/policy#']")

    chat.send("What data do you collect?")
    bot_reply(chat, "examples of personal data we collect")
    expect(sources).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(sources.last).to_have_attribute("href", f"{web_url}/policy#data-collected")
    expect(sources.last).to_contain_text("What personal data we collect")

    # A follow-up whose answer is short enough that the question, the answer and
    # its source link all fit in the picture (the retention answer fills the panel).
    chat.send("And do you sell it?")
    expect(chat.user_bubbles.last).to_have_text("And do you sell it?")
    bot_reply(chat, "We do not sell your personal data")
    expect(sources).to_have_count(2, timeout=REPLY_TIMEOUT)
    expect(sources.last).to_have_attribute("href", f"{web_url}/policy#data-sale")
    expect(sources.last).to_contain_text("Selling personal data")
    expect(chat.bot_bubbles.last).to_contain_text("Source:")  # the turn's last message
    expect(chat.page.locator(".imago-chat__typing")).to_be_hidden()
    expect(chat.notices).to_have_count(0)
    assert chat.console_errors == [] and chat.dialogs == []

    chat.page.evaluate("document.activeElement.blur()")
    chat.page.mouse.move(1, 1)  # no hover effects in the picture
    target = SCREENSHOTS if os.environ.get("IMAGO_WRITE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    chat.page.screenshot(path=str(target / name), animations="disabled")
    assert (target / name).stat().st_size > 10_000
