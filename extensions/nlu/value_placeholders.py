"""Email addresses and one-time codes reach the featurizers as placeholders.

What a message means must not depend on the characters of an address in it: with
the address's own tokens, "oops that is my old mail, use <address> please" read as
one intent for some random addresses and as another for others, because the
address's letters reached the character n-grams and the encoder's word pieces
("cancel.anna@…", "stop-spam@…"). This component runs right after the tokenizer
(any tokenizer: it works on the tokens' character spans) and replaces every token
that overlaps an address with one token `email`, and every token of a code ("123
456" is two tokens) with one token `code`, both in training and at prediction, so
the classifier learns and reads the placeholder, never the value.

The message's text is left as it was: the actions read the address and the code
from it (imago_core.identity.codes, whose patterns this component reuses, so the
NLU and the request flow agree on what an address or a code is).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Text, Tuple, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from imago_core.identity.codes import value_spans

# Words the encoder and the n-grams already know in this sense ("my email is …",
# "the code is …"), so a placeholder reads like what the visitor meant.
PLACEHOLDERS = {"email": "email", "code": "code"}


def with_placeholders(text: str, tokens: Sequence[Token]) -> List[Token]:
    """The tokens, with each address or code (however many tokens it spans) as one
    placeholder token covering the same characters."""
    spans: List[Tuple[int, int, str]] = value_spans(text or "")
    if not spans:
        return list(tokens)
    result: List[Token] = []
    used = set()
    for token in tokens:
        span = next((s for s in spans if token.start < s[1] and token.end > s[0]), None)
        if span is None:
            result.append(token)
            continue
        if span in used:  # the rest of a value already replaced ("123 456")
            continue
        used.add(span)
        word = PLACEHOLDERS[span[2]]
        result.append(Token(word, min(token.start, span[0]), max(token.end, span[1]), lemma=word))
    return result


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class ValuePlaceholders(GraphComponent):
    """Replaces address and code tokens by placeholders before any featurizer."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ValuePlaceholders":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        key = TOKENS_NAMES[TEXT]
        for message in messages:
            tokens: Optional[List[Token]] = message.get(key)
            if tokens:
                message.set(key, with_placeholders(message.get(TEXT) or "", tokens))
        return messages
