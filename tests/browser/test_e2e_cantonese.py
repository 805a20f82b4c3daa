"""Issue 22's done-when, in headless Chromium against the REAL assistant (trained
model, action server, SMTP server, web server): a Cantonese visitor on a page in
Traditional Chinese asks about the policy, files a deletion, receives the code mail
in Chinese (with the English below), gets a reference and asks for its status, all
in Chinese, in the widget.

Until the Chinese NLU lands (another engineer's branch), the intents whose
classification needs it are driven by the payloads the widget's own buttons send
(`/policy_data_sale`, `/request_deletion`, `/request_status`); everything that does
not need the classifier is typed as the visitor types it: "請用中文", the address,
the code, and the confirmation by its Chinese button."""
from __future__ import annotations

import json
import re
import sqlite3
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_e2e_real_stack import REFERENCE, REPLY_TIMEOUT, STAFF_TOKEN, bot_reply
from tests.support.net import wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server, web_url):
    env = dict(smtp_server.env(), STAFF_TOKEN=STAFF_TOKEN, POLICY_URL=f"{web_url}/policy")
    running = Stack(tmp_path_factory.mktemp("browser-e2e-zh"), env_overrides=env).start()
    yield running
    running.stop()


@pytest.fixture
def rasa_url(stack) -> str:
    return stack.url


def test_a_cantonese_visitor_from_question_to_status(chat_factory, smtp, stack, web_url):
    chat = chat_factory()
    chat.context.add_init_script(f"window.ImagoChatConfig.lang = {json.dumps('zh-HK')};")
    chat.goto()
    chat.open_chat()
    expect(chat.input).to_have_attribute("placeholder", "請輸入你的問題…")

    chat.send("請用中文")
    expect(bot_reply(chat, "繁體中文回答")).to_have_attribute("lang", "zh-Hant")

    # The policy: the answer in Chinese, the English quote marked, the section linked.
    chat.send("/policy_data_sale")
    answer = bot_reply(chat, "我們不會把你的個人資料出售給外間機構")
    expect(answer.locator('span[lang="en"]').first).to_contain_text("We will never, ever provide or sell")
    source = chat.bot_bubbles.locator(f"a[href='{web_url}/policy#data-sale']").last
    expect(source).to_contain_text("出售個人資料")

    # A deletion request, verified by the code mailed in Chinese with the English below.
    address = f"chan.{uuid.uuid4().hex[:8]}@example.hk"
    chat.send("/request_deletion")
    bot_reply(chat, "我可以替你提交：")
    bot_reply(chat, "你的電郵地址是甚麼")
    chat.send(address)
    bot_reply(chat, "6 位數字驗證碼")
    wait_until(lambda: smtp.last_code_to(address) is not None, timeout=15, interval=0.1, what="the code mail")
    mail = smtp.last_code_to(address).message
    assert mail["Subject"] == "你的 IMAGO 私隱驗證碼 / Your IMAGO privacy verification code"
    chinese, english = mail.get_content().split("----- English -----")
    code = re.search(r"你的驗證碼是：(\d{6})", chinese).group(1)
    assert f"Your verification code is: {code}" in english
    chat.send(code)
    bot_reply(chat, "你的電郵地址已經驗證")
    summary = bot_reply(chat, "我會把以下內容交給私隱團隊")
    expect(summary.locator("li")).to_have_text(["要求：刪除你的個人資料", f"電郵：{address}"])
    replies = chat.page.get_by_role("group", name="建議回覆")
    expect(replies.get_by_role("button")).to_have_text(["好，提交", "不，取消"])
    replies.get_by_role("button", name="好，提交").click()

    bot_reply(chat, "完成。你的刪除要求已經提交。")  # Rasa's socket.io channel: a bubble per paragraph
    done = bot_reply(chat, REFERENCE)
    expect(done).to_contain_text(re.compile(r"我們必須在此日期前回覆：\d{4}年\d{1,2}月\d{1,2}日"))
    reference = REFERENCE.search(done.inner_text()).group(0)
    with sqlite3.connect(stack.workdir / "imago.db") as db:
        rows = db.execute("select request_type, language from privacy_requests where reference = ?",
                          (reference,)).fetchall()
    assert rows == [("deletion", "zh-Hant")]

    # The status, in Chinese.
    chat.send("/request_status")
    status = bot_reply(chat, re.compile(reference + r" 刪除：已收到"), timeout=REPLY_TIMEOUT)
    expect(status).to_contain_text("前回覆")
    expect(status).to_have_attribute("lang", "zh-Hant")
    assert chat.console_errors == []
