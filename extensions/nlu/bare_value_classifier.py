"""A message that is nothing but an email address or a one-time code is an answer.

In the request flow the visitor is asked for an address and then a code, and the
reply is the bare value. The classifier reads meaning into such a value's words:
"cancel.anna@example.org" or "stop-spam@example.org" looked like "cancel" or a
marketing opt-out, and the form stopped instead of sending a code. A bare value
names no intent, so this component (after the classifier, before the
FallbackClassifier) makes it `inform` with full confidence; anything with another
word in it ("cancel, my address is ...") is left to the classifier. What counts as an
address or a code is the request flow's own reading (imago_core.verification).
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from imago_core.verification import is_only_email_or_code as is_bare_value

INFORM = "inform"


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
