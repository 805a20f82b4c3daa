"""The widget keeps the visitor's transcript the way the policy promises: a line on
what it keeps before the first message, a localStorage transcript that expires
with the session, and never a code in storage (headless Chromium, fake Rasa)."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from fake_rasa import GREETING

pytestmark = pytest.mark.browser

DAY_MS = 24 * 60 * 60 * 1000


def stored(chat) -> dict:
    raw = chat.page.evaluate(
        "(() => { const k = Object.keys(localStorage).find(k => k.startsWith('imago-chat:')); "
        "return k ? localStorage.getItem(k) : null; })()")
    return json.loads(raw) if raw else {}


def age_transcript(chat, days: float) -> None:
    """Pretends the last message was `days` ago, as if the visitor came back later."""
    chat.page.evaluate(
        """(ms) => { const k = Object.keys(localStorage).find(k => k.startsWith('imago-chat:'));
                     const s = JSON.parse(localStorage.getItem(k));
                     s.lastMessageAt = Date.now() - ms; localStorage.setItem(k, JSON.stringify(s)); }""",
        days * DAY_MS)


def test_line_on_what_the_chat_keeps_before_the_first_message(chat, web_url):
    chat.open_chat()
    line = chat.page.locator("#imago-chat-retention")
    expect(line).to_be_visible()
    expect(line).to_contain_text("keeps your messages for 30 days after your last one")
    expect(line).to_contain_text("codes are never kept")
    # Read with the dialog by screen readers, and a real link to the policy's retention section.
    expect(chat.panel).to_have_attribute("aria-describedby", "imago-chat-retention")
    link = line.get_by_role("link", name=re.compile("^Privacy policy"))
    expect(link).to_have_attribute("href", f"{web_url}/policy#retention")
    assert chat.page.request.get(f"{web_url}/policy").ok

    chat.send("hello")
    chat.expect_bot_text(GREETING)
    expect(line).to_be_hidden()
    expect(chat.panel).not_to_have_attribute("aria-describedby", "imago-chat-retention")


def test_retention_period_is_configurable(chat_factory):
    chat = chat_factory()
    chat.context.add_init_script("window.ImagoChatConfig.retentionDays = 7;")
    chat.goto().open_chat()
    expect(chat.page.locator("#imago-chat-retention")).to_contain_text("for 7 days after your last one")
    chat.send("hello")
    chat.expect_bot_text(GREETING)
    age_transcript(chat, 8)  # past 7 days, well within the server's 30
    chat.page.reload()
    chat.page.wait_for_function("window.ImagoChat")
    chat.page.evaluate("window.ImagoChat.open()")
    expect(chat.user_bubbles).to_have_count(0)


def test_transcript_expires_with_the_session(chat, fake_rasa):
    chat.open_chat()
    chat.send("hello")
    chat.expect_bot_text(GREETING)
    old_session = chat.session_id()
    assert stored(chat)["lastMessageAt"] > 0

    age_transcript(chat, 29)  # still within 30 days: kept
    chat.page.reload()
    chat.page.evaluate("window.ImagoChat.open()")
    expect(chat.user_bubbles).to_have_text(["hello"])
    assert chat.session_id() == old_session

    age_transcript(chat, 31)  # past 30 days: the transcript and the session are gone
    chat.page.reload()
    chat.page.wait_for_function("window.ImagoChat")
    assert "hello" not in json.dumps(stored(chat)) and old_session not in json.dumps(stored(chat))
    chat.page.evaluate("window.ImagoChat.open()")
    expect(chat.user_bubbles).to_have_count(0)
    chat.wait_connected()
    assert chat.session_id() != old_session
    expect(chat.page.locator("#imago-chat-retention")).to_be_visible()


def test_a_code_never_reaches_storage(chat):
    chat.open_chat()
    chat.send("482913")
    chat.expect_bot_text("You said:")
    chat.send("my code is 731 946, thanks")
    chat.expect_bot_text("thanks")
    raw = json.dumps(stored(chat))
    for code in ("482913", "731 946", "731946"):
        assert code not in raw
    assert "my code is ******, thanks" in raw  # the rest of the message stays
    # Other numbers are not codes: a reference or a year stays readable.
    chat.send("PRV-7K3M9Q from 2026")
    chat.expect_bot_text("2026")
    assert "PRV-7K3M9Q from 2026" in json.dumps(stored(chat))

    chat.page.reload()
    chat.page.evaluate("window.ImagoChat.open()")
    expect(chat.user_bubbles.first).to_have_text("******")
