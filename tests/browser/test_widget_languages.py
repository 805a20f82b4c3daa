"""The widget in the page's language (data-lang or <html lang>), lang on every
message bubble (WCAG 3.1.2), and axe-core with the panel open: no violations, in
English and in Chinese. Headless Chromium against the fake Rasa server."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from fake_rasa import CHINESE_REPLY

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"  # devDependency in web/package.json


def with_lang(chat, lang: str):
    chat.context.add_init_script(f"window.ImagoChatConfig.lang = {json.dumps(lang)};")
    return chat.goto()


def with_html_lang(chat, lang: str):
    # Set while the page parses, before the deferred widget script runs.
    chat.context.add_init_script(
        "document.addEventListener('readystatechange', function () {"
        f" if (document.readyState === 'interactive') document.documentElement.lang = {json.dumps(lang)}; }});")
    return chat.goto()


def axe_violations(page):
    assert AXE.is_file(), f"{AXE} missing: scripts/build-web.sh installs it (npm ci)"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in result["violations"]]


def test_data_lang_translates_the_widget_s_own_words(chat_factory):
    chat = with_lang(chat_factory(), "zh-Hant")
    root = chat.page.locator("#imago-chat")
    expect(root).to_have_attribute("lang", "zh-Hant")
    expect(chat.launcher).to_have_attribute("aria-label", "開始對話： IMAGO Privacy Assistant")
    chat.open_chat()
    expect(chat.input).to_have_attribute("placeholder", "請輸入你的問題…")
    expect(chat.page.locator(".imago-chat__close")).to_have_attribute("aria-label", "關閉對話")
    expect(chat.page.locator(".imago-chat__reset")).to_have_attribute("aria-label", "開始新對話")
    expect(chat.page.locator(".imago-chat__send")).to_have_attribute("aria-label", "傳送")
    expect(chat.page.locator("label[for=imago-chat-input]")).to_have_text("你的訊息")
    expect(chat.page.locator("#imago-chat-retention")).to_contain_text("保留你的訊息 30 天")
    expect(chat.page.locator("#imago-chat-retention a")).to_contain_text("私隱政策")


def test_html_lang_picks_simplified_and_an_unknown_language_falls_back_to_english(chat_factory):
    chat = with_html_lang(chat_factory(), "zh-CN")
    chat.open_chat()
    expect(chat.input).to_have_attribute("placeholder", "请输入您的问题…")
    expect(chat.page.locator("#imago-chat")).to_have_attribute("lang", "zh-Hans")
    other = with_html_lang(chat_factory(), "es")
    expect(other.page.locator("#imago-chat")).to_have_attribute("lang", "en")
    other.open_chat()
    expect(other.input).to_have_attribute("placeholder", "Type your question…")


def test_connection_errors_are_in_the_widget_s_language(chat_factory, fake_rasa):
    chat = with_lang(chat_factory(), "zh-HK")
    chat.open_chat()
    fake_rasa.stop()
    expect(chat.notices.last).to_have_text("連線中斷，正在重新連線…")
    fake_rasa.start()
    expect(chat.notices.last).to_have_text("已重新連線", timeout=20_000)


def test_every_bubble_carries_its_language_and_quoted_english_is_marked(chat, fake_rasa):
    chat.open_chat()
    expect(chat.bot_bubbles.first).to_have_attribute("lang", "en")  # the page's English greeting
    chat.send("你哋會唔會賣我嘅資料？")
    expect(chat.user_bubbles.last).to_have_attribute("lang", "zh-Hant")
    chat.expect_bot_text("出處")
    answer = chat.bot_bubbles.filter(has_text="我們不會").last
    expect(answer).to_have_attribute("lang", "zh-Hant")
    quote = answer.locator('span[lang="en"]')
    expect(quote).to_have_text('"We will never, ever provide or sell personal data"')
    assert CHINESE_REPLY.split("\n\n")[0].startswith(answer.inner_text().split("\n")[0][:10])
    chat.send("hello")
    expect(chat.user_bubbles.last).to_have_attribute("lang", "en")
    langs = chat.page.eval_on_selector_all(".imago-chat__bubble", "els => els.map(e => e.getAttribute('lang'))")
    assert all(langs), langs


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_axe_finds_no_violations_with_the_panel_open(chat_factory, fake_rasa, lang):
    chat = with_lang(chat_factory(), lang)
    chat.open_chat()
    chat.send("你哋會唔會賣我嘅資料？" if lang != "en" else "options")
    chat.expect_bot_text("出處" if lang != "en" else "What would you like to know?")
    assert axe_violations(chat.page) == []
