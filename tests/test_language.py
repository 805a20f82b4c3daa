"""imago_core/language.py and the classifier built on it: messages in another
language are recognised, English (also mixed or misspelt) is not."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from extensions.nlu.other_language_classifier import OtherLanguageClassifier
from imago_core.language import in_other_language


@pytest.mark.parametrize("text", [
    "Hallo, ich möchte dass Sie alle meine Daten löschen", "请删除我的数据", "Как удалить мои данные?",
    "Je voudrais supprimer mes données", "quiero borrar mis datos por favor", "vorrei cancellare i miei dati",
    "Ik wil mijn gegevens verwijderen", "我哋點樣處理個人資料？",
])
def test_other_languages_are_recognised(text):
    assert in_other_language(text)


@pytest.mark.parametrize("text", [
    "what data do you collect", "do u sell my data??", "我想 delete my data", "who do you share it with, mein freund",
    "can i have a copy of my data por favor", "hola", "😀😀", "", "12345", "<b>hi</b>", "I want to die of boredom",
])
def test_english_mixed_or_not_text_is_not(text):
    assert not in_other_language(text)


def test_the_classifier_makes_another_language_out_of_scope_and_leaves_english():
    german = Message(data={"text": "Bitte löschen Sie meine Daten", "intent": {"name": "policy_cookies", "confidence": 0.4},
                           "intent_ranking": [{"name": "policy_cookies", "confidence": 0.4}]})
    english = Message(data={"text": "please delete my data", "intent": {"name": "request_deletion", "confidence": 0.9}})
    OtherLanguageClassifier().process([german, english])
    assert german.get("intent") == {"name": "out_of_scope", "confidence": 1.0}
    assert german.get("intent_ranking")[1] == {"name": "policy_cookies", "confidence": 0.0}
    assert english.get("intent")["name"] == "request_deletion"
