"""The chat widget (web/widget) on the demo page, in headless Chromium, against
the fake Rasa socket.io server (tests/browser/fake_rasa.py)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from fake_rasa import ERASURE_REPLY, GREETING, OPTIONS_TEXT, RETENTION_REPLY

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"
GREETING_ON_PAGE = "Hi! Ask me about your privacy."


def test_open_send_and_see_reply(chat, fake_rasa):
    expect(chat.panel).to_be_hidden()
    chat.open_chat()
    expect(chat.panel).to_have_attribute("role", "dialog")
    expect(chat.panel).to_have_attribute("aria-label", "IMAGO Privacy Assistant")
    expect(chat.bot_bubbles.first).to_have_text(GREETING_ON_PAGE)

    chat.send("hello")
    expect(chat.user_bubbles.last).to_have_text("hello")
    chat.expect_bot_text(GREETING)
    expect(chat.input).to_have_value("")

    session_id = chat.session_id()
    request = fake_rasa.wait_for_event("session_request")
    assert request["data"] == {"session_id": None}  # first visit: Rasa picks the id
    uttered = fake_rasa.wait_for_event("user_uttered")
    data = dict(uttered["data"])
    # Each message carries a client message id: a re-sent one gets its stored reply (issue 21).
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", data.pop("message_id"))
    assert data == {"message": "hello", "session_id": session_id}
    # Screen readers hear the reply through the polite live region.
    expect(chat.page.locator("#imago-chat-panel [aria-live=polite]")).to_contain_text(GREETING)
    assert chat.console_errors == []


def test_rasa_splits_paragraphs_into_separate_bubbles(chat):
    chat.open_chat()
    chat.send("split")
    chat.expect_bot_text("Second part.")
    expect(chat.bot_bubbles).to_have_text([GREETING_ON_PAGE, "First part.", "Second part."])


def test_typing_indicator_while_waiting(chat):
    typing = chat.page.locator(".imago-chat__typing")
    chat.open_chat()
    expect(typing).to_be_hidden()
    chat.send("slow")  # the fake answers after 1.5 s
    expect(typing).to_be_visible()
    expect(typing).to_contain_text("typing")
    chat.expect_bot_text("You said: slow")
    expect(typing).to_be_hidden()


def test_markdown_links_bold_and_lists(chat, web_url):
    chat.open_chat()
    chat.send("link")
    chat.expect_bot_text("We never sell personal data.")
    bubble = chat.bot_bubbles.last

    policy = bubble.get_by_role("link", name=re.compile("^privacy policy"))
    expect(policy).to_have_attribute("href", f"{web_url}/policy")
    expect(policy).to_have_attribute("target", "_blank")
    expect(policy).to_have_attribute("rel", re.compile(r"\bnoopener\b"))

    mail = bubble.get_by_role("link", name="our data protection officer")
    expect(mail).to_have_attribute("href", "mailto:privacy@imago.example")

    expect(bubble.locator("strong")).to_have_text("Good to know:")
    expect(bubble.locator("ul > li")).to_have_text(
        ["We never sell personal data.", "Chat transcripts are kept for 30 days."]
    )
    # javascript: links are not made clickable; their text stays, the URL goes.
    expect(bubble).to_contain_text("Unsafe links stay plain text: click me.")
    expect(bubble).not_to_contain_text("javascript")
    assert bubble.locator("a[href^='javascript']").count() == 0
    assert bubble.locator("a").count() == 2
    hrefs = bubble.locator("a").evaluate_all("links => links.map(a => a.protocol)")
    assert set(hrefs) <= {"http:", "https:", "mailto:"}


def test_only_safe_links_become_links(chat, web_url):
    chat.open_chat()
    chat.send("tricky links")
    chat.expect_bot_text("Bare:")
    bubble = chat.bot_bubbles.last
    links = bubble.locator("a").evaluate_all("links => links.map(a => [a.textContent, a.href])")
    # The text of a link includes a screen-reader hint after its visible words.
    assert [(text.split(" (opens")[0], href) for text, href in links] == [
        ("parens", "https://imago.example/a_(b)"),
        ("anchor", f"{web_url}/policy#sharing"),
        ("https://imago.example/privacy", "https://imago.example/privacy"),
        ("dpo@imago.example", "mailto:dpo@imago.example"),
    ]
    for unsafe in ("protocol-relative", "data", "spaced", "mixed case", "vbscript"):
        expect(bubble).to_contain_text(unsafe)
    expect(bubble).not_to_contain_text("evil.example")


def test_quick_replies_send_their_payload(chat, fake_rasa):
    chat.open_chat()
    chat.send("options")
    chat.expect_bot_text(OPTIONS_TEXT)
    group = chat.page.get_by_role("group", name="Suggested replies")
    expect(group.get_by_role("button")).to_have_text(["Data retention", "Delete my data"])

    group.get_by_role("button", name="Data retention").click()
    expect(chat.user_bubbles.last).to_have_text("Data retention")  # the title, not the payload
    chat.expect_bot_text(RETENTION_REPLY)
    fake_rasa.wait_for_event("user_uttered", lambda e: e["data"]["message"] == "/ask_retention")
    expect(group).to_have_count(0)  # answered quick replies go away


def test_quick_replies_work_from_the_keyboard(chat, fake_rasa):
    chat.open_chat()
    chat.send("options")
    chat.expect_bot_text(OPTIONS_TEXT)
    button = chat.page.get_by_role("button", name="Delete my data")
    button.focus()
    chat.page.keyboard.press("Enter")
    chat.expect_bot_text(ERASURE_REPLY)
    fake_rasa.wait_for_event("user_uttered", lambda e: e["data"]["message"] == "/request_erasure")


def test_hostile_message_is_shown_as_text(chat, fake_rasa):
    chat.open_chat()
    chat.send(HOSTILE)
    expect(chat.user_bubbles.last).to_have_text(HOSTILE)
    chat.expect_bot_text("You said:")
    expect(chat.bot_bubbles.last).to_have_text(f"You said: {HOSTILE}")

    widget = chat.page.locator("#imago-chat")
    assert widget.locator("img").count() == 0
    assert chat.page.locator("img").count() == 0
    assert chat.dialogs == []
    # Stored as text too: a reload must not turn it into markup.
    chat.page.reload()
    chat.page.wait_for_function("window.ImagoChat")
    expect(chat.bot_bubbles.last).to_have_text(f"You said: {HOSTILE}")
    assert chat.page.locator("img").count() == 0
    assert chat.dialogs == []


def test_reload_keeps_transcript_and_session(chat, fake_rasa):
    chat.open_chat()
    chat.send("hello")
    chat.expect_bot_text(GREETING)
    session_id = chat.session_id()
    assert session_id

    chat.page.reload()
    chat.page.wait_for_function("window.ImagoChat")
    expect(chat.panel).to_be_visible()  # it was open before the reload
    expect(chat.user_bubbles).to_have_text(["hello"])
    expect(chat.bot_bubbles).to_have_text([GREETING_ON_PAGE, GREETING])
    assert chat.session_id() == session_id

    # The new connection asks for the same Rasa conversation ...
    fake_rasa.wait_for_event("session_request", lambda e: e["data"]["session_id"] == session_id)
    chat.send("after reload")
    chat.expect_bot_text("You said: after reload")
    # ... and the message goes to it.
    uttered = fake_rasa.wait_for_event(
        "user_uttered", lambda e: e["data"]["message"] == "after reload"
    )
    assert uttered["data"]["session_id"] == session_id


def test_reconnects_after_the_server_drops(chat, fake_rasa):
    chat.open_chat()
    chat.send("hello")
    chat.expect_bot_text(GREETING)
    session_id = chat.session_id()

    fake_rasa.stop()
    expect(chat.notices.filter(has_text="Connection lost — reconnecting…")).to_be_visible()
    fake_rasa.start()
    expect(chat.notices.filter(has_text="Reconnected")).to_be_visible(timeout=15_000)

    fake_rasa.wait_for_event("session_request", lambda e: e["data"]["session_id"] == session_id)
    chat.send("still there?")
    chat.expect_bot_text("You said: still there?")
    assert chat.session_id() == session_id


def test_message_typed_while_offline_is_sent_after_reconnect(chat, fake_rasa):
    chat.open_chat()
    fake_rasa.stop()
    expect(chat.notices.filter(has_text="Connection lost")).to_be_visible()
    chat.send("queued")
    fake_rasa.start()
    chat.expect_bot_text("You said: queued")


def test_unreachable_server_is_announced(chat_factory, fake_rasa):
    fake_rasa.stop()
    chat = chat_factory(server_url=fake_rasa.url).goto()
    chat.launcher.click()
    expect(chat.notices.filter(has_text="can't be reached")).to_be_visible()
    fake_rasa.start()
    expect(chat.notices.filter(has_text="Reconnected")).to_be_visible(timeout=15_000)
    chat.send("hello")
    chat.expect_bot_text(GREETING)


def test_keyboard_only(chat, fake_rasa):
    page = chat.page
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "imago-chat-launcher":
            break
    else:
        pytest.fail("Tab never reached the chat launcher")
    expect(chat.launcher).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    expect(chat.panel).to_be_visible()
    expect(chat.input).to_be_focused()
    expect(chat.launcher).to_have_attribute("aria-expanded", "true")

    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    chat.expect_bot_text(GREETING)
    expect(chat.input).to_be_focused()

    # Tab reaches the send button; Shift+Tab goes back to the input.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(chat.input).to_be_focused()

    page.keyboard.press("Escape")
    expect(chat.panel).to_be_hidden()
    expect(chat.launcher).to_be_focused()

    page.keyboard.press("Space")  # buttons work with Space too
    expect(chat.panel).to_be_visible()
    expect(chat.input).to_be_focused()
    chat.launcher.focus()
    page.keyboard.press("Escape")  # Escape also works with focus on the launcher
    expect(chat.panel).to_be_hidden()
    expect(chat.launcher).to_be_focused()
    page.keyboard.press("Enter")
    expect(chat.panel).to_be_visible()
    expect(chat.input).to_be_focused()
    page.get_by_role("button", name="Close chat").focus()
    page.keyboard.press("Enter")
    expect(chat.panel).to_be_hidden()
    expect(chat.launcher).to_be_focused()


def test_accessible_names_and_focus_styles(chat):
    chat.open_chat()
    page = chat.page
    expect(page.get_by_role("dialog", name="IMAGO Privacy Assistant")).to_be_visible()
    expect(page.get_by_label("Your message")).to_be_visible()
    for name in ("Send", "Close chat", "Start a new conversation"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    expect(page.get_by_role("list", name="Conversation")).to_be_visible()

    page.keyboard.press("Tab")  # input -> send button, keyboard focus
    outline = page.get_by_role("button", name="Send").evaluate(
        "b => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth"
    )
    assert outline.startswith("solid") and not outline.endswith(" 0px"), outline


def test_text_contrast_meets_wcag_aa(chat):
    chat.open_chat()
    chat.send("options")
    chat.expect_bot_text(OPTIONS_TEXT)
    ratios = chat.page.evaluate(
        """() => {
        const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
        const lum = c => { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
                           return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
        const bg = el => { for (let n = el; n; n = n.parentElement) { const c = getComputedStyle(n).backgroundColor;
                           if (c && !c.endsWith(', 0)') && c !== 'transparent') return c; } return 'rgb(255,255,255)'; };
        const ratio = el => { const a = lum(rgb(getComputedStyle(el).color)), b = lum(rgb(bg(el)));
                              return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
        const sel = ['.imago-chat__title', '.imago-chat__message--bot .imago-chat__bubble',
                     '.imago-chat__message--user .imago-chat__bubble', '.imago-chat__reply', '.imago-chat__launcher'];
        return Object.fromEntries(sel.map(s => [s, ratio(document.querySelector(s))]));
    }"""
    )
    for selector, ratio in ratios.items():
        assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f}"


def test_phone_width_uses_the_full_screen(chat_factory):
    chat = chat_factory(viewport={"width": 390, "height": 844}).goto()
    chat.open_chat()
    box = chat.panel.bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 844}
    expect(chat.launcher).to_be_hidden()
    expect(chat.panel).to_have_attribute("aria-modal", "true")
    chat.send("hello")
    chat.expect_bot_text(GREETING)
    chat.page.keyboard.press("Escape")
    expect(chat.panel).to_be_hidden()
    expect(chat.launcher).to_be_visible()
    expect(chat.launcher).to_be_focused()


def test_new_conversation_forgets_the_old_one(chat, fake_rasa):
    chat.open_chat()
    chat.send("hello")
    chat.expect_bot_text(GREETING)
    old_session = chat.session_id()

    chat.page.get_by_role("button", name="Start a new conversation").click()
    expect(chat.user_bubbles).to_have_count(0)
    expect(chat.bot_bubbles).to_have_text([GREETING_ON_PAGE])
    chat.page.wait_for_function(f"![null, {old_session!r}].includes(window.ImagoChat.getSessionId())")
    stored = chat.page.evaluate("JSON.stringify(localStorage)")
    assert old_session not in stored and "hello" not in stored


def test_public_api_and_page_button(chat):
    chat.page.evaluate("window.ImagoChat.open()")
    expect(chat.panel).to_be_visible()
    chat.page.evaluate("window.ImagoChat.close()")
    expect(chat.panel).to_be_hidden()
    chat.page.get_by_role("button", name="Ask about your privacy").click()
    expect(chat.panel).to_be_visible()
    expect(chat.input).to_be_focused()


def test_nothing_is_loaded_from_other_hosts(chat, web_url, rasa_url):
    chat.open_chat()
    chat.send("link")
    chat.expect_bot_text("We never sell personal data.")
    allowed = {urlsplit(web_url).netloc, urlsplit(rasa_url).netloc}
    hosts = {urlsplit(url).netloc for url in chat.requests if not url.startswith("data:")}
    assert hosts <= allowed, hosts
    assert any(url.endswith("/vendor/socket.io.min.js") for url in chat.requests)
    assert any(url.endswith("/widget/imago-chat.css") for url in chat.requests)
    assert chat.console_errors == []


def test_policy_link_in_footer(chat, web_url):
    footer_link = chat.page.locator("footer").get_by_role("link", name="Privacy policy")
    expect(footer_link).to_have_attribute("href", "/policy")
    response = chat.page.request.get(f"{web_url}/policy")
    assert response.ok
