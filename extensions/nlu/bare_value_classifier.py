"""A message that is nothing but an email address or a one-time code is an answer.

In the request flow the visitor is asked for an address and then a code, and the
reply is the bare value. The classifier reads meaning into such a value's words:
"cancel.anna@example.org" or "stop-spam@example.org" looked like "cancel" or a
marketing opt-out, and the form stopped instead of sending a code. A bare value
names no intent, so this component (after the classifier, before the
FallbackClassifier) makes it `inform` with full confidence; anything with another
word in it ("cancel, my address is ...") is left to the classifier.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

INFORM = "inform"
# One address, or a 6-digit code (as typed: "482913", "482 913", "482-913"),
# optionally wrapped in spaces, quotes, angle brackets or a final full stop.
BARE_VALUE = re.compile(
    r"""\s*["'<(]?\s*(?:[^\s@"'<>()]{1,64}@[^\s@"'<>()]{1,255}\.[A-Za-z]{2,24}|\d{3}[\s-]?\d{3})\s*[>)"']?\s*\.?\s*""")


def is_bare_value(text: str) -> bool:
    return len(text or "") <= 400 and BARE_VALUE.fullmatch(text or "") is not None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class BareValueClassifier(GraphComponent, IntentClassifier):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "BareValueClassifier":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if not is_bare_value(message.get(TEXT)):
                continue
            others = [{**r, "confidence": 0.0} for r in message.get(INTENT_RANKING_KEY) or []
                      if r.get("name") != INFORM]
            message.set(INTENT, {"name": INFORM, "confidence": 1.0}, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [{"name": INFORM, "confidence": 1.0}, *others], add_to_output=True)
        return messages
