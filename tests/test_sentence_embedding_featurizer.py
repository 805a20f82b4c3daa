"""The Rasa featurizer: token vectors plus the sentence vector as the last row, as
the dense featurizers of rasa-nlu-examples do, on real Rasa messages."""
from __future__ import annotations

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.nlu.minilm import load_minilm
from extensions.nlu.sentence_embedding_featurizer import SentenceEmbeddingFeaturizer


@pytest.fixture
def pipeline(tmp_path):
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(node_name="featurizer", graph_schema=None)
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    featurizer = SentenceEmbeddingFeaturizer.create(
        {**SentenceEmbeddingFeaturizer.get_default_config(), "alias": "minilm"},
        storage, Resource("featurizer"), context)

    def run(texts, training=False):
        messages = [Message(data={TEXT: t}) for t in texts]
        if training:
            data = TrainingData(training_examples=messages)
            tokenizer.process_training_data(data)
            featurizer.process_training_data(data)
        else:
            tokenizer.process(messages)
            featurizer.process(messages)
        return messages

    return run


def test_token_vectors_then_the_sentence_vector(pipeline):
    [message] = pipeline(["do they sell my data?"])
    sequence, sentence = message.get_dense_features(TEXT)
    assert sequence.features.shape == (5, 384)  # do they sell my data
    assert sentence.features.shape == (1, 384)
    assert np.abs(sequence.features).sum(axis=1).min() > 0  # every token got a vector
    # The sentence row is the sentence-transformers embedding of the tokens.
    expected = load_minilm().embed(["do they sell my data"])[0]
    assert np.allclose(sentence.features[0], expected, atol=1e-4)


def test_training_and_inference_give_the_same_features(pipeline):
    texts = ["who can see my info", "how long do you keep it", "hi"]
    trained = pipeline(texts, training=True)
    parsed = pipeline(texts)
    for a, b in zip(trained, parsed):
        assert np.allclose(a.get_dense_features(TEXT)[1].features, b.get_dense_features(TEXT)[1].features,
                           atol=1e-5)


def test_a_very_long_message_is_truncated_not_an_error(pipeline):
    [message] = pipeline(["privacy " * 400])
    sequence, sentence = message.get_dense_features(TEXT)
    assert sequence.features.shape == (400, 384)
    assert np.isfinite(sentence.features).all()


@pytest.mark.parametrize("text", ["", "😀", "你好"])
def test_empty_emoji_or_chinese_still_get_features(pipeline, text):
    # DIET needs the same features on every message, so odd input gets vectors too.
    [message] = pipeline([text])
    sequence, sentence = message.get_dense_features(TEXT)
    assert sentence.features.shape == (1, 384) and np.isfinite(sentence.features).all()
