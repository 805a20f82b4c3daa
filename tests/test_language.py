"""imago_core/language (detection by script rules, the reply language) and the
classifier that turns it into the language entities the slots are set from."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from extensions.nlu.other_language_classifier import OtherLanguageClassifier
from imago_core.language import (
    asks_only_for_language,
    detect_language,
    explicit_choice,
    in_other_language,
    needs_language_notice,
    reply_language,
)


@pytest.mark.parametrize("text, language", [
    ("你哋會唔會賣我嘅資料？", "zh-Hant"),
    ("我想刪除我嘅資料", "zh-Hant"),
    ("你哋會唔會 keep 住我個 email？", "zh-Hant"),  # code-mixed Cantonese counts as Traditional
    ("我哋點樣處理個人資料？", "zh-Hant"),
    ("係", "zh-Hant"), ("冇問題", "zh-Hant"),  # Cantonese particles and Traditional-only characters
    ("你们会把我的数据卖给别人吗？", "zh-Hans"),
    ("请删除我的数据", "zh-Hans"),
    ("好", "zh"), ("是的", "zh"),  # the same in both scripts: the conversation's script decides
    ("我想 delete my data", "zh"),
    ("what data do you collect", "en"), ("do u sell my data??", "en"), ("hola", "en"),
    ("My name is 陳大文, please correct it", "en"),  # a Chinese name in an English sentence
    ("can i have a copy of my data por favor", "en"),
    ("Hallo, ich möchte dass Sie alle meine Daten löschen", "other"),
    ("quiero borrar mis datos por favor", "other"), ("Как удалить мои данные?", "other"),
    ("私のデータを削除してください", "other"),  # Japanese: kana, though it writes Han characters too
    ("anna@example.org", None), ("123456", None), ("😀😀", None), ("", None),
])
def test_a_message_language_is_read_from_its_script(text, language):
    assert detect_language(text) == language


def test_only_languages_not_answered_count_as_other():
    assert in_other_language("Je voudrais supprimer mes données")
    assert not in_other_language("请删除我的数据")
    assert not in_other_language("I want to die of boredom")


@pytest.mark.parametrize("text, choice, only", [
    ("please answer in English", "en", True),
    ("English please", "en", True),
    ("請用英文答我", "en", True),
    ("請用中文", "zh-Hant", True),
    ("请用中文回答", "zh-Hans", True),
    ("用简体", "zh-Hans", True),
    ("可唔可以用繁體", "zh-Hant", True),
    ("answer in chinese please", "zh", True),
    ("請用中文，我想刪除我嘅資料", "zh-Hant", False),  # a switch with a request: the request is kept
    ("do you share my data with English companies?", None, False),
    ("what data do you collect", None, False),
])
def test_explicit_requests_for_a_language(text, choice, only):
    assert explicit_choice(text) == choice
    assert asks_only_for_language(text) is only


def test_the_reply_language_follows_each_message_unless_one_was_asked_for():
    assert reply_language("zh-Hant") == "zh-Hant"
    assert reply_language("en", None, ["zh-Hant"]) == "en"  # switched mid-conversation
    assert reply_language("zh-Hant", "en") == "en"  # "請用英文答我": English, though typed in Chinese
    assert reply_language("zh", None, ["en", "zh-Hans", "en"]) == "zh-Hans"  # "好" keeps the script
    assert reply_language("zh") == "zh-Hant"  # nothing to go by: Hong Kong's
    assert reply_language("zh-Hans", "zh") == "zh-Hans"
    assert reply_language("other") == "en" and reply_language(None) == "en"


def test_a_language_not_answered_gets_the_notice_unless_one_was_chosen():
    assert needs_language_notice("other")
    assert not needs_language_notice("other", "zh-Hant")
    assert not needs_language_notice("en")


def test_the_classifier_sets_language_entities_and_makes_a_bare_switch_out_of_scope():
    switch = Message(data={"text": "請用英文答我", "intent": {"name": "policy_cookies", "confidence": 0.4},
                           "intent_ranking": [{"name": "policy_cookies", "confidence": 0.4}]})
    german = Message(data={"text": "Bitte löschen Sie meine Daten", "intent": {"name": "request_deletion",
                                                                                   "confidence": 0.5}})
    code = Message(data={"text": "123456", "intent": {"name": "inform", "confidence": 1.0}})
    OtherLanguageClassifier().process([switch, german, code])
    assert switch.get("intent") == {"name": "out_of_scope", "confidence": 1.0}
    assert switch.get("intent_ranking")[1] == {"name": "policy_cookies", "confidence": 0.0}
    assert {e["entity"]: e["value"] for e in switch.get("entities")} == {"language": "zh-Hant",
                                                                          "language_choice": "en"}
    # Another language is no longer turned away: the classifier's reading stands.
    assert german.get("intent")["name"] == "request_deletion"
    assert [e["value"] for e in german.get("entities")] == ["other"]
    assert code.get("entities") == []  # nothing to read: the slot keeps the conversation's language
