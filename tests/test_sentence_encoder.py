"""The sentence encoder (extensions/nlu/minilm.py) and its Rasa featurizer.

The reference numbers are the ones sentence-transformers publishes for
all-MiniLM-L6-v2 (its README: cosine similarities of three example sentences), so
this fails if the weights, the tokenizer or the forward pass drift from the model.
"""
from __future__ import annotations

import numpy as np
import pytest

from extensions.nlu.minilm import load_minilm
from extensions.nlu.wordpiece import basic_tokens


@pytest.fixture(scope="module")
def encoder():
    return load_minilm()


def test_matches_the_published_similarities(encoder):
    vectors = encoder.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    similarities = vectors @ vectors.T
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    assert np.allclose(similarities, expected, atol=2e-4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_other_topics(encoder):
    a, b, c = encoder.embed(["who can see my personal info", "is my data shared with anyone",
                             "how long do you keep my data"])
    assert a @ b > a @ c


def test_batching_and_padding_do_not_change_the_vectors(encoder):
    texts = ["hi", "do you sell my data to advertisers or keep it forever?"]
    together = encoder.embed(texts)
    alone = np.vstack([encoder.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_the_encoder_is_loaded_once_per_process():
    assert load_minilm() is load_minilm()


@pytest.mark.parametrize("text, tokens", [
    ("Héllo, WORLD!", ["hello", ",", "world", "!"]),
    ("e-mail 2fa", ["e", "-", "mail", "2fa"]),
    ("香港 app", ["香", "港", "app"]),  # Han characters one by one, as BERT does
    ("tab\tand\x00null", ["tab", "andnull"]),
])
def test_basic_tokenizer(text, tokens):
    assert basic_tokens(text) == tokens


def test_word_pieces(encoder):
    assert encoder.tokenizer.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    ids = encoder.tokenizer.encode("x " * 1000, max_length=16)
    assert len(ids) == 16 and ids[0] == encoder.tokenizer.cls_id and ids[-1] == encoder.tokenizer.sep_id


@pytest.mark.parametrize("text", ["", "😀😀😀", "你好，我的資料會被保存多久？", "a" * 2000, "word " * 400])
def test_odd_input_gets_a_vector(encoder, text):
    vector = encoder.embed([text])[0]
    assert vector.shape == (384,) and np.isfinite(vector).all()
