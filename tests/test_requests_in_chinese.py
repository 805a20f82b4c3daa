"""The request flow in Chinese, action by action: the questions, the code mail
(the visitor's language with the English below), the summary, a "係" that confirms,
the reference with its due date written 2027年1月2日, the status, and the language
carried into the record and its ticket. The language slots are set as the NLU sets
them from each message (extensions/nlu/other_language_classifier.py)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.policy_actions import ActionAnswerPolicy, ActionOutOfScope
from actions.request_form.asking import ActionAskConfirmation
from actions.request_form.filing import ActionFileRequest
from actions.request_form.start import ActionStartTask
from actions.request_form.status import ActionShowStatus
from actions.request_form.validation import ValidateRequestForm
from imago_core.identity.codes import Verifier, set_verifier
from imago_core.requests.tickets import compose_ticket_body
from imago_core.storage.db import session_scope
from imago_core.storage.models import PrivacyRequest
from tests.support.trackers import buttons, make_tracker, texts
from tests.test_verification import RecordingMailer

ADDRESS = "chan.taiman@example.hk"
HANT = {"language": "zh-Hant"}


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def verifier(isolated_env, mailer):
    v = Verifier(b"unit-test-secret-0123456789", mailer)
    set_verifier(v)
    yield v
    set_verifier(None)


async def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


async def test_a_cantonese_deletion_request_from_start_to_status(verifier, mailer):
    conversation = "zh-1"
    dispatcher, events = await run(ActionStartTask(), make_tracker(conversation, "request_deletion",
                                                                   "我想刪除我嘅資料", slots=HANT))
    assert texts(dispatcher) == ["我可以替你提交：**刪除你的個人資料**。"]

    form, dispatcher = ValidateRequestForm(), CollectingDispatcher()
    result = await form.validate_email(ADDRESS, dispatcher, make_tracker(conversation, slots=HANT), {})
    assert result["email"] == ADDRESS and "驗證碼" in texts(dispatcher)[0]
    to, subject, body = mailer.sent[-1]
    assert subject == "你的 IMAGO 私隱驗證碼 / Your IMAGO privacy verification code"
    chinese, english = body.split("----- English -----")
    code = mailer.last_code()
    assert f"你的驗證碼是：{code}" in chinese and f"Your verification code is: {code}" in english

    result = await form.validate_otp_code(code, dispatcher, make_tracker(conversation, slots={**HANT, "email": ADDRESS}), {})
    assert result["otp_code"] == "******" and texts(dispatcher)[-1] == "多謝，你的電郵地址已經驗證。"

    slots = {**HANT, "task": "deletion", "tasks": ["deletion"]}
    dispatcher, _ = await run(ActionAskConfirmation(), make_tracker(conversation, slots=slots))
    summary = texts(dispatcher)[0]
    assert summary.startswith("我會把以下內容交給私隱團隊：") and "- 要求：刪除你的個人資料" in summary
    assert "[我們保留資料多久](" in summary and "/policy#retention)" in summary
    assert [b["title"] for b in buttons(dispatcher)] == ["好，提交", "不，取消"]

    for yes in ("係", "好", "是的", "冇問題"):
        confirmed = await form.validate_confirmation(yes, CollectingDispatcher(),
                                                     make_tracker(conversation, text=yes, slots=slots), {})
        assert confirmed == {"confirmation": "yes"}, yes
    refused = await form.validate_confirmation("唔好", CollectingDispatcher(),
                                               make_tracker(conversation, text="唔好", slots=slots), {})
    assert refused["confirmation"] is None

    dispatcher, _ = await run(ActionFileRequest(), make_tracker(conversation, "affirm", "係", slots=slots))
    filed = texts(dispatcher)[0]
    assert filed.startswith("完成。你的刪除要求已經提交。")
    with session_scope() as session:
        row = session.execute(select(PrivacyRequest)).scalar_one()
        reference, due, language = row.reference, row.due_at, row.language
        body = compose_ticket_body(row)
    assert language == "zh-Hant"
    assert f"**{reference}**" in filed and f"**{due.year}年{due.month}月{due.day}日**" in filed
    assert "Visitor's language (answer in it): 繁體中文 (zh-Hant)" in body

    dispatcher, _ = await run(ActionShowStatus(), make_tracker(conversation, "request_status", "我嘅要求點呀？",
                                                                 slots=HANT))
    status = texts(dispatcher)[0]
    assert status.splitlines()[0].endswith(" 的要求：")
    assert f"**{reference}** 刪除：已收到，須於 {due.year}年{due.month}月{due.day}日 前回覆" in status


async def test_simplified_chinese_gets_mainland_wording(verifier, mailer):
    dispatcher, _ = await run(ActionStartTask(), make_tracker("zh-2", "request_deletion", "请删除我的个人信息",
                                                              slots={"language": "zh-Hans"}))
    assert texts(dispatcher) == ["我可以为您提交：**删除您的个人信息**。"]


async def test_an_ambiguous_chinese_message_keeps_the_conversation_s_script(verifier, mailer):
    earlier = [{"event": "slot", "name": "language", "value": "zh-Hans"}]
    dispatcher, _ = await run(ActionStartTask(), make_tracker("zh-3", "request_deletion", "好", events=earlier,
                                                              slots={"language": "zh"}))
    assert texts(dispatcher) == ["我可以为您提交：**删除您的个人信息**。"]


async def test_a_policy_answer_in_chinese_keeps_the_quote_and_the_link():
    dispatcher, _ = await run(ActionAnswerPolicy(), make_tracker("zh-4", "policy_data_sale", "你哋會唔會賣我嘅資料？",
                                                                 slots=HANT))
    answer = texts(dispatcher)[0]
    assert answer.startswith("我們不會把你的個人資料出售給外間機構。")
    assert '政策原文："We will never, ever provide or sell personal data' in answer
    assert answer.startswith("我們") and "出處：[出售個人資料](" in answer and answer.endswith("/policy#data-sale)")


async def test_another_language_gets_english_and_the_languages_answered():
    dispatcher, _ = await run(ActionAnswerPolicy(), make_tracker("es-1", "policy_data_sale",
                                                                 "¿venden ustedes mis datos?", slots={"language": "other"}))
    answer = texts(dispatcher)[0]
    assert answer.startswith("We do not sell your personal data")
    assert answer.endswith("(I answer in English, 繁體中文 and 简体中文.)")


async def test_asking_for_english_is_confirmed_in_english():
    dispatcher, _ = await run(ActionOutOfScope(), make_tracker(
        "zh-5", "out_of_scope", "請用英文答我", slots={"language": "zh-Hant", "language_choice": "en"}))
    assert texts(dispatcher) == ["OK, I'll answer in English from now on."]


async def test_a_request_in_a_shared_rocketchat_room_moves_to_a_dm_in_the_visitor_s_language():
    tracker = make_tracker("rocketchat:room", "request_deletion", "我想刪除我嘅資料", slots=HANT, channel="rocketchat")
    tracker.latest_message["metadata"] = {"room_kind": "shared"}
    dispatcher, _ = await run(ActionStartTask(), tracker)
    move = dispatcher.messages[0]["custom"]["imago_move_private"]
    assert move["moved_text"].startswith("其他人可以看到這個聊天室")
    assert move["dm_text"].startswith("你在共用聊天室問到刪除你的資料。") and move["button_text"] == "繼續"


def test_the_export_mail_is_in_the_visitor_s_language_with_the_english_below(tracker_db):
    from imago_core.mail import Mailer
    from imago_core.requests.export import after_request_filed
    from imago_core.storage.models import RequestType

    class Mails(Mailer):
        def __init__(self):
            self.sent = []

        def send(self, to, subject, body, attachments=()):
            self.sent.append((subject, body, [name for name, _, _ in attachments]))

    mails = Mails()
    note = after_request_filed(RequestType.EXPORT, "PRV-ABCDEF", ADDRESS, False, mails, language="zh-Hans")
    assert note.startswith("我还通过邮件向您发送了一份机器可读的副本")
    (subject, body, names), = mails.sent
    assert subject == ("IMAGO 隐私助手保存的您的信息（PRV-ABCDEF） / "
                       "Your data held by the IMAGO privacy assistant (PRV-ABCDEF)")
    chinese, english = body.split("----- English -----")
    assert "您申请获取个人信息副本（申请编号 PRV-ABCDEF）" in chinese
    assert "You asked for a copy of your data (request PRV-ABCDEF)" in english
    assert names == ["imago-assistant-data-PRV-ABCDEF.json"]


def test_escalations_carry_the_visitor_s_language_to_the_ticket_and_the_console(isolated_env):
    from extensions.channels.staff import _summary
    from imago_core.handoff.escalations import create_escalation
    from imago_core.handoff.tickets import escalation_draft

    events = [{"event": "user", "text": "我想搵真人", "timestamp": 1.0}]
    row = create_escalation("zh-esc", "socketio", "asked", events, None, "zh-Hant")
    assert "Visitor's language (answer in it): 繁體中文 (zh-Hant)" in escalation_draft(row).body
    summary = _summary(row)
    assert summary["language"] == "zh-Hant" and summary["language_label"] == "繁體中文 (zh-Hant)"
    english = create_escalation("en-esc", "rest", "asked", events, None)
    assert _summary(english)["language_label"] == "English (en)"
