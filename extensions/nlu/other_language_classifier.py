"""Every message's language, for the slots that pick the reply language: entities
`language` (what the message is written in) and `language_choice` (a language it
asks for); imago_core.language decides what counts. A message that asks for a
language and nothing else ("please answer in English", "請用中文") is `out_of_scope`
whatever its n-grams resemble: action_out_of_scope confirms the switch. (A message in
a language not answered is left to the classifier: it gets the English answer and a
line saying which languages are answered.)"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from extensions.nlu.fixed_intent import FixedIntentClassifier
from imago_core.language import asks_only_for_language, detect_language, explicit_choice


def language_entities(text: Optional[str]) -> List[Dict[str, Any]]:
    found = [("language", detect_language(text)), ("language_choice", explicit_choice(text))]
    return [{"entity": name, "value": value, "start": 0, "end": len(text or ""), "confidence": 1.0,
             "extractor": "OtherLanguageClassifier"} for name, value in found if value]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OtherLanguageClassifier(FixedIntentClassifier):
    intent = "out_of_scope"

    def matches(self, text: Optional[str]) -> bool:
        return asks_only_for_language(text)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in super().process(messages):
            entities = [*(message.get(ENTITIES) or []), *language_entities(message.get(TEXT))]
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
