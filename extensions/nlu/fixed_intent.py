"""Base of the classifiers that read a message by a fixed rule, after the trained
classifier: when the rule matches, the message gets the rule's intent with full
confidence and every other intent is kept in the ranking at zero."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message


class FixedIntentClassifier(GraphComponent, IntentClassifier):
    intent = ""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FixedIntentClassifier":
        return cls()

    def matches(self, text: Optional[str]) -> bool:
        raise NotImplementedError

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if not self.matches(message.get(TEXT)):
                continue
            others = [{**r, "confidence": 0.0} for r in message.get(INTENT_RANKING_KEY) or []
                      if r.get("name") != self.intent]
            message.set(INTENT, {"name": self.intent, "confidence": 1.0}, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [{"name": self.intent, "confidence": 1.0}, *others], add_to_output=True)
        return messages
